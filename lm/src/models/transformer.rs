//! The decoder-only transformer shared by Llama, Qwen2, Gemma and GPT-NeoX.

use crate::config::{Arch, ModelConfig};
use crate::error::Result;
use crate::nn::layers::activate;
use crate::nn::{attend, AttnMask, KvCache, Linear, Norm, Rope};
use crate::weights::Weights;
use std::path::Path;
use tch::{Device, Kind, Tensor};

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
}

#[derive(Debug)]
pub enum Mlp {
    /// `down(act(gate(x)) * up(x))`
    Gated {
        gate: Linear,
        up: Linear,
        down: Linear,
    },
    /// `down(act(up(x)))`
    Plain { up: Linear, down: Linear },
}

#[derive(Debug)]
pub struct Layer {
    pub norm1: Norm,
    pub norm2: Norm,
    pub attn: Attention,
    pub mlp: Mlp,
}

#[derive(Debug)]
pub struct CausalLm {
    pub cfg: ModelConfig,
    pub embed: Tensor,
    pub layers: Vec<Layer>,
    pub final_norm: Norm,
    /// `None` when tied to `embed`.
    pub lm_head: Option<Tensor>,
    /// Every base parameter under its checkpoint name (same storage as the fields above).
    params: Vec<(String, Tensor)>,
    rope: Rope,
    kind: Kind,
    device: Device,
}

impl CausalLm {
    /// Load a Hugging Face model folder (config.json + safetensors).
    pub fn load(dir: &Path, kind: Kind, device: Device) -> Result<Self> {
        let cfg = ModelConfig::from_file(dir.join("config.json"))?;
        let weights = Weights::load_dir(dir, kind, device)?;
        Self::from_weights(cfg, weights, kind, device)
    }

    /// Build from loaded weights; every tensor's shape is checked against the config.
    pub fn from_weights(
        cfg: ModelConfig,
        mut w: Weights,
        kind: Kind,
        device: Device,
    ) -> Result<Self> {
        let parts = match cfg.arch {
            Arch::GptNeoX => super::gpt_neox::take(&cfg, &mut w)?,
            Arch::Llama | Arch::Qwen2 | Arch::Gemma => super::llama::take(&cfg, &mut w)?,
        };
        let params = w.taken();
        let leftover = w.leftover();
        if !leftover.is_empty() {
            tracing::warn!(count = leftover.len(), first = %leftover[0], "checkpoint tensors not used by the model");
        }
        let rope = Rope::new(&cfg, device);
        Ok(CausalLm {
            embed: parts.embed,
            layers: parts.layers,
            final_norm: parts.final_norm,
            lm_head: parts.lm_head,
            params,
            rope,
            kind,
            device,
            cfg,
        })
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.layers.len())
    }

    /// Final hidden states `[B, T, H]` for `input_ids` `[B, T]`.
    ///
    /// `attention_mask` `[B, past + T]` marks real tokens with 1; without it, sequences are
    /// taken as unpadded or right-padded (pads after the real tokens change nothing before them).
    /// `positions` defaults to `past .. past + T`, as in transformers' forward.
    pub fn hidden_states(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        positions: Option<&Tensor>,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor {
        let (b, t) = input_ids.size2().expect("input_ids must be [batch, seq]");
        let past = cache.as_ref().map(|c| c.len()).unwrap_or(0);
        let default_pos;
        let positions = match positions {
            Some(p) => p,
            None => {
                default_pos = Tensor::arange_start(past, past + t, (Kind::Int64, self.device))
                    .unsqueeze(0)
                    .expand([b, t], false);
                &default_pos
            }
        };
        let (cos, sin) = self.rope.cos_sin(positions, self.kind);
        let mask = AttnMask::build(attention_mask, t, past, self.device);

        let mut x = Tensor::embedding(&self.embed, input_ids, -1, false, false);
        if self.cfg.arch == Arch::Gemma {
            // transformers rounds the normaliser to the activation dtype before multiplying.
            let norm = Tensor::from((self.cfg.hidden_size as f64).sqrt() as f32)
                .to_kind(self.kind)
                .to_device(self.device);
            x *= norm;
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let c = cache.as_deref_mut();
            x = self.layer_forward(i, layer, &x, &cos, &sin, &mask, c);
        }
        self.final_norm.forward(&x)
    }

    /// Logits `[B, T, V]` in the model's dtype.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
    ) -> Tensor {
        let h = self.hidden_states(input_ids, attention_mask, None, cache);
        self.logits(&h)
    }

    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        hidden.linear(self.lm_head.as_ref().unwrap_or(&self.embed), None::<Tensor>)
    }

    #[allow(clippy::too_many_arguments)]
    fn layer_forward(
        &self,
        index: usize,
        layer: &Layer,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: &AttnMask,
        cache: Option<&mut KvCache>,
    ) -> Tensor {
        let a = self.attention(
            index,
            &layer.attn,
            &layer.norm1.forward(x),
            cos,
            sin,
            mask,
            cache,
        );
        if self.cfg.parallel_residual {
            let m = self.mlp(&layer.mlp, &layer.norm2.forward(x));
            x + a + m
        } else {
            let h = x + a;
            let m = self.mlp(&layer.mlp, &layer.norm2.forward(&h));
            h + m
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        index: usize,
        attn: &Attention,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: &AttnMask,
        cache: Option<&mut KvCache>,
    ) -> Tensor {
        let (b, t, _) = x.size3().expect("[B, T, H]");
        let c = &self.cfg;
        let (q, k, v, o) = match attn {
            Attention::Split { q, k, v, o } => {
                let q = q
                    .forward(x)
                    .view([b, t, c.num_heads, c.head_dim])
                    .transpose(1, 2);
                let k = k
                    .forward(x)
                    .view([b, t, c.num_kv_heads, c.head_dim])
                    .transpose(1, 2);
                let v = v
                    .forward(x)
                    .view([b, t, c.num_kv_heads, c.head_dim])
                    .transpose(1, 2);
                (q, k, v, o)
            }
            Attention::Fused { qkv, o } => {
                let qkv = qkv
                    .forward(x)
                    .view([b, t, c.num_heads, 3 * c.head_dim])
                    .transpose(1, 2);
                let parts = qkv.chunk(3, -1);
                let [q, k, v]: [Tensor; 3] = parts.try_into().expect("three chunks");
                (q, k, v, o)
            }
        };
        let q = self.rope.apply(&q, cos, sin);
        let k = self.rope.apply(&k, cos, sin);
        let (k, v) = match cache {
            Some(cache) => cache.update(index, k, v),
            None => (k, v),
        };
        let y = attend(&q, &k, &v, mask, (c.head_dim as f64).powf(-0.5));
        let y = y.transpose(1, 2).reshape([b, t, c.num_heads * c.head_dim]);
        o.forward(&y)
    }

    fn mlp(&self, mlp: &Mlp, x: &Tensor) -> Tensor {
        let act = self.cfg.activation;
        match mlp {
            Mlp::Gated { gate, up, down } => {
                down.forward(&(activate(act, &gate.forward(x)) * up.forward(x)))
            }
            Mlp::Plain { up, down } => down.forward(&activate(act, &up.forward(x))),
        }
    }

    /// The base parameters under their checkpoint names (tied embeddings once).
    pub fn named_parameters(&self) -> &[(String, Tensor)] {
        &self.params
    }

    /// Every linear layer, for adapters to attach to.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::new();
        for l in &mut self.layers {
            match &mut l.attn {
                Attention::Split { q, k, v, o } => out.extend([q, k, v, o]),
                Attention::Fused { qkv, o } => out.extend([qkv, o]),
            }
            match &mut l.mlp {
                Mlp::Gated { gate, up, down } => out.extend([gate, up, down]),
                Mlp::Plain { up, down } => out.extend([up, down]),
            }
        }
        out
    }

    /// Every linear layer, read-only.
    pub fn linears(&self) -> Vec<&Linear> {
        let mut out = Vec::new();
        for l in &self.layers {
            match &l.attn {
                Attention::Split { q, k, v, o } => out.extend([q, k, v, o]),
                Attention::Fused { qkv, o } => out.extend([qkv, o]),
            }
            match &l.mlp {
                Mlp::Gated { gate, up, down } => out.extend([gate, up, down]),
                Mlp::Plain { up, down } => out.extend([up, down]),
            }
        }
        out
    }

    /// Training mode turns on LoRA dropout.
    pub fn set_training(&mut self, training: bool) {
        for l in self.linears_mut() {
            if let Some(a) = &mut l.lora {
                a.training = training;
            }
        }
    }

    /// Number of parameters (tied embeddings counted once).
    pub fn num_parameters(&self) -> i64 {
        let lin =
            |l: &Linear| l.weight.numel() as i64 + l.bias.as_ref().map_or(0, |b| b.numel() as i64);
        let norm = |n: &Norm| match n {
            Norm::Layer { weight, bias, .. } => (weight.numel() + bias.numel()) as i64,
            other => other.weight().numel() as i64,
        };
        let mut n = self.embed.numel() as i64 + norm(&self.final_norm);
        n += self.lm_head.as_ref().map_or(0, |h| h.numel() as i64);
        for l in &self.layers {
            n += norm(&l.norm1) + norm(&l.norm2);
            n += match &l.attn {
                Attention::Split { q, k, v, o } => lin(q) + lin(k) + lin(v) + lin(o),
                Attention::Fused { qkv, o } => lin(qkv) + lin(o),
            };
            n += match &l.mlp {
                Mlp::Gated { gate, up, down } => lin(gate) + lin(up) + lin(down),
                Mlp::Plain { up, down } => lin(up) + lin(down),
            };
        }
        n
    }
}

/// What a family's loader hands to [`CausalLm::from_weights`].
pub(super) struct Parts {
    pub embed: Tensor,
    pub layers: Vec<Layer>,
    pub final_norm: Norm,
    pub lm_head: Option<Tensor>,
}

/// Take `{prefix}.weight` `[out, in]` and an optional `{prefix}.bias` `[out]`.
pub(super) fn take_linear(w: &mut Weights, prefix: &str, out: i64, inp: i64) -> Result<Linear> {
    Ok(Linear {
        name: prefix.to_string(),
        weight: w.take(&format!("{prefix}.weight"), &[out, inp])?,
        bias: w.take_opt(&format!("{prefix}.bias"), &[out])?,
        lora: None,
    })
}

/// The LM head: untied checkpoints must carry it; tied ones reuse the embedding.
pub(super) fn take_head(cfg: &ModelConfig, w: &mut Weights, name: &str) -> Result<Option<Tensor>> {
    let shape = [cfg.vocab_size, cfg.hidden_size];
    if cfg.tie_word_embeddings {
        // Some tied checkpoints store a copy; the tie wins, as in transformers.
        w.discard(name);
        Ok(None)
    } else {
        w.take(name, &shape).map(Some)
    }
}
