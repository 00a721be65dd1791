//! Linear layers, norms and activations, with the numerics of their transformers counterparts.

use crate::config::Activation;
use tch::{Kind, Tensor};

/// `y = x Wᵀ + b`, weight `(out, in)` as in `nn.Linear`, plus an optional LoRA adapter.
#[derive(Debug)]
pub struct Linear {
    /// Checkpoint prefix, e.g. `model.layers.0.self_attn.q_proj`.
    pub name: String,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub lora: Option<Lora>,
}

/// LoRA (Hu et al. 2021) as PEFT computes it: `y += scale · B(A(dropout(x)))`.
#[derive(Debug)]
pub struct Lora {
    /// `(r, in)`
    pub a: Tensor,
    /// `(out, r)`
    pub b: Tensor,
    pub scale: f64,
    pub dropout: f64,
    pub training: bool,
}

impl Linear {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let y = x.linear(&self.weight, self.bias.as_ref());
        match &self.lora {
            None => y,
            Some(l) => {
                let h = if l.training && l.dropout > 0.0 {
                    x.dropout(l.dropout, true)
                } else {
                    x.shallow_clone()
                };
                y + h.linear(&l.a, None::<Tensor>).linear(&l.b, None::<Tensor>) * l.scale
            }
        }
    }
}

#[derive(Debug)]
pub enum Norm {
    /// Llama / Qwen2: computed in fp32, cast back, then scaled by `weight`.
    Rms { weight: Tensor, eps: f64 },
    /// Gemma: computed in fp32 and scaled by `1 + weight` before the cast back.
    RmsPlusOne { weight: Tensor, eps: f64 },
    /// GPT-NeoX: LayerNorm with bias.
    Layer {
        weight: Tensor,
        bias: Tensor,
        eps: f64,
    },
}

impl Norm {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Norm::Rms { weight, eps } => {
                let kind = x.kind();
                let h = x.to_kind(Kind::Float);
                let var = h.pow_tensor_scalar(2).mean_dim(-1, true, None::<Kind>);
                let h = h * (var + *eps).rsqrt();
                weight * h.to_kind(kind)
            }
            Norm::RmsPlusOne { weight, eps } => {
                let kind = x.kind();
                let h = x.to_kind(Kind::Float);
                let var = h.pow_tensor_scalar(2).mean_dim(-1, true, None::<Kind>);
                let h = h * (var + *eps).rsqrt();
                (h * (weight.to_kind(Kind::Float) + 1.0)).to_kind(kind)
            }
            Norm::Layer { weight, bias, eps } => {
                let d = *weight.size().last().expect("1-d norm weight");
                x.layer_norm([d], Some(weight), Some(bias), *eps, true)
            }
        }
    }

    pub fn weight(&self) -> &Tensor {
        match self {
            Norm::Rms { weight, .. }
            | Norm::RmsPlusOne { weight, .. }
            | Norm::Layer { weight, .. } => weight,
        }
    }
}

pub fn activate(act: Activation, x: &Tensor) -> Tensor {
    match act {
        Activation::Silu => x.silu(),
        Activation::Gelu => x.gelu("none"),
        Activation::GeluTanh => x.gelu("tanh"),
        Activation::Relu => x.relu(),
    }
}
