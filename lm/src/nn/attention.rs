//! Causal attention through libtorch's fused `scaled_dot_product_attention`, with padding masks.

use tch::{Kind, Tensor};

/// How queries may attend to keys.
#[derive(Debug)]
pub enum AttnMask {
    /// Plain causal over a fresh sequence (query i sees keys ≤ i). Right padding needs nothing
    /// more: real tokens never see the pads after them.
    Causal,
    /// Every query sees every key (one new token against a cache).
    Full,
    /// Boolean `[B or 1, 1, Tq, Tk]`, true where attending is allowed.
    Explicit(Tensor),
}

impl AttnMask {
    /// The mask for `q_len` new tokens after `past_len` cached ones. `key_valid` is the
    /// `[B, past_len + q_len]` attention mask (1 = real token, 0 = padding), if any. With a
    /// sliding `window`, a query at position p sees keys at positions above p − window
    /// (positions count pads, as transformers' cache positions do).
    pub fn build(
        key_valid: Option<&Tensor>,
        q_len: i64,
        past_len: i64,
        window: Option<i64>,
        device: tch::Device,
    ) -> AttnMask {
        // A window wider than every distance present changes nothing.
        let window = window.filter(|&w| past_len + q_len > w);
        if key_valid.is_none() && window.is_none() {
            if past_len == 0 {
                return AttnMask::Causal;
            }
            if q_len == 1 {
                return AttnMask::Full;
            }
        }
        let k_len = past_len + q_len;
        let q_pos = Tensor::arange_start(past_len, k_len, (Kind::Int64, device)).view([q_len, 1]);
        let k_pos = Tensor::arange(k_len, (Kind::Int64, device)).view([1, k_len]);
        let mut causal = k_pos.le_tensor(&q_pos);
        if let Some(w) = window {
            causal = causal.logical_and(&k_pos.gt_tensor(&(&q_pos - w)));
        }
        let causal = causal.view([1, 1, q_len, k_len]);
        let mask = match key_valid {
            None => causal,
            Some(valid) => {
                let b = valid.size()[0];
                let valid = valid.to_kind(Kind::Bool).view([b, 1, 1, k_len]);
                // A query that is itself padding would see no key at all and produce NaN; letting
                // it see itself keeps the output finite (it is ignored anyway).
                let diag = k_pos.eq_tensor(&q_pos).view([1, 1, q_len, k_len]);
                causal.logical_and(&valid).logical_or(&diag)
            }
        };
        AttnMask::Explicit(mask)
    }
}

/// `q` `[B, H, Tq, D]`, `k`/`v` `[B, H_kv, Tk, D]` → `[B, H, Tq, D]`. With `softcap`, scores
/// become `cap·tanh(s/cap)` before the mask (Gemma 2), which the fused kernel cannot do.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &AttnMask,
    scale: f64,
    softcap: Option<f64>,
) -> Tensor {
    if let Some(cap) = softcap {
        return attend_softcapped(q, k, v, mask, scale, cap);
    }
    let h = q.size()[1];
    let h_kv = k.size()[1];
    match mask {
        AttnMask::Causal => Tensor::scaled_dot_product_attention(
            q,
            k,
            v,
            None::<Tensor>,
            0.0,
            true,
            scale,
            h != h_kv,
        ),
        AttnMask::Full => Tensor::scaled_dot_product_attention(
            q,
            k,
            v,
            None::<Tensor>,
            0.0,
            false,
            scale,
            h != h_kv,
        ),
        AttnMask::Explicit(m) => {
            let (k, v) = (repeat_kv(k, h / h_kv), repeat_kv(v, h / h_kv));
            Tensor::scaled_dot_product_attention(q, &k, &v, Some(m), 0.0, false, scale, false)
        }
    }
}

/// Attention written out as transformers' eager path: scores, cap, mask, fp32 softmax.
fn attend_softcapped(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &AttnMask,
    scale: f64,
    cap: f64,
) -> Tensor {
    let n = q.size()[1] / k.size()[1];
    let (k, v) = (repeat_kv(k, n), repeat_kv(v, n));
    let s = q.matmul(&k.transpose(-2, -1)) * scale;
    let s = (s / cap).tanh() * cap;
    let allowed = match mask {
        AttnMask::Full => None,
        AttnMask::Causal => {
            let (tq, tk) = (q.size()[2], k.size()[2]);
            Some(Tensor::ones([tq, tk], (tch::Kind::Bool, q.device())).tril(tk - tq))
        }
        AttnMask::Explicit(m) => Some(m.shallow_clone()),
    };
    let s = match allowed {
        Some(a) => s.masked_fill(&a.logical_not(), f64::NEG_INFINITY),
        None => s,
    };
    s.softmax(-1, Kind::Float).to_kind(q.kind()).matmul(&v)
}

fn repeat_kv(x: &Tensor, n: i64) -> Tensor {
    if n == 1 {
        return x.shallow_clone();
    }
    let s = x.size();
    x.unsqueeze(2)
        .expand([s[0], s[1], n, s[2], s[3]], false)
        .reshape([s[0], s[1] * n, s[2], s[3]])
}
