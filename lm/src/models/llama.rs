//! Llama-layout checkpoints (`model.layers.N.self_attn.q_proj` …): Llama, Mistral, Qwen2/3 and
//! Gemma 1/2/3. Biases are taken when present (Qwen2 on q/k/v, Llama with `attention_bias` /
//! `mlp_bias`); Qwen3 and Gemma 3 add per-head q/k norms, Gemma 2/3 four norms per layer.

use super::transformer::{take_head, take_linear, Attention, Layer, Mlp, Parts};
use crate::config::ModelConfig;
use crate::error::Result;
use crate::nn::layers::NormKind;
use crate::nn::Norm;
use crate::weights::Weights;

/// An RMSNorm over `dim` values under `prefix`, in the family's flavour.
pub(super) fn rms(cfg: &ModelConfig, w: &mut Weights, prefix: &str, dim: i64) -> Result<Norm> {
    Ok(Norm {
        name: prefix.to_string(),
        kind: if cfg.arch.is_gemma() {
            NormKind::RmsPlusOne
        } else {
            NormKind::Rms
        },
        weight: w.take(&format!("{prefix}.weight"), &[dim])?,
        bias: None,
        eps: cfg.norm_eps,
    })
}

pub(super) fn take(cfg: &ModelConfig, w: &mut Weights) -> Result<Parts> {
    let h = cfg.hidden_size;
    let embed = w.take("model.embed_tokens.weight", &[cfg.vocab_size, h])?;
    let mut layers = Vec::with_capacity(cfg.num_layers as usize);
    for i in 0..cfg.num_layers {
        layers.push(take_layer(cfg, w, i)?);
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

fn take_layer(cfg: &ModelConfig, w: &mut Weights, i: i64) -> Result<Layer> {
    let (h, d, inter) = (cfg.hidden_size, cfg.head_dim, cfg.intermediate_size);
    let (q_out, kv_out) = (cfg.num_heads * d, cfg.num_kv_heads * d);
    let p = format!("model.layers.{i}");
    let sandwich = cfg.arch.sandwich_norms();
    let qk = cfg.arch.qk_norm();
    let opt = |w: &mut Weights, on: bool, name: &str, dim: i64| -> Result<Option<Norm>> {
        on.then(|| rms(cfg, w, &format!("{p}.{name}"), dim))
            .transpose()
    };
    Ok(Layer {
        norm1: rms(cfg, w, &format!("{p}.input_layernorm"), h)?,
        norm2: if sandwich {
            rms(cfg, w, &format!("{p}.pre_feedforward_layernorm"), h)?
        } else {
            rms(cfg, w, &format!("{p}.post_attention_layernorm"), h)?
        },
        post_attn: opt(w, sandwich, "post_attention_layernorm", h)?,
        post_mlp: opt(w, sandwich, "post_feedforward_layernorm", h)?,
        q_norm: opt(w, qk, "self_attn.q_norm", d)?,
        k_norm: opt(w, qk, "self_attn.k_norm", d)?,
        sliding: cfg.sliding_layers[i as usize],
        attn: Attention::Split {
            q: take_linear(w, &format!("{p}.self_attn.q_proj"), q_out, h)?,
            k: take_linear(w, &format!("{p}.self_attn.k_proj"), kv_out, h)?,
            v: take_linear(w, &format!("{p}.self_attn.v_proj"), kv_out, h)?,
            o: take_linear(w, &format!("{p}.self_attn.o_proj"), h, q_out)?,
        },
        mlp: Mlp::Gated {
            gate: take_linear(w, &format!("{p}.mlp.gate_proj"), inter, h)?,
            up: take_linear(w, &format!("{p}.mlp.up_proj"), inter, h)?,
            down: take_linear(w, &format!("{p}.mlp.down_proj"), h, inter)?,
        },
    })
}
