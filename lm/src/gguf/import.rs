//! `triad model import-gguf`: a GGUF file (Llama or Gemma 3 architecture) to a Hugging Face
//! folder with config.json, model.safetensors (fp32), tokenizer.json and tokenizer_config.json;
//! for Gemma, also the notice and terms its licence requires. The tensor plans are in
//! [`super::plan`], the JSON files in [`super::hf_config`].

use super::dequant;
use super::hf_config;
use super::plan::{self, gguf_err, Fix, GgufArch, PlannedTensor};
use super::reader::{GgufFile, MetaValue, TensorInfo};
use super::tokenizer;
use crate::error::{LmError, Result};
use crate::weights::{write_safetensors, RawTensor};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The Gemma licence, for the summary, the notice and the docs.
pub const GEMMA_TERMS: &str = "Gemma Terms of Use (https://ai.google.dev/gemma/terms)";

#[derive(Debug)]
pub struct ImportSummary {
    pub architecture: String,
    pub tensors: usize,
    pub parameters: u64,
    pub vocab_size: usize,
    pub quant_types: BTreeMap<String, usize>,
    /// Terms the model comes under, when its family has its own (Gemma); the folder then
    /// holds a NOTICE naming them.
    pub terms: Option<&'static str>,
}

/// Convert `gguf_path` into a Hugging Face folder at `out_dir` (created if needed).
pub fn import_gguf(gguf_path: &Path, out_dir: &Path) -> Result<ImportSummary> {
    let g = GgufFile::open(gguf_path)?;
    let arch = read_architecture(&g)?;
    let hp = plan::hparams(&g, arch)?;
    let tok = tokenizer::build(&g)?;

    let by_name: BTreeMap<&str, &TensorInfo> =
        g.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let vocab = vocab_rows(&g, &by_name)?;
    let tied = !by_name.contains_key("output.weight");
    let plan = plan::plan_tensors(&hp, vocab, tied);
    check_no_extra_tensors(&g, &plan)?;
    let converted = convert_tensors(&g, &by_name, &plan)?;

    write_weights(out_dir, converted.tensors)?;
    let config = hf_config::config(gguf_path, &g, &hp, vocab, tied, &tok);
    write_json(out_dir, "config.json", &config)?;
    write_json(out_dir, "tokenizer.json", &tok.json)?;
    let tc = hf_config::tokenizer_config(&g, &hp, &tok);
    write_json(out_dir, "tokenizer_config.json", &tc)?;
    // Validate what was written with the same loader `score` uses.
    triad_data::tokenizer::Tokenizer::from_file(out_dir.join("tokenizer.json"))?;
    let terms = match arch {
        GgufArch::Gemma3 => Some(write_gemma_notice(gguf_path, &g, out_dir)?),
        GgufArch::Llama => None,
    };

    Ok(ImportSummary {
        architecture: arch.name().to_string(),
        tensors: plan.len(),
        parameters: converted.parameters,
        vocab_size: tok.vocab_size,
        quant_types: converted.quant_types,
        terms,
    })
}

/// `general.architecture`, which must be one the tensor plans know.
fn read_architecture(g: &GgufFile) -> Result<GgufArch> {
    let arch = g
        .meta("general.architecture")
        .and_then(MetaValue::as_str)
        .ok_or_else(|| gguf_err(g, "metadata `general.architecture` is missing".into()))?;
    GgufArch::parse(arch).ok_or_else(|| LmError::UnknownArchitecture {
        path: g.path.clone(),
        arch: arch.to_string(),
        supported: GgufArch::SUPPORTED,
    })
}

/// The vocabulary size, read off the embedding's rows; also refuses Llama 3.1 RoPE scaling
/// (`rope_freqs.weight`), which the exported config could not express.
fn vocab_rows(g: &GgufFile, by_name: &BTreeMap<&str, &TensorInfo>) -> Result<usize> {
    if by_name.contains_key("rope_freqs.weight") {
        return Err(gguf_err(
            g,
            "tensor `rope_freqs.weight` (Llama 3.1 RoPE scaling) is not supported by the importer"
                .into(),
        ));
    }
    by_name
        .get("token_embd.weight")
        .map(|t| t.shape()[0])
        .ok_or_else(|| gguf_err(g, "tensor `token_embd.weight` is missing".into()))
}

/// Refuse GGUF tensors outside the plan rather than silently dropping weights.
fn check_no_extra_tensors(g: &GgufFile, plan: &[PlannedTensor]) -> Result<()> {
    let planned: BTreeSet<&str> = plan.iter().map(|p| p.gguf.as_str()).collect();
    if let Some(extra) = g
        .tensors
        .iter()
        .find(|t| !planned.contains(t.name.as_str()))
    {
        let arch = g
            .meta("general.architecture")
            .and_then(MetaValue::as_str)
            .unwrap_or("?");
        return Err(gguf_err(
            g,
            format!(
                "tensor `{}` is not part of a plain {arch} model; refusing to drop it",
                extra.name
            ),
        ));
    }
    Ok(())
}

/// The fp32 weights by HF name, with counts for the summary.
struct Converted {
    tensors: BTreeMap<String, RawTensor>,
    quant_types: BTreeMap<String, usize>,
    parameters: u64,
}

/// Dequantise every planned tensor to fp32 (checking its shape) and apply its fix.
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
        let t = by_name
            .get(gname.as_str())
            .ok_or_else(|| gguf_err(g, format!("tensor `{gname}` is missing")))?;
        if t.shape() != p.shape {
            return Err(gguf_err(
                g,
                format!(
                    "tensor `{gname}` has shape {:?}, the metadata implies {:?}",
                    t.shape(),
                    p.shape
                ),
            ));
        }
        *quant_types
            .entry(dequant::type_name(t.ggml_type))
            .or_insert(0) += 1;
        let mut values = dequant::to_f32(t.ggml_type, g.tensor_bytes(t));
        match p.fix {
            Fix::None => {}
            Fix::Unpermute(h) => values = plan::unpermute(&values, p.shape[0], p.shape[1], h),
            Fix::NormShift => values.iter_mut().for_each(|v| *v -= 1.0),
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

/// Gemma's terms ask redistributors to pass on a notice and a copy of the terms: `NOTICE`
/// says so in any case; `GEMMA_TERMS.html` and `NOTICE.upstream.md` are copied from beside the
/// GGUF (`<stem>.GEMMA_TERMS.html`, `<stem>.NOTICE.md`, as scripts/fetch-gemma3.sh leaves them)
/// when they are there.
fn write_gemma_notice(gguf_path: &Path, g: &GgufFile, out_dir: &Path) -> Result<&'static str> {
    let stem = gguf_path.with_extension("");
    let beside = |suffix: &str| {
        let mut p = stem.clone().into_os_string();
        p.push(suffix);
        std::path::PathBuf::from(p)
    };
    let mut copied = vec![];
    for (src, dst) in [
        (beside(".GEMMA_TERMS.html"), "GEMMA_TERMS.html"),
        (beside(".NOTICE.md"), "NOTICE.upstream.md"),
    ] {
        if src.is_file() {
            let bytes = std::fs::read(&src).map_err(|e| LmError::io(&src, e))?;
            triad_data::fsutil::write_atomic(out_dir.join(dst), &bytes)?;
            copied.push(dst);
        }
    }
    let name = g
        .meta("general.name")
        .and_then(MetaValue::as_str)
        .unwrap_or("This model");
    let terms_copy = if copied.contains(&"GEMMA_TERMS.html") {
        "A copy of the terms is in GEMMA_TERMS.html.".to_string()
    } else {
        "Read the terms at https://ai.google.dev/gemma/terms before using or sharing it.".into()
    };
    let text = format!(
        "{name} is a Gemma model. Gemma is provided under and subject to the Gemma Terms of Use \
         found at ai.google.dev/gemma/terms.\n\n{terms_copy}\n\nThese weights were converted by \
         `triad model import-gguf` from {}: dequantised from its quantised blocks to fp32, so \
         they are a modified version of the original model.\n",
        gguf_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    triad_data::fsutil::write_atomic(out_dir.join("NOTICE"), text.as_bytes())?;
    Ok(GEMMA_TERMS)
}
