//! `config.json` of a Hugging Face model folder, normalised into one [`ModelConfig`].
//!
//! Both the transformers 5 layout (`rope_parameters`) and the older keys (`rope_theta`,
//! `rope_scaling`, `rotary_pct`, `rotary_emb_base`) are accepted, since checkpoints of both
//! kinds are in the wild.

use crate::error::{LmError, Result};
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
    Qwen3,
    Mistral,
    Phi3,
    Gemma,
    Gemma2,
    Gemma3,
    GptNeoX,
}

pub const SUPPORTED_ARCHS: &str =
    "llama, mistral, qwen2, qwen3, phi3, gemma, gemma2, gemma3_text, gpt_neox";

impl Arch {
    pub fn from_model_type(s: &str) -> Option<Self> {
        Some(match s {
            "llama" | "LlamaForCausalLM" => Arch::Llama,
            "mistral" | "MistralForCausalLM" => Arch::Mistral,
            "qwen2" | "Qwen2ForCausalLM" => Arch::Qwen2,
            "qwen3" | "Qwen3ForCausalLM" => Arch::Qwen3,
            "phi3" | "Phi3ForCausalLM" => Arch::Phi3,
            "gemma" | "GemmaForCausalLM" => Arch::Gemma,
            "gemma2" | "Gemma2ForCausalLM" => Arch::Gemma2,
            // Gemma 3's text-only checkpoints; the multimodal `gemma3` wraps a vision tower.
            "gemma3_text" | "Gemma3ForCausalLM" => Arch::Gemma3,
            "gpt_neox" | "GPTNeoXForCausalLM" => Arch::GptNeoX,
            _ => return None,
        })
    }

    /// The Gemma family: RMSNorm scaled by `1 + w`, embeddings scaled by √hidden, tied head.
    pub fn is_gemma(self) -> bool {
        matches!(self, Arch::Gemma | Arch::Gemma2 | Arch::Gemma3)
    }

    /// Gemma 2 and 3 norm the attention and MLP outputs too (four norms per layer).
    pub fn sandwich_norms(self) -> bool {
        matches!(self, Arch::Gemma2 | Arch::Gemma3)
    }

    /// RMSNorm on each query and key head before RoPE.
    pub fn qk_norm(self) -> bool {
        matches!(self, Arch::Qwen3 | Arch::Gemma3)
    }

    /// PEFT's default LoRA targets for the family (`target_modules` left to the library).
    pub fn peft_default_targets(self) -> &'static [&'static str] {
        match self {
            Arch::Phi3 => &["qkv_proj"],
            Arch::GptNeoX => &["query_key_value"],
            _ => &["q_proj", "v_proj"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    Silu,
    Gelu,
    GeluTanh,
    Relu,
}

impl Activation {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "silu" | "swish" => Activation::Silu,
            "gelu" => Activation::Gelu,
            "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            _ => return None,
        })
    }
}

/// How RoPE frequencies are scaled for long contexts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor` (transformers' `linear`).
    Linear(f64),
    Llama3(Llama3Scaling),
}

/// One RoPE table: base and scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RopeParams {
    pub theta: f64,
    pub scaling: RopeScaling,
}

/// Llama 3 frequency-dependent RoPE scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Llama3Scaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_layers: i64,
    pub num_heads: i64,
    pub num_kv_heads: i64,
    pub head_dim: i64,
    /// Number of leading dimensions of each head that RoPE rotates (head_dim × partial factor).
    pub rotary_dim: i64,
    /// RoPE of full-attention layers (of every layer unless `local_rope` is set).
    pub rope: RopeParams,
    /// Gemma 3: sliding-window layers rotate with their own base.
    pub local_rope: Option<RopeParams>,
    pub norm_eps: f64,
    pub tie_word_embeddings: bool,
    pub activation: Activation,
    /// GPT-NeoX only: attention and MLP read the same input and are added together.
    pub parallel_residual: bool,
    pub max_position_embeddings: i64,
    pub bos_token_id: Option<i64>,
    pub eos_token_ids: Vec<i64>,
    /// Keys further back than this (in positions) are hidden from sliding-window layers.
    pub sliding_window: Option<i64>,
    /// Per layer: does it attend through the sliding window?
    pub sliding_layers: Vec<bool>,
    /// Attention scores are `q·k × attn_scale` (head_dim^-½, or query_pre_attn_scalar^-½).
    pub attn_scale: f64,
    /// Gemma 2: scores become `cap·tanh(s/cap)` before the mask and softmax.
    pub attn_softcap: Option<f64>,
    /// Gemma 2: logits become `cap·tanh(l/cap)`.
    pub final_softcap: Option<f64>,
}

struct Fields<'a> {
    v: &'a Value,
    path: &'a Path,
}

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.v.get(key).filter(|v| !v.is_null())
    }
    fn int(&self, key: &str) -> Result<i64> {
        self.opt_int(key)?
            .ok_or_else(|| LmError::field(self.path, key, "missing"))
    }
    fn opt_int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_i64().filter(|&n| n >= 0).map(Some).ok_or_else(|| {
                LmError::field(
                    self.path,
                    key,
                    format!("expected a non-negative integer, got {v}"),
                )
            }),
        }
    }
    fn positive(&self, key: &str) -> Result<i64> {
        let n = self.int(key)?;
        if n == 0 {
            return Err(LmError::field(self.path, key, "must be positive"));
        }
        Ok(n)
    }
    fn opt_float(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                LmError::field(self.path, key, format!("expected a number, got {v}"))
            }),
        }
    }
    fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| {
                LmError::field(self.path, key, format!("expected true or false, got {v}"))
            }),
        }
    }
    fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| {
                LmError::field(self.path, key, format!("expected a string, got {v}"))
            }),
        }
    }
}

impl ModelConfig {
    /// Read `config.json` from a file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let v = triad_data::fsutil::read_json(path)?;
        Self::from_value(&v, path)
    }

    /// Normalise a parsed `config.json`; `path` is only used in error messages.
    ///
    /// The steps run in a fixed order, so a config with several faults always reports the same one.
    pub fn from_value(v: &Value, path: &Path) -> Result<Self> {
        if !v.is_object() {
            return Err(LmError::invalid(path, "config.json must be a JSON object"));
        }
        let f = Fields { v, path };
        let arch = read_arch(&f)?;
        refuse_unimplemented(&f, arch)?;
        let shape = AttentionShape::read(&f, arch)?;
        let num_layers = f.positive("num_hidden_layers")?;
        let rope = Rope::read(&f, arch, shape.head_dim)?;
        let window = Window::read(&f, arch, num_layers)?;
        let softcap = Softcaps::read(&f, arch)?;
        let cfg = ModelConfig {
            arch,
            vocab_size: f.positive("vocab_size")?,
            hidden_size: shape.hidden_size,
            intermediate_size: f.positive("intermediate_size")?,
            num_layers,
            num_heads: shape.num_heads,
            num_kv_heads: shape.num_kv_heads,
            head_dim: shape.head_dim,
            rotary_dim: rope.rotary_dim,
            rope: rope.global,
            local_rope: rope.local,
            norm_eps: read_norm_eps(&f, arch)?,
            tie_word_embeddings: f
                .opt_bool("tie_word_embeddings")?
                .unwrap_or(arch.is_gemma()),
            activation: read_activation(&f, arch)?,
            parallel_residual: arch == Arch::GptNeoX
                && f.opt_bool("use_parallel_residual")?.unwrap_or(true),
            max_position_embeddings: f.opt_int("max_position_embeddings")?.unwrap_or(2048),
            bos_token_id: f.opt_int("bos_token_id")?,
            eos_token_ids: read_eos_token_ids(&f),
            sliding_window: window.size,
            sliding_layers: window.layers,
            attn_scale: read_attn_scale(&f, arch, shape.head_dim)?,
            attn_softcap: softcap.attn,
            final_softcap: softcap.logits,
        };
        if cfg.rotary_dim % 2 != 0 {
            return Err(LmError::field(
                path,
                "rotary_pct",
                format!("rotary dimension {} must be even", cfg.rotary_dim),
            ));
        }
        Ok(cfg)
    }
}

/// Fields that change the computation in ways this code does not implement: refused by name,
/// since running without them would silently compute another model.
fn refuse_unimplemented(f: &Fields, arch: Arch) -> Result<()> {
    let path = f.path;
    let set = |k: &str| f.get(k).is_some_and(|v| v != &Value::Bool(false));
    if set("quantization_config") {
        return Err(LmError::field(path, "quantization_config", "quantized checkpoints are not supported (import a GGUF with `triad model import-gguf`, or give unquantized weights)"));
    }
    for k in ["use_bidirectional_attention", "attention_chunk_size"] {
        if set(k) {
            return Err(LmError::field(
                path,
                k,
                "is not implemented (causal attention only)",
            ));
        }
    }
    for k in ["num_experts", "num_local_experts", "n_routed_experts"] {
        if f.opt_int(k)?.is_some_and(|n| n > 0) {
            return Err(LmError::field(
                path,
                k,
                "mixture-of-experts layers are not implemented",
            ));
        }
    }
    if !arch.sandwich_norms() {
        for k in ["attn_logit_softcapping", "final_logit_softcapping"] {
            if set(k) {
                return Err(LmError::field(
                    path,
                    k,
                    "soft-capping is only implemented for gemma2 and gemma3_text",
                ));
            }
        }
    }
    Ok(())
}

/// `query_pre_attn_scalar` (Gemma 2/3) or the head dimension sets the attention scale.
fn read_attn_scale(f: &Fields, arch: Arch, head_dim: i64) -> Result<f64> {
    let scalar = if arch.sandwich_norms() {
        f.opt_float("query_pre_attn_scalar")?.unwrap_or(256.0)
    } else {
        head_dim as f64
    };
    if !(scalar.is_finite() && scalar > 0.0) {
        return Err(LmError::field(
            f.path,
            "query_pre_attn_scalar",
            format!("must be positive, got {scalar}"),
        ));
    }
    Ok(scalar.powf(-0.5))
}

/// Soft-capping of attention scores and final logits (Gemma 2; Gemma 3 has the fields, unset).
struct Softcaps {
    attn: Option<f64>,
    logits: Option<f64>,
}

impl Softcaps {
    fn read(f: &Fields, arch: Arch) -> Result<Self> {
        // A missing key takes transformers' class default; an explicit null turns it off.
        let (attn_default, logits_default) = match arch {
            Arch::Gemma2 => (Some(50.0), Some(30.0)),
            _ => (None, None),
        };
        let read = |k: &str, default: Option<f64>| -> Result<Option<f64>> {
            let v = match f.v.get(k) {
                None => default,
                Some(_) => f.opt_float(k)?,
            };
            match v {
                Some(c) if !(c.is_finite() && c > 0.0) => Err(LmError::field(
                    f.path,
                    k,
                    format!("must be positive, got {c}"),
                )),
                _ => Ok(v),
            }
        };
        Ok(Self {
            attn: read("attn_logit_softcapping", attn_default)?,
            logits: read("final_logit_softcapping", logits_default)?,
        })
    }
}

/// Sliding-window attention: the window and which layers use it.
struct Window {
    size: Option<i64>,
    layers: Vec<bool>,
}

impl Window {
    fn read(f: &Fields, arch: Arch, num_layers: i64) -> Result<Self> {
        let n = num_layers as usize;
        // transformers' class default when the key is absent; null means no window.
        let default = match arch {
            Arch::Mistral | Arch::Gemma2 | Arch::Gemma3 => Some(4096),
            _ => None,
        };
        let size = match arch {
            Arch::Llama | Arch::Gemma | Arch::GptNeoX => None,
            _ if f.v.get("sliding_window").is_none() => default,
            _ => f.opt_int("sliding_window")?,
        };
        let Some(size) = size.filter(|&w| w > 0) else {
            return Ok(Self {
                size: None,
                layers: vec![false; n],
            });
        };
        let layers = match arch {
            // Every layer of these slides; they have no per-layer types.
            Arch::Mistral | Arch::Phi3 => vec![true; n],
            _ => match f.get("layer_types") {
                Some(types) => read_layer_types(f, types, n)?,
                None => default_layer_types(f, arch, n)?,
            },
        };
        Ok(Self {
            size: Some(size),
            layers,
        })
    }
}

/// `layer_types`: one of `full_attention` / `sliding_attention` per layer.
fn read_layer_types(f: &Fields, types: &Value, n: usize) -> Result<Vec<bool>> {
    let Some(a) = types.as_array().filter(|a| a.len() == n) else {
        return Err(LmError::field(
            f.path,
            "layer_types",
            format!("expected a list of {n} layer types"),
        ));
    };
    a.iter()
        .enumerate()
        .map(|(i, t)| match t.as_str() {
            Some("full_attention") => Ok(false),
            Some("sliding_attention") => Ok(true),
            _ => Err(LmError::field(
                f.path,
                format!("layer_types[{i}]"),
                format!("{t} is not supported (full_attention, sliding_attention)"),
            )),
        })
        .collect()
}

/// The layer pattern transformers derives when a config lists no `layer_types`.
fn default_layer_types(f: &Fields, arch: Arch, n: usize) -> Result<Vec<bool>> {
    Ok(match arch {
        Arch::Gemma2 => (0..n).map(|i| i % 2 == 0).collect(),
        Arch::Gemma3 => {
            let pattern = f.opt_int("sliding_window_pattern")?.unwrap_or(6).max(1) as usize;
            (0..n).map(|i| (i + 1) % pattern != 0).collect()
        }
        Arch::Qwen2 | Arch::Qwen3 => {
            let on = f.opt_bool("use_sliding_window")?.unwrap_or(false);
            let from = f.opt_int("max_window_layers")?.unwrap_or(28) as usize;
            (0..n).map(|i| on && i >= from).collect()
        }
        _ => vec![false; n],
    })
}

/// Resolve the architecture from `model_type`, falling back to the first `architectures` entry.
fn read_arch(f: &Fields) -> Result<Arch> {
    let path = f.path;
    let model_type = f
        .opt_str("model_type")?
        .map(str::to_owned)
        .or_else(|| {
            f.v.get("architectures")
                .and_then(|a| a.get(0))
                .and_then(|a| a.as_str())
                .map(str::to_owned)
        })
        .ok_or_else(|| LmError::field(path, "model_type", "missing (and no `architectures`)"))?;
    Arch::from_model_type(&model_type).ok_or_else(|| LmError::UnknownArchitecture {
        path: path.to_path_buf(),
        arch: model_type.clone(),
        supported: SUPPORTED_ARCHS,
    })
}

/// Hidden size and attention head layout, checked for divisibility.
struct AttentionShape {
    hidden_size: i64,
    num_heads: i64,
    num_kv_heads: i64,
    head_dim: i64,
}

impl AttentionShape {
    /// Read the head counts (GPT-NeoX has no grouped KV heads) and derive `head_dim` when absent.
    fn read(f: &Fields, arch: Arch) -> Result<Self> {
        let path = f.path;
        let hidden_size = f.positive("hidden_size")?;
        let num_heads = f.positive("num_attention_heads")?;
        let num_kv_heads = match arch {
            Arch::GptNeoX => num_heads,
            _ => f.opt_int("num_key_value_heads")?.unwrap_or(num_heads),
        };
        if num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
            return Err(LmError::field(
                path,
                "num_key_value_heads",
                format!("{num_kv_heads} does not divide num_attention_heads = {num_heads}"),
            ));
        }
        let head_dim = match f.opt_int("head_dim")? {
            Some(d) if d > 0 => d,
            _ => {
                if hidden_size % num_heads != 0 {
                    return Err(LmError::field(
                        path,
                        "num_attention_heads",
                        format!("{num_heads} does not divide hidden_size = {hidden_size}"),
                    ));
                }
                hidden_size / num_heads
            }
        };
        Ok(Self {
            hidden_size,
            num_heads,
            num_kv_heads,
            head_dim,
        })
    }
}

/// RoPE settings, merged from `rope_parameters` (transformers 5) and the legacy top-level keys.
struct Rope {
    global: RopeParams,
    local: Option<RopeParams>,
    rotary_dim: i64,
}

impl Rope {
    /// Read base, partial factor and scaling; `rope_parameters` wins over the legacy keys, but
    /// every present key is still type-checked.
    fn read(f: &Fields, arch: Arch, head_dim: i64) -> Result<Self> {
        let path = f.path;
        let rope = f.v.get("rope_parameters").filter(|r| r.is_object());
        // Per-layer-type tables are objects inside; a single table holds only scalars.
        let per_layer_type = rope.filter(|r| {
            r.as_object()
                .is_some_and(|o| o.values().any(Value::is_object))
        });
        let (global, local) = match per_layer_type {
            Some(r) => Self::per_layer_type(f, r)?,
            None => {
                let rope_f = rope.map(|r| Fields { v: r, path });
                let theta = match &rope_f {
                    Some(r) => r.opt_float("rope_theta")?,
                    None => None,
                };
                let legacy = f.v.get("rope_scaling").filter(|r| r.is_object());
                let scaling = match rope.or(legacy) {
                    None => RopeScaling::None,
                    Some(s) => read_scaling(&Fields { v: s, path })?,
                };
                let theta = theta
                    .or(f.opt_float("rope_theta")?)
                    .or(f.opt_float("rotary_emb_base")?)
                    .unwrap_or(10000.0);
                let local = f.opt_float("rope_local_base_freq")?;
                (RopeParams { theta, scaling }, local.map(plain_rope))
            }
        };
        // Gemma 3's sliding layers rotate with base 10,000 unless told otherwise.
        let local = match arch {
            Arch::Gemma3 => Some(local.unwrap_or(plain_rope(10000.0))),
            _ => None,
        };
        let rotary_dim = Self::rotary_dim(f, rope.filter(|_| per_layer_type.is_none()), head_dim)?;
        Ok(Self {
            global,
            local,
            rotary_dim,
        })
    }

    /// transformers 5's Gemma 3 layout: one RoPE table per layer type.
    fn per_layer_type(f: &Fields, r: &Value) -> Result<(RopeParams, Option<RopeParams>)> {
        let path = f.path;
        for (k, _) in r.as_object().into_iter().flatten() {
            if k != "full_attention" && k != "sliding_attention" {
                return Err(LmError::field(
                    path,
                    format!("rope_parameters.{k}"),
                    "unknown layer type (full_attention, sliding_attention)",
                ));
            }
        }
        let one = |key: &str| -> Result<Option<RopeParams>> {
            let Some(v) = r.get(key).filter(|v| v.is_object()) else {
                return Ok(None);
            };
            let sf = Fields { v, path };
            Ok(Some(RopeParams {
                theta: sf.opt_float("rope_theta")?.unwrap_or(10000.0),
                scaling: read_scaling(&sf)?,
            }))
        };
        let global = one("full_attention")?.unwrap_or(plain_rope(10000.0));
        Ok((global, one("sliding_attention")?))
    }

    fn rotary_dim(f: &Fields, rope: Option<&Value>, head_dim: i64) -> Result<i64> {
        let partial = match rope {
            Some(r) => Fields { v: r, path: f.path }.opt_float("partial_rotary_factor")?,
            None => None,
        }
        .or(f.opt_float("partial_rotary_factor")?)
        .or(f.opt_float("rotary_pct")?)
        .unwrap_or(1.0);
        if !(0.0..=1.0).contains(&partial) || partial == 0.0 {
            return Err(LmError::field(
                f.path,
                "rotary_pct",
                format!("must be in (0, 1], got {partial}"),
            ));
        }
        Ok((head_dim as f64 * partial) as i64)
    }
}

fn plain_rope(theta: f64) -> RopeParams {
    RopeParams {
        theta,
        scaling: RopeScaling::None,
    }
}

/// Parse a RoPE scaling object: `default` means none, `linear` needs its factor and `llama3`
/// all four of its own; any other type is refused by name.
fn read_scaling(sf: &Fields) -> Result<RopeScaling> {
    let path = sf.path;
    let kind = sf
        .opt_str("rope_type")?
        .or(sf.opt_str("type")?)
        .unwrap_or("default");
    let need = |k: &str| {
        sf.opt_float(k)?.ok_or_else(|| {
            LmError::field(
                path,
                format!("rope_parameters.{k}"),
                format!("missing for {kind} scaling"),
            )
        })
    };
    match kind {
        "default" => Ok(RopeScaling::None),
        "linear" => Ok(RopeScaling::Linear(need("factor")?)),
        "llama3" => Ok(RopeScaling::Llama3(Llama3Scaling {
            factor: need("factor")?,
            low_freq_factor: need("low_freq_factor")?,
            high_freq_factor: need("high_freq_factor")?,
            original_max_position_embeddings: need("original_max_position_embeddings")?,
        })),
        other => Err(LmError::field(
            path,
            "rope_parameters.rope_type",
            format!("`{other}` is not supported (supported: default, linear, llama3)"),
        )),
    }
}

/// The MLP activation; Gemma may name it `hidden_activation`, and each family has its own default.
fn read_activation(f: &Fields, arch: Arch) -> Result<Activation> {
    let act_key = if arch.is_gemma() && f.get("hidden_activation").is_some() {
        "hidden_activation"
    } else {
        "hidden_act"
    };
    let default_act = match arch {
        Arch::Gemma | Arch::Gemma2 | Arch::Gemma3 => "gelu_pytorch_tanh",
        Arch::GptNeoX => "gelu",
        _ => "silu",
    };
    let act_name = f.opt_str(act_key)?.unwrap_or(default_act);
    Activation::parse(act_name).ok_or_else(|| {
        LmError::field(f.path, act_key, format!("activation `{act_name}` is not supported (silu, gelu, gelu_pytorch_tanh, gelu_new, relu)"))
    })
}

/// Norm epsilon: GPT-NeoX uses LayerNorm (`layer_norm_eps`), the others RMSNorm (`rms_norm_eps`).
fn read_norm_eps(f: &Fields, arch: Arch) -> Result<f64> {
    Ok(match arch {
        Arch::GptNeoX => f.opt_float("layer_norm_eps")?.unwrap_or(1e-5),
        _ => f.opt_float("rms_norm_eps")?.unwrap_or(1e-6),
    })
}

/// `eos_token_id` may be one id or a list; non-integer entries are ignored.
fn read_eos_token_ids(f: &Fields) -> Vec<i64> {
    match f.get("eos_token_id") {
        None => vec![],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
        Some(v) => v.as_i64().into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<ModelConfig> {
        ModelConfig::from_value(&v, Path::new("config.json"))
    }

    #[test]
    fn neox_partial_rotary_legacy_and_v5() {
        let legacy = parse(json!({"model_type":"gpt_neox","hidden_size":64,"num_attention_heads":4,
            "intermediate_size":256,"num_hidden_layers":2,"vocab_size":100,"rotary_pct":0.25,"rotary_emb_base":10000}))
        .unwrap();
        assert_eq!(legacy.rotary_dim, 4);
        assert!(legacy.parallel_residual);
        let v5 = parse(json!({"model_type":"gpt_neox","hidden_size":64,"num_attention_heads":4,
            "intermediate_size":256,"num_hidden_layers":2,"vocab_size":100,"use_parallel_residual":false,
            "rope_parameters":{"partial_rotary_factor":0.25,"rope_theta":10000.0,"rope_type":"default"}}))
        .unwrap();
        assert_eq!(v5.rotary_dim, 4);
        assert!(!v5.parallel_residual);
    }

    #[test]
    fn llama3_scaling_is_read() {
        let c = parse(json!({"model_type":"llama","hidden_size":32,"num_attention_heads":4,"num_key_value_heads":2,
            "intermediate_size":48,"num_hidden_layers":2,"vocab_size":64,
            "rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":16},
            "rope_theta":500000.0}))
        .unwrap();
        assert_eq!(c.rope.theta, 500000.0);
        let RopeScaling::Llama3(s) = c.rope.scaling else {
            panic!("{:?}", c.rope)
        };
        assert_eq!(s.factor, 8.0);
        assert_eq!(c.num_kv_heads, 2);
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(json!({"model_type":"mamba"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unsupported architecture `mamba`"), "{e}");
        let e = parse(json!({"model_type":"llama","hidden_size":"big"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("field `hidden_size`"), "{e}");
        let e = parse(json!({"model_type":"llama","hidden_size":32,"num_attention_heads":4,"num_key_value_heads":3,
            "intermediate_size":48,"num_hidden_layers":2,"vocab_size":64})).unwrap_err().to_string();
        assert!(e.contains("num_key_value_heads"), "{e}");
    }

    fn tiny(model_type: &str, extra: Value) -> Value {
        let mut v = json!({"model_type": model_type, "hidden_size": 32, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 8, "intermediate_size": 48, "num_hidden_layers": 12,
            "vocab_size": 64});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn gemma3_defaults_follow_transformers() {
        // A transformers-4 style config: legacy rope keys, no layer_types.
        let c = parse(tiny(
            "gemma3_text",
            json!({"rope_theta": 1e6, "sliding_window": 512,
            "query_pre_attn_scalar": 64}),
        ))
        .unwrap();
        assert_eq!(c.arch, Arch::Gemma3);
        assert!(c.tie_word_embeddings);
        assert_eq!(c.rope.theta, 1e6);
        assert_eq!(c.local_rope.unwrap().theta, 10000.0);
        assert_eq!(c.sliding_window, Some(512));
        let full: Vec<usize> = (0..12).filter(|&i| !c.sliding_layers[i]).collect();
        assert_eq!(full, vec![5, 11], "every sixth layer is global");
        assert_eq!(c.attn_scale, 64f64.powf(-0.5));
        assert_eq!((c.attn_softcap, c.final_softcap), (None, None));
        assert_eq!(c.activation, Activation::GeluTanh);
        // Gemma 2 without the keys takes the class defaults; an explicit null turns a cap off.
        let g2 = parse(tiny("gemma2", json!({"final_logit_softcapping": null}))).unwrap();
        assert_eq!((g2.attn_softcap, g2.final_softcap), (Some(50.0), None));
        assert_eq!(g2.sliding_layers[..4], [true, false, true, false]);
        // Mistral slides on every layer; Qwen3 only past max_window_layers, when switched on.
        let m = parse(tiny("mistral", json!({"sliding_window": 16}))).unwrap();
        assert!(m.sliding_layers.iter().all(|&s| s));
        let q = parse(tiny(
            "qwen3",
            json!({"sliding_window": 16, "use_sliding_window": true,
            "max_window_layers": 10}),
        ))
        .unwrap();
        assert_eq!(q.sliding_layers.iter().filter(|&&s| s).count(), 2);
    }

    #[test]
    fn fields_the_code_does_not_implement_are_refused_by_name() {
        let mut types = vec!["full_attention"; 12];
        types[3] = "chunked_attention";
        let cases = [
            (
                "gemma3_text",
                json!({"use_bidirectional_attention": true}),
                "use_bidirectional_attention",
            ),
            (
                "llama",
                json!({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}),
                "rope_type",
            ),
            (
                "phi3",
                json!({"rope_scaling": {"type": "longrope"}}),
                "`longrope` is not supported",
            ),
            (
                "qwen3",
                json!({"sliding_window": 4, "use_sliding_window": true,
                "layer_types": types}),
                "layer_types[3]",
            ),
            (
                "llama",
                json!({"final_logit_softcapping": 30.0}),
                "final_logit_softcapping",
            ),
            (
                "mistral",
                json!({"quantization_config": {"quant_method": "gptq"}}),
                "quantization_config",
            ),
            ("qwen3", json!({"num_experts": 8}), "num_experts"),
            (
                "llama",
                json!({"attention_chunk_size": 8192}),
                "attention_chunk_size",
            ),
            (
                "gemma3_text",
                json!({"rope_parameters": {"full_attention": {"rope_type": "dynamic"}}}),
                "rope_type",
            ),
            (
                "gemma3_text",
                json!({"rope_parameters": {"chunked_attention": {}}}),
                "rope_parameters.chunked_attention",
            ),
            ("gemma3", json!({}), "unsupported architecture `gemma3`"),
            (
                "gemma2",
                json!({"attn_logit_softcapping": -1.0}),
                "attn_logit_softcapping",
            ),
        ];
        for (arch, extra, want) in cases {
            let e = parse(tiny(arch, extra.clone()))
                .expect_err(&format!("{arch} {extra}"))
                .to_string();
            assert!(e.contains(want), "{arch} {extra}: {e}");
        }
    }
}
