//! `triad model import-gguf`: a GGUF file (Llama architecture) to a Hugging Face folder with
//! config.json, model.safetensors (fp32), tokenizer.json and tokenizer_config.json.
//!
//! Conversion facts: GGUF dims are `[in, out]`, so reversing them gives `nn.Linear`'s `(out, in)`;
//! llama.cpp permutes Q/K rows for its RoPE layout, which is undone here; without `output.weight`
//! the head is tied to the embedding.

use super::dequant;
use super::reader::{GgufFile, MetaValue, TensorInfo};
use super::tokenizer;
use crate::error::{LmError, Result};
use crate::weights::{write_safetensors, RawTensor};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug)]
pub struct ImportSummary {
    pub architecture: String,
    pub tensors: usize,
    pub parameters: u64,
    pub vocab_size: usize,
    pub quant_types: BTreeMap<String, usize>,
}

struct Hparams {
    layers: usize,
    hidden: usize,
    ffn: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    ctx: usize,
    rope_theta: f64,
    eps: f64,
}

fn hparams(g: &GgufFile, arch: &str) -> Result<Hparams> {
    let need = |k: &str| -> Result<u64> {
        let key = format!("{arch}.{k}");
        g.meta(&key)
            .and_then(MetaValue::as_u64)
            .filter(|&v| v > 0)
            .ok_or_else(|| LmError::Gguf {
                path: g.path.clone(),
                message: format!("metadata `{key}` is missing or not a positive integer"),
            })
    };
    let float = |k: &str, default: f64| {
        g.meta(&format!("{arch}.{k}"))
            .and_then(MetaValue::as_f64)
            .unwrap_or(default)
    };
    let hidden = need("embedding_length")? as usize;
    let heads = need("attention.head_count")? as usize;
    let kv_heads = g
        .meta(&format!("{arch}.attention.head_count_kv"))
        .and_then(MetaValue::as_u64)
        .unwrap_or(heads as u64) as usize;
    let head_dim = g
        .meta(&format!("{arch}.attention.key_length"))
        .and_then(MetaValue::as_u64)
        .map(|v| v as usize)
        .unwrap_or(hidden / heads);
    if kv_heads == 0 || !heads.is_multiple_of(kv_heads) || !head_dim.is_multiple_of(2) {
        return Err(LmError::Gguf {
            path: g.path.clone(),
            message: format!("inconsistent attention shape: {heads} heads, {kv_heads} KV heads, head size {head_dim}"),
        });
    }
    if let Some(t) = g
        .meta(&format!("{arch}.rope.scaling.type"))
        .and_then(MetaValue::as_str)
    {
        if t != "none" {
            return Err(LmError::Gguf {
                path: g.path.clone(),
                message: format!("RoPE scaling `{t}` is not supported by the importer"),
            });
        }
    }
    Ok(Hparams {
        layers: need("block_count")? as usize,
        hidden,
        ffn: need("feed_forward_length")? as usize,
        heads,
        kv_heads,
        head_dim,
        ctx: need("context_length")? as usize,
        rope_theta: float("rope.freq_base", 10000.0),
        eps: float("attention.layer_norm_rms_epsilon", 1e-5),
    })
}

/// Undo llama.cpp's Q/K row order: `w.reshape(heads, 2, rows/heads/2, in).swapaxes(1, 2)`
/// was applied on export; this applies the inverse, `reshape(heads, rows/heads/2, 2, in)
/// .swapaxes(1, 2)`.
fn unpermute(w: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
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

/// Convert `gguf_path` into a Hugging Face folder at `out_dir` (created if needed).
pub fn import_gguf(gguf_path: &Path, out_dir: &Path) -> Result<ImportSummary> {
    let g = GgufFile::open(gguf_path)?;
    let arch = read_architecture(&g)?;
    let hp = hparams(&g, &arch)?;
    let tok = tokenizer::build(&g)?;

    let by_name: BTreeMap<&str, &TensorInfo> =
        g.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let vocab = vocab_rows(&g, &by_name)?;
    let tied = !by_name.contains_key("output.weight");
    let plan = plan_tensors(&hp, vocab, tied);
    check_no_extra_tensors(&g, &plan)?;
    let converted = convert_tensors(&g, &by_name, &plan)?;

    write_weights(out_dir, converted.tensors)?;
    write_json(
        out_dir,
        "config.json",
        &hf_config(gguf_path, &g, &hp, vocab, tied, &tok),
    )?;
    write_json(out_dir, "tokenizer.json", &tok.json)?;
    write_json(
        out_dir,
        "tokenizer_config.json",
        &tokenizer_config(&g, &hp, &tok),
    )?;
    // Validate what was written with the same loader `score` uses.
    triad_data::tokenizer::Tokenizer::from_file(out_dir.join("tokenizer.json"))?;

    Ok(ImportSummary {
        architecture: arch,
        tensors: plan.len(),
        parameters: converted.parameters,
        vocab_size: tok.vocab_size,
        quant_types: converted.quant_types,
    })
}

/// `general.architecture`, which must be `llama`: the only layout the tensor plan knows.
fn read_architecture(g: &GgufFile) -> Result<String> {
    let arch = g
        .meta("general.architecture")
        .and_then(MetaValue::as_str)
        .ok_or_else(|| LmError::Gguf {
            path: g.path.clone(),
            message: "metadata `general.architecture` is missing".into(),
        })?
        .to_string();
    if arch != "llama" {
        return Err(LmError::UnknownArchitecture {
            path: g.path.clone(),
            arch,
            supported: "llama (GGUF import)",
        });
    }
    Ok(arch)
}

/// The vocabulary size, read off the embedding's rows; also refuses Llama 3.1 RoPE scaling
/// (`rope_freqs.weight`), which the exported config could not express.
fn vocab_rows(g: &GgufFile, by_name: &BTreeMap<&str, &TensorInfo>) -> Result<usize> {
    if by_name.contains_key("rope_freqs.weight") {
        return Err(LmError::Gguf {
            path: g.path.clone(),
            message: "tensor `rope_freqs.weight` (Llama 3.1 RoPE scaling) is not supported by the importer".into(),
        });
    }
    by_name
        .get("token_embd.weight")
        .map(|t| t.shape()[0])
        .ok_or_else(|| LmError::Gguf {
            path: g.path.clone(),
            message: "tensor `token_embd.weight` is missing".into(),
        })
}

/// One tensor to convert: GGUF name, HF name, expected row-major shape, and the head count to
/// un-permute with (Q and K only).
struct PlannedTensor {
    gguf: String,
    hf: String,
    shape: Vec<usize>,
    unpermute_heads: Option<usize>,
}

impl PlannedTensor {
    fn new(gguf: String, hf: String, shape: Vec<usize>, unpermute_heads: Option<usize>) -> Self {
        Self {
            gguf,
            hf,
            shape,
            unpermute_heads,
        }
    }
}

/// Every tensor a plain Llama model with these hyper-parameters has, in conversion order; the head
/// is included only when it is not tied to the embedding.
fn plan_tensors(hp: &Hparams, vocab: usize, tied: bool) -> Vec<PlannedTensor> {
    let mut plan = vec![
        PlannedTensor::new(
            "token_embd.weight".into(),
            "model.embed_tokens.weight".into(),
            vec![vocab, hp.hidden],
            None,
        ),
        PlannedTensor::new(
            "output_norm.weight".into(),
            "model.norm.weight".into(),
            vec![hp.hidden],
            None,
        ),
    ];
    if !tied {
        plan.push(PlannedTensor::new(
            "output.weight".into(),
            "lm_head.weight".into(),
            vec![vocab, hp.hidden],
            None,
        ));
    }
    for i in 0..hp.layers {
        plan_layer(hp, i, &mut plan);
    }
    plan
}

/// The nine tensors of transformer block `i`.
fn plan_layer(hp: &Hparams, i: usize, plan: &mut Vec<PlannedTensor>) {
    let (q_rows, kv_rows) = (hp.heads * hp.head_dim, hp.kv_heads * hp.head_dim);
    let (hidden, ffn) = (hp.hidden, hp.ffn);
    let layer: [(&str, &str, Vec<usize>, Option<usize>); 9] = [
        (
            "attn_norm.weight",
            "input_layernorm.weight",
            vec![hidden],
            None,
        ),
        (
            "ffn_norm.weight",
            "post_attention_layernorm.weight",
            vec![hidden],
            None,
        ),
        (
            "attn_q.weight",
            "self_attn.q_proj.weight",
            vec![q_rows, hidden],
            Some(hp.heads),
        ),
        (
            "attn_k.weight",
            "self_attn.k_proj.weight",
            vec![kv_rows, hidden],
            Some(hp.kv_heads),
        ),
        (
            "attn_v.weight",
            "self_attn.v_proj.weight",
            vec![kv_rows, hidden],
            None,
        ),
        (
            "attn_output.weight",
            "self_attn.o_proj.weight",
            vec![hidden, q_rows],
            None,
        ),
        (
            "ffn_gate.weight",
            "mlp.gate_proj.weight",
            vec![ffn, hidden],
            None,
        ),
        (
            "ffn_up.weight",
            "mlp.up_proj.weight",
            vec![ffn, hidden],
            None,
        ),
        (
            "ffn_down.weight",
            "mlp.down_proj.weight",
            vec![hidden, ffn],
            None,
        ),
    ];
    for (g, h, shape, heads) in layer {
        plan.push(PlannedTensor::new(
            format!("blk.{i}.{g}"),
            format!("model.layers.{i}.{h}"),
            shape,
            heads,
        ));
    }
}

/// Refuse GGUF tensors outside the plan rather than silently dropping weights.
fn check_no_extra_tensors(g: &GgufFile, plan: &[PlannedTensor]) -> Result<()> {
    let planned: BTreeSet<&str> = plan.iter().map(|p| p.gguf.as_str()).collect();
    if let Some(extra) = g
        .tensors
        .iter()
        .find(|t| !planned.contains(t.name.as_str()))
    {
        return Err(LmError::Gguf {
            path: g.path.clone(),
            message: format!(
                "tensor `{}` is not part of a plain Llama model; refusing to drop it",
                extra.name
            ),
        });
    }
    Ok(())
}

/// The fp32 weights by HF name, with counts for the summary.
struct Converted {
    tensors: BTreeMap<String, RawTensor>,
    quant_types: BTreeMap<String, usize>,
    parameters: u64,
}

/// Dequantise every planned tensor to fp32 (checking its shape) and undo the Q/K permutation.
fn convert_tensors(
    g: &GgufFile,
    by_name: &BTreeMap<&str, &TensorInfo>,
    plan: &[PlannedTensor],
) -> Result<Converted> {
    let mut tensors = BTreeMap::new();
    let mut quant_types = BTreeMap::new();
    let mut parameters = 0u64;
    for p in plan {
        let gname = &p.gguf;
        let t = by_name.get(gname.as_str()).ok_or_else(|| LmError::Gguf {
            path: g.path.clone(),
            message: format!("tensor `{gname}` is missing"),
        })?;
        if t.shape() != p.shape {
            return Err(LmError::Gguf {
                path: g.path.clone(),
                message: format!(
                    "tensor `{gname}` has shape {:?}, the metadata implies {:?}",
                    t.shape(),
                    p.shape
                ),
            });
        }
        *quant_types
            .entry(dequant::type_name(t.ggml_type))
            .or_insert(0) += 1;
        let mut values = dequant::to_f32(t.ggml_type, g.tensor_bytes(t));
        if let Some(h) = p.unpermute_heads {
            values = unpermute(&values, p.shape[0], p.shape[1], h);
        }
        parameters += values.len() as u64;
        tensors.insert(p.hf.clone(), RawTensor::f32(p.shape.clone(), &values));
    }
    Ok(Converted {
        tensors,
        quant_types,
        parameters,
    })
}

/// Create `out_dir` and write `model.safetensors`; taking the tensors by value frees them
/// before the JSON files are written.
fn write_weights(out_dir: &Path, tensors: BTreeMap<String, RawTensor>) -> Result<()> {
    std::fs::create_dir_all(out_dir).map_err(|e| LmError::io(out_dir, e))?;
    write_safetensors(&out_dir.join("model.safetensors"), &tensors)
}

/// Write `v` as pretty JSON to `out_dir/name`, atomically.
fn write_json(out_dir: &Path, name: &str, v: &serde_json::Value) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(v).expect("serialisable");
    triad_data::fsutil::write_atomic(out_dir.join(name), &bytes)?;
    Ok(())
}

/// The `config.json` of a `LlamaForCausalLM` with these hyper-parameters, noting the GGUF source.
fn hf_config(
    gguf_path: &Path,
    g: &GgufFile,
    hp: &Hparams,
    vocab: usize,
    tied: bool,
    tok: &tokenizer::TokenizerInfo,
) -> serde_json::Value {
    json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": hp.hidden,
        "intermediate_size": hp.ffn,
        "num_hidden_layers": hp.layers,
        "num_attention_heads": hp.heads,
        "num_key_value_heads": hp.kv_heads,
        "head_dim": hp.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": hp.ctx,
        "rms_norm_eps": hp.eps,
        "rope_theta": hp.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": hp.rope_theta},
        "tie_word_embeddings": tied,
        "attention_bias": false,
        "mlp_bias": false,
        "bos_token_id": tok.bos.as_ref().map(|b| b.0),
        "eos_token_id": tok.eos.as_ref().map(|e| e.0),
        "torch_dtype": "float32",
        "triad_source": {
            "gguf": gguf_path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "general.name": g.meta("general.name").and_then(MetaValue::as_str),
            "note": "weights dequantised from the GGUF's quantised blocks; not bit-identical to the original checkpoint",
        },
    })
}

/// `tokenizer_config.json`: special tokens and the chat template, when the GGUF has them.
fn tokenizer_config(
    g: &GgufFile,
    hp: &Hparams,
    tok: &tokenizer::TokenizerInfo,
) -> serde_json::Value {
    let mut tc = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": tok.add_bos,
        "model_max_length": hp.ctx,
        "clean_up_tokenization_spaces": false,
    });
    if let Some((_, b)) = &tok.bos {
        tc["bos_token"] = json!(b);
    }
    if let Some((_, e)) = &tok.eos {
        tc["eos_token"] = json!(e);
    }
    if let Some(t) = g
        .meta("tokenizer.chat_template")
        .and_then(MetaValue::as_str)
    {
        tc["chat_template"] = json!(t);
    }
    tc
}

#[cfg(test)]
mod tests {
    use super::unpermute;

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
}
