//! Rebuild a Hugging Face `tokenizer.json` (byte-level BPE) from GGUF tokenizer metadata.

use super::reader::{GgufFile, MetaValue};
use crate::error::{LmError, Result};
use serde_json::{json, Map, Value};

const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Token types of `tokenizer.ggml.token_type`.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// What the tokenizer says about special ids, for config.json and tokenizer_config.json.
pub struct TokenizerInfo {
    pub json: Value,
    pub bos: Option<(u32, String)>,
    pub eos: Option<(u32, String)>,
    pub add_bos: bool,
    pub vocab_size: usize,
}

pub fn build(g: &GgufFile) -> Result<TokenizerInfo> {
    let err = |m: String| LmError::Gguf {
        path: g.path.clone(),
        message: m,
    };
    let model = g
        .meta("tokenizer.ggml.model")
        .and_then(MetaValue::as_str)
        .unwrap_or("");
    if model != "gpt2" {
        return Err(err(format!(
            "tokenizer.ggml.model = `{model}` is not supported (only byte-level BPE, `gpt2`)"
        )));
    }
    let strings = |key: &str| -> Result<Vec<String>> {
        let arr = g
            .meta(key)
            .and_then(MetaValue::as_array)
            .ok_or_else(|| err(format!("metadata `{key}` is missing or not an array")))?;
        arr.iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| err(format!("`{key}` holds a non-string")))
            })
            .collect()
    };
    let tokens = strings("tokenizer.ggml.tokens")?;
    let merges = strings("tokenizer.ggml.merges")?;
    let types: Vec<i64> = match g
        .meta("tokenizer.ggml.token_type")
        .and_then(MetaValue::as_array)
    {
        Some(a) => a.iter().map(|v| v.as_f64().unwrap_or(1.0) as i64).collect(),
        None => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(err(format!(
            "{} token types for {} tokens",
            types.len(),
            tokens.len()
        )));
    }

    let mut vocab = Map::new();
    let mut added = vec![];
    for (id, (tok, &ty)) in tokens.iter().zip(&types).enumerate() {
        if vocab.insert(tok.clone(), json!(id)).is_some() {
            return Err(err(format!(
                "token `{tok}` appears twice in tokenizer.ggml.tokens"
            )));
        }
        if ty == CONTROL || ty == USER_DEFINED {
            added.push(
                json!({"id": id, "content": tok, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": ty == CONTROL}),
            );
        }
    }
    let merges: Vec<Value> = merges
        .iter()
        .map(|m| {
            let (a, b) = m
                .split_once(' ')
                .ok_or_else(|| err(format!("merge `{m}` is not two tokens")))?;
            Ok(json!([a, b]))
        })
        .collect::<Result<_>>()?;

    let pre = g
        .meta("tokenizer.ggml.pre")
        .and_then(MetaValue::as_str)
        .unwrap_or("default");
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let pre_tokenizer = match pre {
        // llama.cpp's `smollm`: every digit on its own, then the GPT-2 split.
        "smollm" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        "gpt-2" | "gpt2" | "default" => byte_level(true),
        "llama-bpe" | "llama3" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": false},
            byte_level(false)]}),
        other => {
            return Err(err(format!(
            "tokenizer.ggml.pre = `{other}` is not supported (smollm, gpt-2, default, llama-bpe)"
        )))
        }
    };

    let special = |key: &str| -> Option<(u32, String)> {
        let id = g.meta(key)?.as_u64()? as usize;
        tokens.get(id).map(|t| (id as u32, t.clone()))
    };
    let bos = special("tokenizer.ggml.bos_token_id");
    let eos = special("tokenizer.ggml.eos_token_id");
    let add_bos = g
        .meta("tokenizer.ggml.add_bos_token")
        .and_then(MetaValue::as_bool)
        .unwrap_or(false);
    let byte_post = json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true});
    let post_processor = match (&bos, add_bos) {
        (Some((id, tok)), true) => json!({"type": "Sequence", "processors": [byte_post, {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": tok, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {tok.clone(): {"id": tok, "ids": [id], "tokens": [tok]}}}]}),
        _ => byte_post,
    };
    let json = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": merges},
    });
    Ok(TokenizerInfo {
        json,
        bos,
        eos,
        add_bos,
        vocab_size: tokens.len(),
    })
}
