//! Rebuild a Hugging Face `tokenizer.json` from GGUF tokenizer metadata: byte-level BPE
//! (`gpt2`) here, SentencePiece BPE (`llama`) in [`super::spm`].

use super::reader::{GgufFile, MetaValue};
use super::spm;
use crate::error::{LmError, Result};
use serde_json::{json, Map, Value};

const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Token types of `tokenizer.ggml.token_type`.
pub(super) const NORMAL: i64 = 1;
pub(super) const CONTROL: i64 = 3;
pub(super) const USER_DEFINED: i64 = 4;

/// What the tokenizer says about special ids, for config.json and tokenizer_config.json.
pub struct TokenizerInfo {
    pub json: Value,
    pub bos: Option<(u32, String)>,
    pub eos: Option<(u32, String)>,
    pub pad: Option<(u32, String)>,
    pub unk: Option<(u32, String)>,
    pub add_bos: bool,
    pub vocab_size: usize,
}

/// The parts of `tokenizer.json` that differ between vocabulary kinds.
pub(super) struct Parts {
    pub model: Value,
    pub added: Vec<Value>,
    pub normalizer: Value,
    pub pre_tokenizer: Value,
    pub decoder: Value,
    /// Runs before the BOS template, when there is one.
    pub post_processor: Option<Value>,
}

/// Build `tokenizer.json` and the special-token facts from the GGUF's `tokenizer.ggml.*` metadata.
pub fn build(g: &GgufFile) -> Result<TokenizerInfo> {
    let tokens = string_array(g, "tokenizer.ggml.tokens")?;
    let types = token_types(g, tokens.len())?;
    let special = |key: &str| special_token(g, &tokens, key);
    let (bos, eos) = (
        special("tokenizer.ggml.bos_token_id"),
        special("tokenizer.ggml.eos_token_id"),
    );
    let (pad, unk) = (
        special("tokenizer.ggml.padding_token_id"),
        special("tokenizer.ggml.unknown_token_id"),
    );
    let parts = match model_kind(g)? {
        Kind::ByteLevel => byte_level_parts(g, &tokens, &types)?,
        Kind::SentencePiece => spm::parts(g, &tokens, &types, unk.as_ref().map(|u| u.1.as_str()))?,
    };
    let add_bos = g
        .meta("tokenizer.ggml.add_bos_token")
        .and_then(MetaValue::as_bool)
        .unwrap_or(false);
    let post_processor = post_processor(parts.post_processor, bos.as_ref(), add_bos);
    let json = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": parts.added,
        "normalizer": parts.normalizer,
        "pre_tokenizer": parts.pre_tokenizer,
        "post_processor": post_processor,
        "decoder": parts.decoder,
        "model": parts.model,
    });
    Ok(TokenizerInfo {
        json,
        bos,
        eos,
        pad,
        unk,
        add_bos,
        vocab_size: tokens.len(),
    })
}

/// Byte-level BPE: the GGUF's own merges, a pre-tokeniser by `tokenizer.ggml.pre`.
fn byte_level_parts(g: &GgufFile, tokens: &[String], types: &[i64]) -> Result<Parts> {
    let merges = merge_pairs(g, &string_array(g, "tokenizer.ggml.merges")?)?;
    let (vocab, added) = vocab_and_added(g, tokens, types)?;
    Ok(Parts {
        model: json!({"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges}),
        added,
        normalizer: Value::Null,
        pre_tokenizer: pre_tokenizer(g)?,
        decoder: json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}),
        post_processor: Some(
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true}),
        ),
    })
}

/// An import error about `g` with message `m`.
pub(super) fn err(g: &GgufFile, m: String) -> LmError {
    LmError::Gguf {
        path: g.path.clone(),
        message: m,
    }
}

enum Kind {
    ByteLevel,
    SentencePiece,
}

/// `tokenizer.ggml.model`: `gpt2` (byte-level BPE) or `llama` (SentencePiece BPE).
fn model_kind(g: &GgufFile) -> Result<Kind> {
    let model = g
        .meta("tokenizer.ggml.model")
        .and_then(MetaValue::as_str)
        .unwrap_or("");
    match model {
        "gpt2" => Ok(Kind::ByteLevel),
        "llama" => Ok(Kind::SentencePiece),
        _ => Err(err(
            g,
            format!(
                "tokenizer.ggml.model = `{model}` is not supported (`gpt2`: byte-level BPE, `llama`: SentencePiece BPE)"
            ),
        )),
    }
}

/// The required string-array metadata `key`.
fn string_array(g: &GgufFile, key: &str) -> Result<Vec<String>> {
    let arr = g
        .meta(key)
        .and_then(MetaValue::as_array)
        .ok_or_else(|| err(g, format!("metadata `{key}` is missing or not an array")))?;
    arr.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| err(g, format!("`{key}` holds a non-string")))
        })
        .collect()
}

/// Per-token types (all normal when the metadata is absent), one per token.
fn token_types(g: &GgufFile, n_tokens: usize) -> Result<Vec<i64>> {
    let types: Vec<i64> = match g
        .meta("tokenizer.ggml.token_type")
        .and_then(MetaValue::as_array)
    {
        Some(a) => a.iter().map(|v| v.as_f64().unwrap_or(1.0) as i64).collect(),
        None => vec![1; n_tokens],
    };
    if types.len() != n_tokens {
        return Err(err(
            g,
            format!("{} token types for {} tokens", types.len(), n_tokens),
        ));
    }
    Ok(types)
}

/// The BPE vocabulary (token → id) and the `added_tokens` entries for control and user-defined
/// tokens, so they are never split.
pub(super) fn vocab_and_added(
    g: &GgufFile,
    tokens: &[String],
    types: &[i64],
) -> Result<(Map<String, Value>, Vec<Value>)> {
    let mut vocab = Map::new();
    let mut added = vec![];
    for (id, (tok, &ty)) in tokens.iter().zip(types).enumerate() {
        if vocab.insert(tok.clone(), json!(id)).is_some() {
            return Err(err(
                g,
                format!("token `{tok}` appears twice in tokenizer.ggml.tokens"),
            ));
        }
        if ty == CONTROL || ty == USER_DEFINED {
            added.push(
                json!({"id": id, "content": tok, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": ty == CONTROL}),
            );
        }
    }
    Ok((vocab, added))
}

/// GGUF merges are `"a b"` strings; `tokenizer.json` wants `["a", "b"]` pairs.
fn merge_pairs(g: &GgufFile, merges: &[String]) -> Result<Vec<Value>> {
    merges
        .iter()
        .map(|m| {
            let (a, b) = m
                .split_once(' ')
                .ok_or_else(|| err(g, format!("merge `{m}` is not two tokens")))?;
            Ok(json!([a, b]))
        })
        .collect()
}

/// The pre-tokenizer matching llama.cpp's `tokenizer.ggml.pre` name.
fn pre_tokenizer(g: &GgufFile) -> Result<Value> {
    let pre = g
        .meta("tokenizer.ggml.pre")
        .and_then(MetaValue::as_str)
        .unwrap_or("default");
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    Ok(match pre {
        // llama.cpp's `smollm`: every digit on its own, then the GPT-2 split.
        "smollm" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        "gpt-2" | "gpt2" | "default" => byte_level(true),
        "llama-bpe" | "llama3" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": false},
            byte_level(false)]}),
        other => {
            return Err(err(
                g,
                format!(
                    "tokenizer.ggml.pre = `{other}` is not supported (smollm, gpt-2, default, llama-bpe)"
                ),
            ))
        }
    })
}

/// The special token whose id is stored under `key`, if that id is in the vocabulary.
fn special_token(g: &GgufFile, tokens: &[String], key: &str) -> Option<(u32, String)> {
    let id = g.meta(key)?.as_u64()? as usize;
    tokens.get(id).map(|t| (id as u32, t.clone()))
}

/// `base` (byte-level post-processing, if any), then a template that prepends BOS when the GGUF
/// asks for it.
fn post_processor(base: Option<Value>, bos: Option<&(u32, String)>, add_bos: bool) -> Value {
    let template = match (bos, add_bos) {
        (Some((id, tok)), true) => json!({
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": tok, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {tok.clone(): {"id": tok, "ids": [id], "tokens": [tok]}}}),
        _ => return base.unwrap_or(Value::Null),
    };
    match base {
        Some(b) => json!({"type": "Sequence", "processors": [b, template]}),
        None => template,
    }
}
