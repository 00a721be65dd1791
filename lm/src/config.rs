//! `config.json` of a Hugging Face model folder, normalised into one [`ModelConfig`].
//!
//! Both the transformers 5 layout (`rope_parameters`) and the older keys (`rope_theta`,
//! `rope_scaling`, `rotary_pct`, `rotary_emb_base`) are accepted, since checkpoints of both
//! kinds are in the wild.

use crate::error::{LmError, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
    Gemma,
    GptNeoX,
}

pub const SUPPORTED_ARCHS: &str = "llama, qwen2, gemma, gpt_neox";

impl Arch {
    pub fn from_model_type(s: &str) -> Option<Self> {
        Some(match s {
            "llama" | "LlamaForCausalLM" => Arch::Llama,
            "qwen2" | "Qwen2ForCausalLM" => Arch::Qwen2,
            "gemma" | "GemmaForCausalLM" => Arch::Gemma,
            "gpt_neox" | "GPTNeoXForCausalLM" => Arch::GptNeoX,
            _ => return None,
        })
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
    pub rope_theta: f64,
    pub llama3_scaling: Option<Llama3Scaling>,
    pub norm_eps: f64,
    pub tie_word_embeddings: bool,
    pub activation: Activation,
    /// GPT-NeoX only: attention and MLP read the same input and are added together.
    pub parallel_residual: bool,
    pub max_position_embeddings: i64,
    pub bos_token_id: Option<i64>,
    pub eos_token_ids: Vec<i64>,
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
        let shape = AttentionShape::read(&f, arch)?;
        let rope = Rope::read(&f, shape.head_dim)?;
        let activation = read_activation(&f, arch)?;
        let norm_eps = read_norm_eps(&f, arch)?;
        let eos_token_ids = read_eos_token_ids(&f);

        let cfg = ModelConfig {
            arch,
            vocab_size: f.positive("vocab_size")?,
            hidden_size: shape.hidden_size,
            intermediate_size: f.positive("intermediate_size")?,
            num_layers: f.positive("num_hidden_layers")?,
            num_heads: shape.num_heads,
            num_kv_heads: shape.num_kv_heads,
            head_dim: shape.head_dim,
            rotary_dim: rope.rotary_dim,
            rope_theta: rope.theta,
            llama3_scaling: rope.llama3_scaling,
            norm_eps,
            tie_word_embeddings: f
                .opt_bool("tie_word_embeddings")?
                .unwrap_or(matches!(arch, Arch::Gemma)),
            activation,
            parallel_residual: arch == Arch::GptNeoX
                && f.opt_bool("use_parallel_residual")?.unwrap_or(true),
            max_position_embeddings: f.opt_int("max_position_embeddings")?.unwrap_or(2048),
            bos_token_id: f.opt_int("bos_token_id")?,
            eos_token_ids,
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
    theta: f64,
    rotary_dim: i64,
    llama3_scaling: Option<Llama3Scaling>,
}

impl Rope {
    /// Read base, partial factor and scaling; `rope_parameters` wins over the legacy keys, but
    /// every present key is still type-checked.
    fn read(f: &Fields, head_dim: i64) -> Result<Self> {
        let path = f.path;
        let rope = f.v.get("rope_parameters").filter(|r| r.is_object());
        let rope_f = rope.map(|r| Fields { v: r, path });
        let legacy_scaling = f.v.get("rope_scaling").filter(|r| r.is_object());
        let theta = match &rope_f {
            Some(r) => r.opt_float("rope_theta")?,
            None => None,
        }
        .or(f.opt_float("rope_theta")?)
        .or(f.opt_float("rotary_emb_base")?)
        .unwrap_or(10000.0);
        let partial = match &rope_f {
            Some(r) => r.opt_float("partial_rotary_factor")?,
            None => None,
        }
        .or(f.opt_float("partial_rotary_factor")?)
        .or(f.opt_float("rotary_pct")?)
        .unwrap_or(1.0);
        if !(0.0..=1.0).contains(&partial) || partial == 0.0 {
            return Err(LmError::field(
                path,
                "rotary_pct",
                format!("must be in (0, 1], got {partial}"),
            ));
        }
        let rotary_dim = (head_dim as f64 * partial) as i64;
        let llama3_scaling = match rope.or(legacy_scaling) {
            None => None,
            Some(s) => read_llama3_scaling(&Fields { v: s, path })?,
        };
        Ok(Self {
            theta,
            rotary_dim,
            llama3_scaling,
        })
    }
}

/// Parse a RoPE scaling object: `default` means none, `llama3` needs all four of its factors.
fn read_llama3_scaling(sf: &Fields) -> Result<Option<Llama3Scaling>> {
    let path = sf.path;
    let kind = sf
        .opt_str("rope_type")?
        .or(sf.opt_str("type")?)
        .unwrap_or("default");
    match kind {
        "default" => Ok(None),
        "llama3" => {
            let need = |k: &str| {
                sf.opt_float(k)?.ok_or_else(|| {
                    LmError::field(
                        path,
                        format!("rope_parameters.{k}"),
                        "missing for llama3 scaling",
                    )
                })
            };
            Ok(Some(Llama3Scaling {
                factor: need("factor")?,
                low_freq_factor: need("low_freq_factor")?,
                high_freq_factor: need("high_freq_factor")?,
                original_max_position_embeddings: need("original_max_position_embeddings")?,
            }))
        }
        other => Err(LmError::field(
            path,
            "rope_parameters.rope_type",
            format!("`{other}` is not supported (supported: default, llama3)"),
        )),
    }
}

/// The MLP activation; Gemma may name it `hidden_activation`, and each family has its own default.
fn read_activation(f: &Fields, arch: Arch) -> Result<Activation> {
    let act_key = if arch == Arch::Gemma && f.get("hidden_activation").is_some() {
        "hidden_activation"
    } else {
        "hidden_act"
    };
    let default_act = match arch {
        Arch::Gemma => "gelu_pytorch_tanh",
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

/// The paths inside a Hugging Face model folder.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub root: PathBuf,
}

impl ModelDir {
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if !root.is_dir() {
            return Err(LmError::invalid(
                &root,
                "model folder does not exist or is not a directory",
            ));
        }
        Ok(Self { root })
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }
    pub fn tokenizer(&self) -> PathBuf {
        self.root.join("tokenizer.json")
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
        assert_eq!(c.rope_theta, 500000.0);
        assert_eq!(c.llama3_scaling.unwrap().factor, 8.0);
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
}
