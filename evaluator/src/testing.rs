//! Test fixtures: a word-level tokenizer that gives each digit its own token, and a bigram
//! language model whose next-token logits are set by hand.

use std::collections::BTreeMap;
use std::path::Path;
use triad_data::tokenizer::Tokenizer;
use triad_lm::tch::{Device, Kind};
use triad_lm::weights::{write_safetensors, RawTensor};
use triad_lm::CausalLm;

/// Vocabulary size of [`bigram_model`] (and room for every token of [`digit_tokenizer`]).
pub const VOCAB: usize = 16;

/// A tokenizer of whitespace-separated `words`, single digits and `.`: ids `[UNK]` 0, then
/// `words` from 1, then `0`–`9`, then `.`.
pub fn digit_tokenizer(dir: &Path, words: &[&str]) -> Tokenizer {
    let mut vocab = serde_json::Map::new();
    let tokens = std::iter::once("[UNK]".to_string())
        .chain(words.iter().map(|w| w.to_string()))
        .chain((0..10).map(|d| d.to_string()))
        .chain(std::iter::once(".".to_string()));
    for (i, t) in tokens.enumerate() {
        vocab.insert(t, i.into());
    }
    assert!(vocab.len() <= VOCAB, "too many words for the test model");
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "post_processor": null, "decoder": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Whitespace"}, {"type": "Digits", "individual_digits": true}]},
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
    });
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, json.to_string()).unwrap();
    Tokenizer::from_file(path).unwrap()
}

/// A one-layer Llama whose layer is all zeros, so the next token depends on the current one
/// alone: `logits[(current, next)]` (others 0). Token `i` embeds as the unit vector `e_i`,
/// which the final RMSNorm scales by √VOCAB; the head divides it back out.
pub fn bigram_model(dir: &Path, logits: &[((usize, usize), f32)]) -> CausalLm {
    let (v, inter) = (VOCAB, 8);
    let config = serde_json::json!({"model_type": "llama", "hidden_size": v,
        "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": v / 2,
        "intermediate_size": inter, "num_hidden_layers": 1, "vocab_size": v,
        "tie_word_embeddings": false, "rms_norm_eps": 1e-6});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut eye = vec![0f32; v * v];
    (0..v).for_each(|i| eye[i * v + i] = 1.0);
    let mut head = vec![0f32; v * v];
    for &((current, next), l) in logits {
        head[next * v + current] = l / (v as f32).sqrt();
    }
    let mut t = BTreeMap::new();
    let mut put = |name: &str, shape: Vec<usize>, values: &[f32]| {
        t.insert(name.to_string(), RawTensor::f32(shape, values));
    };
    put("model.embed_tokens.weight", vec![v, v], &eye);
    put("lm_head.weight", vec![v, v], &head);
    put("model.norm.weight", vec![v], &[1.0; VOCAB]);
    let p = "model.layers.0";
    for norm in ["input_layernorm", "post_attention_layernorm"] {
        put(&format!("{p}.{norm}.weight"), vec![v], &[1.0; VOCAB]);
    }
    for proj in ["q_proj", "k_proj", "v_proj", "o_proj"] {
        put(
            &format!("{p}.self_attn.{proj}.weight"),
            vec![v, v],
            &vec![0.0; v * v],
        );
    }
    for (proj, shape) in [
        ("gate_proj", [inter, v]),
        ("up_proj", [inter, v]),
        ("down_proj", [v, inter]),
    ] {
        put(
            &format!("{p}.mlp.{proj}.weight"),
            shape.to_vec(),
            &vec![0.0; v * inter],
        );
    }
    write_safetensors(&dir.join("model.safetensors"), &t).unwrap();
    CausalLm::load(dir, Kind::Float, Device::Cpu).unwrap()
}
