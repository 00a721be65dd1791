//! Rotary position embeddings (the `rotate_half` layout of transformers), optionally on only the
//! first `rotary_dim` dimensions of each head (GPT-NeoX `rotary_pct`), with linear or Llama 3 scaling.

use crate::config::{Llama3Scaling, RopeParams, RopeScaling};
use tch::{Device, Kind, Tensor};

#[derive(Debug)]
pub struct Rope {
    /// `[rotary_dim / 2]`, fp32.
    inv_freq: Tensor,
    rotary_dim: i64,
}

impl Rope {
    /// The table for `params` over the first `dim` dimensions of each head.
    pub fn new(params: &RopeParams, dim: i64, device: Device) -> Self {
        // Same fp32 arithmetic as transformers, so positions far from 0 agree bit for bit.
        let exponents = Tensor::arange_start_step(0, dim, 2, (Kind::Int64, device))
            .to_kind(Kind::Float)
            / (dim as f64);
        let base = Tensor::from(params.theta as f32).to_device(device);
        let mut inv_freq = base.pow(&exponents).reciprocal();
        match params.scaling {
            RopeScaling::None => {}
            RopeScaling::Linear(factor) => inv_freq /= factor,
            RopeScaling::Llama3(s) => inv_freq = llama3_scale(&inv_freq, s),
        }
        Rope {
            inv_freq,
            rotary_dim: dim,
        }
    }

    /// cos and sin for positions `[B, T]` (int64): `[B, 1, T, rotary_dim]` in `kind`.
    pub fn cos_sin(&self, positions: &Tensor, kind: Kind) -> (Tensor, Tensor) {
        let freqs = positions.to_kind(Kind::Float).unsqueeze(-1) * self.inv_freq.view([1, 1, -1]);
        let emb = Tensor::cat(&[&freqs, &freqs], -1).unsqueeze(1);
        (emb.cos().to_kind(kind), emb.sin().to_kind(kind))
    }

    /// Rotate `x` of shape `[B, H, T, D]`.
    pub fn apply(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
        let d = x.size()[3];
        if self.rotary_dim == d {
            return x * cos + rotate_half(x) * sin;
        }
        let rot = x.narrow(3, 0, self.rotary_dim);
        let pass = x.narrow(3, self.rotary_dim, d - self.rotary_dim);
        let rot = &rot * cos + rotate_half(&rot) * sin;
        Tensor::cat(&[rot, pass], 3)
    }
}

fn rotate_half(x: &Tensor) -> Tensor {
    let half = x.size()[3] / 2;
    let x1 = x.narrow(3, 0, half);
    let x2 = x.narrow(3, half, half);
    Tensor::cat(&[x2.neg(), x1], 3)
}

fn llama3_scale(inv_freq: &Tensor, s: Llama3Scaling) -> Tensor {
    let old = s.original_max_position_embeddings;
    let low_wavelen = old / s.low_freq_factor;
    let high_wavelen = old / s.high_freq_factor;
    let wavelen = inv_freq.reciprocal() * (2.0 * std::f64::consts::PI);
    let scaled = inv_freq / s.factor;
    let llama = scaled.where_self(&wavelen.gt(low_wavelen), inv_freq);
    let smooth =
        (wavelen.reciprocal() * old - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    let smoothed: Tensor = (smooth.neg() + 1.0) * &llama / s.factor + &smooth * &llama;
    let medium = wavelen
        .lt(high_wavelen)
        .logical_not()
        .logical_and(&wavelen.gt(low_wavelen).logical_not());
    smoothed.where_self(&medium, &llama)
}
