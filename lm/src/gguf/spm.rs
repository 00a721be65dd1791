//! SentencePiece BPE vocabularies (GGUF `tokenizer.ggml.model = llama`: Llama 1/2, Gemma) as a
//! `tokenizers` BPE model.
//!
//! SentencePiece BPE repeatedly merges the adjacent pair whose concatenation is the
//! highest-scoring piece. The equivalent `tokenizers` model lists, for every normal piece, each
//! way to split it into two normal pieces, ranked by the piece's score; characters outside the
//! vocabulary fall back to `<0xXX>` byte pieces. Spaces become U+2581 and the text is never split
//! into words (SentencePiece sees it whole). User-defined pieces are matched whole before that,
//! as added tokens (llama.cpp stores them with real spaces for that reason).

use super::reader::{GgufFile, MetaValue};
use super::tokenizer::{err, vocab_and_added, Parts, NORMAL};
use crate::error::Result;
use serde_json::{json, Value};
use std::collections::HashMap;

const SPACE: &str = "\u{2581}";

/// Model, added tokens, normaliser and decoder for the SentencePiece vocabulary `tokens`.
pub(super) fn parts(
    g: &GgufFile,
    tokens: &[String],
    types: &[i64],
    unk: Option<&str>,
) -> Result<Parts> {
    let scores = scores(g, tokens.len())?;
    let prefix = g
        .meta("tokenizer.ggml.add_space_prefix")
        .and_then(MetaValue::as_bool)
        .unwrap_or(true);
    let (vocab, added) = vocab_and_added(g, tokens, types)?;
    let model = json!({"type": "BPE", "dropout": null, "unk_token": unk,
        "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": true,
        "byte_fallback": true, "ignore_merges": false, "vocab": vocab,
        "merges": merges(tokens, types, &scores)});
    let (normalizer, pre_tokenizer) = spaces(prefix);
    Ok(Parts {
        model,
        added,
        normalizer,
        pre_tokenizer,
        decoder: decoder(prefix),
        post_processor: None,
    })
}

/// `tokenizer.ggml.scores`, one float per token.
fn scores(g: &GgufFile, n_tokens: usize) -> Result<Vec<f64>> {
    let arr = g
        .meta("tokenizer.ggml.scores")
        .and_then(MetaValue::as_array)
        .ok_or_else(|| {
            err(
                g,
                "metadata `tokenizer.ggml.scores` is missing (a SentencePiece vocabulary needs it)"
                    .into(),
            )
        })?;
    if arr.len() != n_tokens {
        return Err(err(
            g,
            format!("{} token scores for {} tokens", arr.len(), n_tokens),
        ));
    }
    arr.iter()
        .map(|v| {
            v.as_f64()
                .filter(|s| s.is_finite())
                .ok_or_else(|| err(g, "`tokenizer.ggml.scores` holds a non-number".into()))
        })
        .collect()
}

/// Every split of a normal piece into two normal pieces, best-scoring piece first (ties by
/// id, then by the left part's id, so the order is deterministic).
fn merges(tokens: &[String], types: &[i64], scores: &[f64]) -> Vec<Value> {
    let normal: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .filter(|&(i, _)| types[i] == NORMAL)
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let mut order: Vec<usize> = normal.values().copied().collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut out = vec![];
    for id in order {
        let piece = &tokens[id];
        let mut splits: Vec<(usize, &str, &str)> = piece
            .char_indices()
            .skip(1)
            .filter_map(|(at, _)| {
                let (a, b) = piece.split_at(at);
                Some((*normal.get(a)?, a, b)).filter(|_| normal.contains_key(b))
            })
            .collect();
        splits.sort_unstable();
        out.extend(splits.into_iter().map(|(_, a, b)| json!([a, b])));
    }
    out
}

/// Normaliser and pre-tokeniser: spaces to U+2581 and, when the vocabulary adds a space prefix,
/// one U+2581 before the text's first segment only (not after each added token), as
/// transformers' non-legacy Llama tokenizer does. Known differences from SentencePiece, only
/// with a prefix: a text that starts with whitespace or an added token gets no prefix.
fn spaces(prefix: bool) -> (Value, Value) {
    if prefix {
        let metaspace = json!({"type": "Metaspace", "replacement": SPACE,
            "prepend_scheme": "first", "split": false});
        (Value::Null, metaspace)
    } else {
        let replace = json!({"type": "Replace", "pattern": {"String": " "}, "content": SPACE});
        (replace, Value::Null)
    }
}

/// U+2581 back to spaces, byte pieces back to UTF-8, and the prefix space dropped.
fn decoder(prefix: bool) -> Value {
    let mut steps = vec![
        json!({"type": "Replace", "pattern": {"String": SPACE}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if prefix {
        steps.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    json!({"type": "Sequence", "decoders": steps})
}
