//! GPT-NeoX (Pythia) checkpoints: `gpt_neox.layers.N.attention.query_key_value`, LayerNorms with
//! bias, a plain GELU MLP, partial rotary and (by default) parallel residuals.

use super::transformer::{take_head, take_linear, Attention, Layer, Mlp, Parts};
use crate::config::ModelConfig;
use crate::error::Result;
use crate::nn::layers::NormKind;
use crate::nn::Norm;
use crate::weights::Weights;

pub(super) fn take(cfg: &ModelConfig, w: &mut Weights) -> Result<Parts> {
    let h = cfg.hidden_size;
    let norm = |w: &mut Weights, prefix: &str| -> Result<Norm> {
        Ok(Norm {
            name: prefix.to_string(),
            kind: NormKind::Layer,
            weight: w.take(&format!("{prefix}.weight"), &[h])?,
            bias: Some(w.take(&format!("{prefix}.bias"), &[h])?),
            eps: cfg.norm_eps,
        })
    };
    let embed = w.take("gpt_neox.embed_in.weight", &[cfg.vocab_size, h])?;
    let inner = cfg.num_heads * cfg.head_dim;
    let mut layers = Vec::with_capacity(cfg.num_layers as usize);
    for i in 0..cfg.num_layers {
        let p = format!("gpt_neox.layers.{i}");
        layers.push(Layer {
            norm1: norm(w, &format!("{p}.input_layernorm"))?,
            norm2: norm(w, &format!("{p}.post_attention_layernorm"))?,
            post_attn: None,
            post_mlp: None,
            q_norm: None,
            k_norm: None,
            sliding: false,
            attn: Attention::Fused {
                qkv: take_linear(w, &format!("{p}.attention.query_key_value"), 3 * inner, h)?,
                o: take_linear(w, &format!("{p}.attention.dense"), h, inner)?,
            },
            mlp: Mlp::Plain {
                up: take_linear(
                    w,
                    &format!("{p}.mlp.dense_h_to_4h"),
                    cfg.intermediate_size,
                    h,
                )?,
                down: take_linear(
                    w,
                    &format!("{p}.mlp.dense_4h_to_h"),
                    h,
                    cfg.intermediate_size,
                )?,
            },
        });
    }
    Ok(Parts {
        embed,
        layers,
        final_norm: norm(w, "gpt_neox.final_layer_norm")?,
        lm_head: take_head(cfg, w, "embed_out.weight")?,
        embed_name: "gpt_neox.embed_in.weight",
        head_name: "embed_out.weight",
    })
}
