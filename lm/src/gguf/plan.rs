//! Per-architecture tensor plans: which GGUF tensor becomes which Hugging Face tensor, with what
//! shape, and what llama.cpp's converter did to it that must be undone.
//!
//! Conversion facts: GGUF dims are `[in, out]`, so reversing them gives `nn.Linear`'s `(out, in)`.
//! Llama: llama.cpp permutes Q/K rows for its RoPE layout. Gemma 3: no permutation, but every
//! RMSNorm weight is stored as `1 + w` (Gemma scales by `1 + w`; llama.cpp by `w`).

use super::reader::{GgufFile, MetaValue};
use crate::error::{LmError, Result};

/// The GGUF architectures the importer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgufArch {
    Llama,
    Gemma3,
}

impl GgufArch {
    pub const SUPPORTED: &'static str = "llama, gemma3 (GGUF import)";

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "llama" => Some(Self::Llama),
            "gemma3" => Some(Self::Gemma3),
            _ => None,
        }
    }

    /// The `general.architecture` name, which prefixes the hyper-parameter keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Gemma3 => "gemma3",
        }
    }
}

/// Hyper-parameters from `{arch}.*` metadata.
pub struct Hparams {
    pub arch: GgufArch,
    pub layers: usize,
    pub hidden: usize,
    pub ffn: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ctx: usize,
    pub rope_theta: f64,
    /// Gemma 3: linear RoPE scaling factor of the global layers (4B and larger).
    pub rope_linear: Option<f64>,
    pub eps: f64,
    /// Gemma 3: the sliding-window size.
    pub sliding_window: Option<usize>,
}

/// An import error about `g`.
pub(super) fn gguf_err(g: &GgufFile, message: String) -> LmError {
    LmError::Gguf {
        path: g.path.clone(),
        message,
    }
}

/// Read the hyper-parameters of `arch` from `g`'s metadata.
pub fn hparams(g: &GgufFile, arch: GgufArch) -> Result<Hparams> {
    let a = arch.name();
    let int = |k: &str| {
        g.meta(&format!("{a}.{k}"))
            .and_then(MetaValue::as_u64)
            .map(|v| v as usize)
    };
    let need = |k: &str| {
        int(k).filter(|&v| v > 0).ok_or_else(|| {
            gguf_err(
                g,
                format!("metadata `{a}.{k}` is missing or not a positive integer"),
            )
        })
    };
    let float = |k: &str, default: f64| {
        g.meta(&format!("{a}.{k}"))
            .and_then(MetaValue::as_f64)
            .unwrap_or(default)
    };
    let hidden = need("embedding_length")?;
    let heads = need("attention.head_count")?;
    let kv_heads = int("attention.head_count_kv").unwrap_or(heads);
    let head_dim = int("attention.key_length").unwrap_or(hidden / heads);
    if kv_heads == 0 || !heads.is_multiple_of(kv_heads) || !head_dim.is_multiple_of(2) {
        return Err(gguf_err(g, format!("inconsistent attention shape: {heads} heads, {kv_heads} KV heads, head size {head_dim}")));
    }
    Ok(Hparams {
        arch,
        layers: need("block_count")?,
        hidden,
        ffn: need("feed_forward_length")?,
        heads,
        kv_heads,
        head_dim,
        ctx: need("context_length")?,
        rope_theta: float("rope.freq_base", 10000.0),
        rope_linear: rope_scaling(g, arch)?,
        eps: float("attention.layer_norm_rms_epsilon", 1e-5),
        sliding_window: match arch {
            GgufArch::Gemma3 => Some(need("attention.sliding_window")?),
            GgufArch::Llama => None,
        },
    })
}

/// `{arch}.rope.scaling.*`: none, or (Gemma 3 only) linear with its factor; anything else is
/// refused, since the exported config could not express it.
fn rope_scaling(g: &GgufFile, arch: GgufArch) -> Result<Option<f64>> {
    let a = arch.name();
    let kind = g
        .meta(&format!("{a}.rope.scaling.type"))
        .and_then(MetaValue::as_str)
        .unwrap_or("none");
    let factor = g
        .meta(&format!("{a}.rope.scaling.factor"))
        .and_then(MetaValue::as_f64);
    match (kind, arch) {
        ("none", _) => Ok(None),
        ("linear", GgufArch::Gemma3) => match factor.filter(|f| f.is_finite() && *f > 0.0) {
            Some(1.0) => Ok(None),
            Some(f) => Ok(Some(f)),
            None => Err(gguf_err(
                g,
                format!("linear RoPE scaling without a positive `{a}.rope.scaling.factor`"),
            )),
        },
        (t, _) => Err(gguf_err(
            g,
            format!("RoPE scaling `{t}` is not supported by the importer for {a}"),
        )),
    }
}

/// What to undo on a tensor after dequantising it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fix {
    None,
    /// llama.cpp's Q/K row permutation, with this many heads.
    Unpermute(usize),
    /// Gemma's `1 + w` norm weights: subtract the 1 again.
    NormShift,
}

/// One tensor to convert: GGUF name, HF name, expected row-major shape, and the fix to apply.
pub struct PlannedTensor {
    pub gguf: String,
    pub hf: String,
    pub shape: Vec<usize>,
    pub fix: Fix,
}

fn planned(gguf: String, hf: String, shape: Vec<usize>, fix: Fix) -> PlannedTensor {
    PlannedTensor {
        gguf,
        hf,
        shape,
        fix,
    }
}

/// Every tensor a model with these hyper-parameters has, in conversion order; the head is
/// included only when it is not tied to the embedding.
pub fn plan_tensors(hp: &Hparams, vocab: usize, tied: bool) -> Vec<PlannedTensor> {
    let norm_fix = match hp.arch {
        GgufArch::Llama => Fix::None,
        GgufArch::Gemma3 => Fix::NormShift,
    };
    let top = |g: &str, h: &str, shape: Vec<usize>, fix| planned(g.into(), h.into(), shape, fix);
    let mut plan = vec![
        top(
            "token_embd.weight",
            "model.embed_tokens.weight",
            vec![vocab, hp.hidden],
            Fix::None,
        ),
        top(
            "output_norm.weight",
            "model.norm.weight",
            vec![hp.hidden],
            norm_fix,
        ),
    ];
    if !tied {
        plan.push(top(
            "output.weight",
            "lm_head.weight",
            vec![vocab, hp.hidden],
            Fix::None,
        ));
    }
    for i in 0..hp.layers {
        let layer = match hp.arch {
            GgufArch::Llama => llama_layer(hp),
            GgufArch::Gemma3 => gemma3_layer(hp),
        };
        plan.extend(layer.into_iter().map(|(g, h, shape, fix)| {
            planned(
                format!("blk.{i}.{g}.weight"),
                format!("model.layers.{i}.{h}.weight"),
                shape,
                fix,
            )
        }));
    }
    plan
}

/// `(GGUF suffix, HF suffix, shape, fix)` of one layer's tensors.
type LayerTensor = (&'static str, &'static str, Vec<usize>, Fix);

/// The attention and MLP projections every architecture here shares.
fn projections(hp: &Hparams, q_fix: Fix, k_fix: Fix) -> Vec<LayerTensor> {
    let (q_rows, kv_rows) = (hp.heads * hp.head_dim, hp.kv_heads * hp.head_dim);
    let (hidden, ffn) = (hp.hidden, hp.ffn);
    vec![
        ("attn_q", "self_attn.q_proj", vec![q_rows, hidden], q_fix),
        ("attn_k", "self_attn.k_proj", vec![kv_rows, hidden], k_fix),
        (
            "attn_v",
            "self_attn.v_proj",
            vec![kv_rows, hidden],
            Fix::None,
        ),
        (
            "attn_output",
            "self_attn.o_proj",
            vec![hidden, q_rows],
            Fix::None,
        ),
        ("ffn_gate", "mlp.gate_proj", vec![ffn, hidden], Fix::None),
        ("ffn_up", "mlp.up_proj", vec![ffn, hidden], Fix::None),
        ("ffn_down", "mlp.down_proj", vec![hidden, ffn], Fix::None),
    ]
}

/// Llama: two norms, Q/K un-permuted.
fn llama_layer(hp: &Hparams) -> Vec<LayerTensor> {
    let mut t = vec![
        ("attn_norm", "input_layernorm", vec![hp.hidden], Fix::None),
        (
            "ffn_norm",
            "post_attention_layernorm",
            vec![hp.hidden],
            Fix::None,
        ),
    ];
    t.extend(projections(
        hp,
        Fix::Unpermute(hp.heads),
        Fix::Unpermute(hp.kv_heads),
    ));
    t
}

/// Gemma 3: four norms around attention and MLP plus per-head Q/K norms, all stored `1 + w`.
fn gemma3_layer(hp: &Hparams) -> Vec<LayerTensor> {
    let (h, d, shift) = (hp.hidden, hp.head_dim, Fix::NormShift);
    let mut t = vec![
        ("attn_norm", "input_layernorm", vec![h], shift),
        (
            "post_attention_norm",
            "post_attention_layernorm",
            vec![h],
            shift,
        ),
        ("ffn_norm", "pre_feedforward_layernorm", vec![h], shift),
        (
            "post_ffw_norm",
            "post_feedforward_layernorm",
            vec![h],
            shift,
        ),
        ("attn_q_norm", "self_attn.q_norm", vec![d], shift),
        ("attn_k_norm", "self_attn.k_norm", vec![d], shift),
    ];
    t.extend(projections(hp, Fix::None, Fix::None));
    t
}

/// Undo llama.cpp's Q/K row order: `w.reshape(heads, 2, rows/heads/2, in).swapaxes(1, 2)`
/// was applied on export; this applies the inverse, `reshape(heads, rows/heads/2, 2, in)
/// .swapaxes(1, 2)`.
pub fn unpermute(w: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let half = rows / heads / 2;
    let mut out = vec![0f32; w.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                // source row in GGUF order: (h, i, j) of shape (heads, half, 2)
                let src = (h * half + i) * 2 + j;
                // destination row in HF order: (h, j, i) of shape (heads, 2, half)
                let dst = (h * 2 + j) * half + i;
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // llama.cpp: w.reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2)
        let (rows, cols, heads) = (12, 3, 3);
        let w: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let half = rows / heads / 2;
        let mut permuted = vec![0f32; w.len()];
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..half {
                    let src = (h * 2 + j) * half + i;
                    let dst = (h * half + i) * 2 + j;
                    permuted[dst * cols..(dst + 1) * cols]
                        .copy_from_slice(&w[src * cols..(src + 1) * cols]);
                }
            }
        }
        assert_ne!(permuted, w);
        assert_eq!(unpermute(&permuted, rows, cols, heads), w);
    }

    fn hp(arch: GgufArch) -> Hparams {
        Hparams {
            arch,
            layers: 2,
            hidden: 8,
            ffn: 16,
            heads: 2,
            kv_heads: 1,
            head_dim: 4,
            ctx: 32,
            rope_theta: 1e4,
            rope_linear: None,
            eps: 1e-6,
            sliding_window: Some(4),
        }
    }

    #[test]
    fn gemma3_plan_names_shapes_and_fixes() {
        let plan = plan_tensors(&hp(GgufArch::Gemma3), 10, true);
        assert_eq!(plan.len(), 2 + 2 * 13);
        let find = |g: &str| plan.iter().find(|p| p.gguf == g).unwrap();
        let q_norm = find("blk.1.attn_q_norm.weight");
        assert_eq!(q_norm.hf, "model.layers.1.self_attn.q_norm.weight");
        assert_eq!(
            (q_norm.shape.clone(), q_norm.fix),
            (vec![4], Fix::NormShift)
        );
        let ffn_norm = find("blk.0.ffn_norm.weight");
        assert_eq!(
            ffn_norm.hf,
            "model.layers.0.pre_feedforward_layernorm.weight"
        );
        assert_eq!(find("blk.0.attn_q.weight").fix, Fix::None);
        assert_eq!(find("blk.0.attn_q.weight").shape, vec![8, 8]);
        assert_eq!(find("output_norm.weight").fix, Fix::NormShift);
        assert!(plan.iter().all(|p| p.hf != "lm_head.weight"));
    }

    #[test]
    fn llama_plan_unpermutes_q_and_k() {
        let plan = plan_tensors(&hp(GgufArch::Llama), 10, false);
        assert_eq!(plan.len(), 3 + 2 * 9);
        let k = plan
            .iter()
            .find(|p| p.gguf == "blk.0.attn_k.weight")
            .unwrap();
        assert_eq!((k.shape.clone(), k.fix), (vec![4, 8], Fix::Unpermute(1)));
        assert!(plan.iter().all(|p| p.fix != Fix::NormShift));
    }
}
