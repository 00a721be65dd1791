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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// Llama / Qwen2: computed in fp32, cast back, then scaled by `weight`.
    Rms,
    /// Gemma: computed in fp32 and scaled by `1 + weight` before the cast back.
    RmsPlusOne,
    /// GPT-NeoX: LayerNorm with bias.
    Layer,
}

/// A normalisation layer: `scale(normalize(x))`, split so DP can see the normalised input of
/// the affine part (its per-example weight gradient is `Σ_t g_t ⊙ n_t`).
#[derive(Debug)]
pub struct Norm {
    /// Checkpoint prefix, e.g. `model.layers.0.input_layernorm`.
    pub name: String,
    pub kind: NormKind,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub eps: f64,
}

impl Norm {
    pub fn num_parameters(&self) -> i64 {
        (self.weight.numel() + self.bias.as_ref().map_or(0, |b| b.numel())) as i64
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        if self.kind == NormKind::Layer {
            // The fused kernel, when nobody needs the split.
            let d = *self.weight.size().last().expect("1-d norm weight");
            return x.layer_norm([d], Some(&self.weight), self.bias.as_ref(), self.eps, true);
        }
        self.scale(&self.normalize(x), x.kind())
    }

    /// The input normalised, before the learned affine part.
    pub fn normalize(&self, x: &Tensor) -> Tensor {
        match self.kind {
            NormKind::Rms | NormKind::RmsPlusOne => {
                let h = x.to_kind(Kind::Float);
                let var = h.pow_tensor_scalar(2).mean_dim(-1, true, None::<Kind>);
                let n = h * (var + self.eps).rsqrt();
                // Llama casts before scaling; Gemma scales in fp32.
                if self.kind == NormKind::Rms {
                    n.to_kind(x.kind())
                } else {
                    n
                }
            }
            NormKind::Layer => {
                let d = *self.weight.size().last().expect("1-d norm weight");
                x.layer_norm([d], None::<Tensor>, None::<Tensor>, self.eps, true)
            }
        }
    }

    /// The affine part applied to a normalised `n`; the result is in `kind`.
    pub fn scale(&self, n: &Tensor, kind: Kind) -> Tensor {
        match self.kind {
            NormKind::Rms => &self.weight * n,
            NormKind::RmsPlusOne => (n * (self.weight.to_kind(Kind::Float) + 1.0)).to_kind(kind),
            NormKind::Layer => n * &self.weight + self.bias.as_ref().expect("LayerNorm has a bias"),
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
