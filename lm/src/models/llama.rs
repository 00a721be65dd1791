//! Llama, Qwen2 and Gemma checkpoints (`model.layers.N.self_attn.q_proj` …). Biases are taken
//! when present: Qwen2 has them on q/k/v, Llama only with `attention_bias` / `mlp_bias`.

use super::transformer::{take_head, take_linear, Attention, Layer, Mlp, Parts};
use crate::config::{Arch, ModelConfig};
use crate::error::Result;
use crate::nn::layers::NormKind;
use crate::nn::Norm;
use crate::weights::Weights;

pub(super) fn take(cfg: &ModelConfig, w: &mut Weights) -> Result<Parts> {
    let h = cfg.hidden_size;
    let norm = |w: &mut Weights, prefix: &str| -> Result<Norm> {
        Ok(Norm {
            name: prefix.to_string(),
            kind: if cfg.arch == Arch::Gemma {
                NormKind::RmsPlusOne
            } else {
                NormKind::Rms
            },
            weight: w.take(&format!("{prefix}.weight"), &[h])?,
            bias: None,
            eps: cfg.norm_eps,
        })
    };
    let embed = w.take("model.embed_tokens.weight", &[cfg.vocab_size, h])?;
    let (q_out, kv_out) = (
        cfg.num_heads * cfg.head_dim,
        cfg.num_kv_heads * cfg.head_dim,
    );
    let mut layers = Vec::with_capacity(cfg.num_layers as usize);
    for i in 0..cfg.num_layers {
        let p = format!("model.layers.{i}");
        layers.push(Layer {
            norm1: norm(w, &format!("{p}.input_layernorm"))?,
            norm2: norm(w, &format!("{p}.post_attention_layernorm"))?,
            attn: Attention::Split {
                q: take_linear(w, &format!("{p}.self_attn.q_proj"), q_out, h)?,
                k: take_linear(w, &format!("{p}.self_attn.k_proj"), kv_out, h)?,
                v: take_linear(w, &format!("{p}.self_attn.v_proj"), kv_out, h)?,
                o: take_linear(w, &format!("{p}.self_attn.o_proj"), h, q_out)?,
            },
            mlp: Mlp::Gated {
                gate: take_linear(w, &format!("{p}.mlp.gate_proj"), cfg.intermediate_size, h)?,
                up: take_linear(w, &format!("{p}.mlp.up_proj"), cfg.intermediate_size, h)?,
                down: take_linear(w, &format!("{p}.mlp.down_proj"), h, cfg.intermediate_size)?,
            },
        });
    }
    Ok(Parts {
        embed,
        layers,
        final_norm: norm(w, "model.norm")?,
        lm_head: take_head(cfg, w, "lm_head.weight")?,
        embed_name: "model.embed_tokens.weight",
        head_name: "lm_head.weight",
    })
}
