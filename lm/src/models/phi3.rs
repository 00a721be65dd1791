//! Phi-3 checkpoints: Llama's layout with one packed `qkv_proj` (all queries, then keys, then
//! values) and one `gate_up_proj` (`[gate; up]`), under the names PEFT targets.

use super::llama::rms;
use super::transformer::{take_head, take_linear, Attention, Layer, Mlp, Parts};
use crate::config::ModelConfig;
use crate::error::Result;
use crate::weights::Weights;

pub(super) fn take(cfg: &ModelConfig, w: &mut Weights) -> Result<Parts> {
    let (h, d, inter) = (cfg.hidden_size, cfg.head_dim, cfg.intermediate_size);
    let (q_out, kv_out) = (cfg.num_heads * d, cfg.num_kv_heads * d);
    let embed = w.take("model.embed_tokens.weight", &[cfg.vocab_size, h])?;
    let mut layers = Vec::with_capacity(cfg.num_layers as usize);
    for i in 0..cfg.num_layers {
        let p = format!("model.layers.{i}");
        layers.push(Layer {
            norm1: rms(cfg, w, &format!("{p}.input_layernorm"), h)?,
            norm2: rms(cfg, w, &format!("{p}.post_attention_layernorm"), h)?,
            post_attn: None,
            post_mlp: None,
            q_norm: None,
            k_norm: None,
            sliding: cfg.sliding_layers[i as usize],
            attn: Attention::Packed {
                qkv: take_linear(w, &format!("{p}.self_attn.qkv_proj"), q_out + 2 * kv_out, h)?,
                o: take_linear(w, &format!("{p}.self_attn.o_proj"), h, q_out)?,
            },
            mlp: Mlp::GatedFused {
                gate_up: take_linear(w, &format!("{p}.mlp.gate_up_proj"), 2 * inter, h)?,
                down: take_linear(w, &format!("{p}.mlp.down_proj"), h, inter)?,
            },
        });
    }
    Ok(Parts {
        embed,
        layers,
        final_norm: rms(cfg, w, "model.norm", h)?,
        lm_head: take_head(cfg, w, "lm_head.weight")?,
        embed_name: "model.embed_tokens.weight",
        head_name: "lm_head.weight",
    })
}
