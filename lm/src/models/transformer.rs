//! The decoder-only transformer shared by every family (Llama, Mistral, Qwen2/3, Phi-3,
//! Gemma 1/2/3, GPT-NeoX); its layers are in [`super::layer`].

use super::layer::LayerContext;
pub use super::layer::{Attention, Layer, Mlp};
use crate::config::{Arch, ModelConfig};
use crate::error::Result;
use crate::nn::{AttnMask, KvCache, Linear, Norm, Rope};
use crate::weights::Weights;
use std::cell::RefCell;
use std::collections::HashSet;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// One parametrised operation seen by a recording forward pass: what DP-SGD needs to compute
/// per-example gradient norms from activations and output gradients, without per-example
/// backward passes.
#[derive(Debug)]
pub enum TapeOp {
    /// `output = input · weightᵀ (+ bias)`.
    Linear {
        weight: String,
        bias: Option<String>,
        input: Tensor,
        output: Tensor,
    },
    /// `output = weight[ids]`.
    Embedding {
        weight: String,
        ids: Tensor,
        output: Tensor,
    },
    /// `output = affine(normalized)`: norm weights (`n ⊙ w`, `n ⊙ (1 + w)`, `n ⊙ w + b`).
    Scale {
        weight: String,
        bias: Option<String>,
        normalized: Tensor,
        output: Tensor,
    },
}

impl TapeOp {
    pub fn output(&self) -> &Tensor {
        match self {
            TapeOp::Linear { output, .. }
            | TapeOp::Embedding { output, .. }
            | TapeOp::Scale { output, .. } => output,
        }
    }
}

/// The recording state: which parameters to record ops for, and the ops.
#[derive(Debug)]
struct Tape {
    params: HashSet<String>,
    ops: Vec<TapeOp>,
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
    embed_name: &'static str,
    head_name: &'static str,
    tape: RefCell<Option<Tape>>,
    pub(super) rope: Rope,
    /// Sliding-window layers' RoPE when it differs (Gemma 3).
    local_rope: Option<Rope>,
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
            Arch::Phi3 => super::phi3::take(&cfg, &mut w)?,
            _ => super::llama::take(&cfg, &mut w)?,
        };
        let params = w.taken();
        let leftover = w.leftover();
        if !leftover.is_empty() {
            tracing::warn!(count = leftover.len(), first = %leftover[0], "checkpoint tensors not used by the model");
        }
        let rope = Rope::new(&cfg.rope, cfg.rotary_dim, device);
        let local_rope = cfg
            .local_rope
            .map(|p| Rope::new(&p, cfg.rotary_dim, device));
        Ok(CausalLm {
            embed: parts.embed,
            layers: parts.layers,
            final_norm: parts.final_norm,
            lm_head: parts.lm_head,
            params,
            embed_name: parts.embed_name,
            head_name: parts.head_name,
            tape: RefCell::new(None),
            rope,
            local_rope,
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
        crate::threads::adjust();
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
        let global = self.context(&self.rope, positions, attention_mask, t, past, None);
        let local = self.cfg.sliding_layers.iter().any(|&s| s).then(|| {
            let rope = self.local_rope.as_ref().unwrap_or(&self.rope);
            let w = self.cfg.sliding_window;
            self.context(rope, positions, attention_mask, t, past, w)
        });

        let mut x = Tensor::embedding(&self.embed, input_ids, -1, false, false);
        self.record(self.embed_name, || TapeOp::Embedding {
            weight: self.embed_name.to_string(),
            ids: input_ids.shallow_clone(),
            output: x.shallow_clone(),
        });
        if self.cfg.arch.is_gemma() {
            // transformers rounds the normaliser to the activation dtype before multiplying.
            let norm = Tensor::from((self.cfg.hidden_size as f64).sqrt() as f32)
                .to_kind(self.kind)
                .to_device(self.device);
            // Not in place: the embedding's recorded output must stay the unscaled lookup.
            x = x.multiply(&norm);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let c = cache.as_deref_mut();
            let ctx = match &local {
                Some(l) if layer.sliding => l,
                _ => &global,
            };
            x = self.layer_forward(i, layer, &x, ctx, c);
        }
        self.norm(&self.final_norm, &x)
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
        let logits = hidden.linear(self.lm_head.as_ref().unwrap_or(&self.embed), None::<Tensor>);
        let name = if self.lm_head.is_some() {
            self.head_name
        } else {
            self.embed_name
        };
        self.record(name, || TapeOp::Linear {
            weight: name.to_string(),
            bias: None,
            input: hidden.shallow_clone(),
            output: logits.shallow_clone(),
        });
        match self.cfg.final_softcap {
            Some(cap) => (logits / cap).tanh() * cap,
            None => logits,
        }
    }

    /// RoPE tables and mask for one kind of layer (global, or sliding with `window`).
    #[allow(clippy::too_many_arguments)]
    fn context(
        &self,
        rope: &Rope,
        positions: &Tensor,
        attention_mask: Option<&Tensor>,
        t: i64,
        past: i64,
        window: Option<i64>,
    ) -> LayerContext {
        // Both tables rotate the same dimensions; only their frequencies differ.
        let (cos, sin) = rope.cos_sin(positions, self.kind);
        LayerContext {
            cos,
            sin,
            mask: AttnMask::build(attention_mask, t, past, window, self.device),
        }
    }

    /// Start recording parametrised ops whose weight is in `params` (checkpoint names, LoRA
    /// factors as `{module}.lora_A.weight`). Recording stops with [`Self::take_tape`].
    pub fn start_tape(&self, params: HashSet<String>) {
        *self.tape.borrow_mut() = Some(Tape {
            params,
            ops: vec![],
        });
    }

    /// Stop recording and return the ops in forward order.
    pub fn take_tape(&self) -> Vec<TapeOp> {
        self.tape
            .borrow_mut()
            .take()
            .map(|t| t.ops)
            .unwrap_or_default()
    }

    fn recording(&self, param: &str) -> bool {
        self.tape
            .borrow()
            .as_ref()
            .is_some_and(|t| t.params.contains(param))
    }

    fn record(&self, param: &str, op: impl FnOnce() -> TapeOp) {
        if let Some(t) = self.tape.borrow_mut().as_mut() {
            if t.params.contains(param) {
                t.ops.push(op());
            }
        }
    }

    /// A linear layer (and its LoRA adapter), recorded when asked.
    pub(super) fn lin(&self, l: &Linear, x: &Tensor) -> Tensor {
        if self.tape.borrow().is_none() {
            return l.forward(x);
        }
        let w = format!("{}.weight", l.name);
        let y = x.linear(&l.weight, l.bias.as_ref());
        if self.recording(&w) {
            let bias = l.bias.as_ref().map(|_| format!("{}.bias", l.name));
            self.record(&w, || TapeOp::Linear {
                weight: w.clone(),
                bias,
                input: x.shallow_clone(),
                output: y.shallow_clone(),
            });
        }
        let Some(lo) = &l.lora else { return y };
        let xin = if lo.training && lo.dropout > 0.0 {
            x.dropout(lo.dropout, true)
        } else {
            x.shallow_clone()
        };
        let h = xin.linear(&lo.a, None::<Tensor>);
        let a = format!("{}.lora_A.weight", l.name);
        self.record(&a, || TapeOp::Linear {
            weight: a.clone(),
            bias: None,
            input: xin.shallow_clone(),
            output: h.shallow_clone(),
        });
        let z = h.linear(&lo.b, None::<Tensor>);
        let b = format!("{}.lora_B.weight", l.name);
        self.record(&b, || TapeOp::Linear {
            weight: b.clone(),
            bias: None,
            input: h.shallow_clone(),
            output: z.shallow_clone(),
        });
        y + z * lo.scale
    }

    /// A norm layer, split into normalise + affine when its weight is recorded.
    pub(super) fn norm(&self, n: &Norm, x: &Tensor) -> Tensor {
        let w = format!("{}.weight", n.name);
        if !self.recording(&w) {
            return n.forward(x);
        }
        let normalized = n.normalize(x);
        let y = n.scale(&normalized, x.kind());
        let bias = n.bias.as_ref().map(|_| format!("{}.bias", n.name));
        self.record(&w, || TapeOp::Scale {
            weight: w.clone(),
            bias,
            normalized,
            output: y.shallow_clone(),
        });
        y
    }

    /// The base parameters under their checkpoint names (tied embeddings once).
    pub fn named_parameters(&self) -> &[(String, Tensor)] {
        &self.params
    }

    /// Every linear layer, for adapters to attach to.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        self.layers
            .iter_mut()
            .flat_map(Layer::linears_mut)
            .collect()
    }

    /// Every linear layer, read-only.
    pub fn linears(&self) -> Vec<&Linear> {
        self.layers.iter().flat_map(Layer::linears).collect()
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
        let mut n = self.embed.numel() as i64 + self.final_norm.num_parameters();
        n += self.lm_head.as_ref().map_or(0, |h| h.numel() as i64);
        n + self.layers.iter().map(Layer::num_parameters).sum::<i64>()
    }
}

/// What a family's loader hands to [`CausalLm::from_weights`].
pub(super) struct Parts {
    pub embed_name: &'static str,
    pub head_name: &'static str,
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
