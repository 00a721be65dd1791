//! One decoder layer: attention (split, NeoX-fused or Phi-3-packed projections, optional QK-norm,
//! soft-capping and sliding window) and the MLP, with pre-norms and, for Gemma 2/3, post-norms.

use super::transformer::CausalLm;
use crate::nn::layers::activate;
use crate::nn::{attend, AttnMask, KvCache, Linear, Norm};
use tch::Tensor;

#[derive(Debug)]
pub enum Attention {
    /// Separate q/k/v projections (Llama family).
    Split {
        q: Linear,
        k: Linear,
        v: Linear,
        o: Linear,
    },
    /// GPT-NeoX: one projection, laid out per head as `[q | k | v]`.
    Fused { qkv: Linear, o: Linear },
    /// Phi-3: one projection laid out as all queries, then all keys, then all values.
    Packed { qkv: Linear, o: Linear },
}

#[derive(Debug)]
pub enum Mlp {
    /// `down(act(gate(x)) * up(x))`
    Gated {
        gate: Linear,
        up: Linear,
        down: Linear,
    },
    /// Phi-3: `gate_up` holds `[gate; up]` stacked on the output side.
    GatedFused { gate_up: Linear, down: Linear },
    /// `down(act(up(x)))`
    Plain { up: Linear, down: Linear },
}

#[derive(Debug)]
pub struct Layer {
    /// Before attention (`input_layernorm`).
    pub norm1: Norm,
    /// Before the MLP (`post_attention_layernorm` in Llama, `pre_feedforward_layernorm` in Gemma 2/3).
    pub norm2: Norm,
    /// Gemma 2/3: on the attention output, before the residual add.
    pub post_attn: Option<Norm>,
    /// Gemma 2/3: on the MLP output, before the residual add.
    pub post_mlp: Option<Norm>,
    /// Qwen3, Gemma 3: RMSNorm over each query / key head.
    pub q_norm: Option<Norm>,
    pub k_norm: Option<Norm>,
    /// Attends through the sliding window (and the local RoPE).
    pub sliding: bool,
    pub attn: Attention,
    pub mlp: Mlp,
}

/// What one kind of layer (global or sliding) shares within a forward pass.
pub(crate) struct LayerContext {
    pub cos: Tensor,
    pub sin: Tensor,
    pub mask: AttnMask,
}

impl Layer {
    pub fn linears(&self) -> Vec<&Linear> {
        let mut out: Vec<&Linear> = match &self.attn {
            Attention::Split { q, k, v, o } => vec![q, k, v, o],
            Attention::Fused { qkv, o } | Attention::Packed { qkv, o } => vec![qkv, o],
        };
        match &self.mlp {
            Mlp::Gated { gate, up, down } => out.extend([gate, up, down]),
            Mlp::GatedFused { gate_up, down } => out.extend([gate_up, down]),
            Mlp::Plain { up, down } => out.extend([up, down]),
        }
        out
    }

    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out: Vec<&mut Linear> = match &mut self.attn {
            Attention::Split { q, k, v, o } => vec![q, k, v, o],
            Attention::Fused { qkv, o } | Attention::Packed { qkv, o } => vec![qkv, o],
        };
        match &mut self.mlp {
            Mlp::Gated { gate, up, down } => out.extend([gate, up, down]),
            Mlp::GatedFused { gate_up, down } => out.extend([gate_up, down]),
            Mlp::Plain { up, down } => out.extend([up, down]),
        }
        out
    }

    pub fn norms(&self) -> Vec<&Norm> {
        let optional = [&self.post_attn, &self.post_mlp, &self.q_norm, &self.k_norm];
        let mut out = vec![&self.norm1, &self.norm2];
        out.extend(optional.into_iter().flatten());
        out
    }

    pub fn num_parameters(&self) -> i64 {
        let lin =
            |l: &&Linear| (l.weight.numel() + l.bias.as_ref().map_or(0, |b| b.numel())) as i64;
        let linears: i64 = self.linears().iter().map(lin).sum();
        linears + self.norms().iter().map(|n| n.num_parameters()).sum::<i64>()
    }
}

impl CausalLm {
    pub(super) fn layer_forward(
        &self,
        index: usize,
        layer: &Layer,
        x: &Tensor,
        ctx: &LayerContext,
        cache: Option<&mut KvCache>,
    ) -> Tensor {
        let a = self.attention(index, layer, &self.norm(&layer.norm1, x), ctx, cache);
        let a = self.maybe_norm(layer.post_attn.as_ref(), a);
        if self.cfg.parallel_residual {
            let m = self.mlp(&layer.mlp, &self.norm(&layer.norm2, x));
            x + a + m
        } else {
            let h = x + a;
            let m = self.mlp(&layer.mlp, &self.norm(&layer.norm2, &h));
            let m = self.maybe_norm(layer.post_mlp.as_ref(), m);
            h + m
        }
    }

    fn maybe_norm(&self, n: Option<&Norm>, x: Tensor) -> Tensor {
        match n {
            Some(n) => self.norm(n, &x),
            None => x,
        }
    }

    /// q, k, v as `[B, T, heads, D]`, and the output projection.
    fn project<'a>(&self, attn: &'a Attention, x: &Tensor) -> (Tensor, Tensor, Tensor, &'a Linear) {
        let (b, t, _) = x.size3().expect("[B, T, H]");
        let c = &self.cfg;
        let (hq, hkv, d) = (c.num_heads, c.num_kv_heads, c.head_dim);
        match attn {
            Attention::Split { q, k, v, o } => (
                self.lin(q, x).view([b, t, hq, d]),
                self.lin(k, x).view([b, t, hkv, d]),
                self.lin(v, x).view([b, t, hkv, d]),
                o,
            ),
            Attention::Fused { qkv, o } => {
                let qkv = self.lin(qkv, x).view([b, t, hq, 3 * d]);
                let [q, k, v]: [Tensor; 3] = qkv.chunk(3, -1).try_into().expect("three chunks");
                (q, k, v, o)
            }
            Attention::Packed { qkv, o } => {
                let parts = self
                    .lin(qkv, x)
                    .split_with_sizes([hq * d, hkv * d, hkv * d], -1);
                let [q, k, v]: [Tensor; 3] = parts.try_into().expect("three parts");
                (
                    q.view([b, t, hq, d]),
                    k.view([b, t, hkv, d]),
                    v.view([b, t, hkv, d]),
                    o,
                )
            }
        }
    }

    fn attention(
        &self,
        index: usize,
        layer: &Layer,
        x: &Tensor,
        ctx: &LayerContext,
        cache: Option<&mut KvCache>,
    ) -> Tensor {
        let (b, t, _) = x.size3().expect("[B, T, H]");
        let (q, k, v, o) = self.project(&layer.attn, x);
        let q = self.maybe_norm(layer.q_norm.as_ref(), q).transpose(1, 2);
        let k = self.maybe_norm(layer.k_norm.as_ref(), k).transpose(1, 2);
        let v = v.transpose(1, 2);
        let q = self.rope.apply(&q, &ctx.cos, &ctx.sin);
        let k = self.rope.apply(&k, &ctx.cos, &ctx.sin);
        let (k, v) = match cache {
            Some(cache) => cache.update(index, k, v),
            None => (k, v),
        };
        let c = &self.cfg;
        let y = attend(&q, &k, &v, &ctx.mask, c.attn_scale, c.attn_softcap);
        let y = y.transpose(1, 2).reshape([b, t, c.num_heads * c.head_dim]);
        self.lin(o, &y)
    }

    fn mlp(&self, mlp: &Mlp, x: &Tensor) -> Tensor {
        let act = self.cfg.activation;
        match mlp {
            Mlp::Gated { gate, up, down } => {
                self.lin(down, &(activate(act, &self.lin(gate, x)) * self.lin(up, x)))
            }
            Mlp::GatedFused { gate_up, down } => {
                let [gate, up]: [Tensor; 2] = self
                    .lin(gate_up, x)
                    .chunk(2, -1)
                    .try_into()
                    .expect("two chunks");
                self.lin(down, &(activate(act, &gate) * up))
            }
            Mlp::Plain { up, down } => self.lin(down, &activate(act, &self.lin(up, x))),
        }
    }
}
