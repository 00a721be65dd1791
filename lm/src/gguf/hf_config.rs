//! `config.json` and `tokenizer_config.json` of an imported model, laid out as transformers 5
//! writes them for the architecture.

use super::plan::{GgufArch, Hparams};
use super::reader::{GgufFile, MetaValue};
use super::tokenizer::TokenizerInfo;
use serde_json::{json, Value};
use std::path::Path;

/// Gemma 3 layers attend globally every this many layers (the rest through the sliding
/// window): llama.cpp's and transformers' pattern for every Gemma 3 size.
const GEMMA3_GLOBAL_EVERY: usize = 6;
/// Gemma 3 sliding layers' RoPE base: not in the GGUF; llama.cpp and transformers fix it.
const GEMMA3_LOCAL_ROPE_BASE: f64 = 10000.0;

/// The `config.json` for these hyper-parameters, noting the GGUF source.
pub fn config(
    gguf_path: &Path,
    g: &GgufFile,
    hp: &Hparams,
    vocab: usize,
    tied: bool,
    tok: &TokenizerInfo,
) -> Value {
    let mut c = match hp.arch {
        GgufArch::Llama => llama(hp, vocab, tied, tok),
        GgufArch::Gemma3 => gemma3(hp, vocab, tied, tok),
    };
    c["triad_source"] = json!({
        "gguf": gguf_path.file_name().map(|n| n.to_string_lossy().into_owned()),
        "general.name": g.meta("general.name").and_then(MetaValue::as_str),
        "general.license": g.meta("general.license").and_then(MetaValue::as_str),
        "note": "weights dequantised from the GGUF's quantised blocks; not bit-identical to the original checkpoint",
    });
    c
}

fn id(t: &Option<(u32, String)>) -> Option<u32> {
    t.as_ref().map(|t| t.0)
}

/// `LlamaForCausalLM`.
fn llama(hp: &Hparams, vocab: usize, tied: bool, tok: &TokenizerInfo) -> Value {
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
        "bos_token_id": id(&tok.bos),
        "eos_token_id": id(&tok.eos),
        "torch_dtype": "float32",
    })
}

/// `Gemma3ForCausalLM` (`gemma3_text`), with the keys of `Gemma3TextConfig(...).to_dict()`.
fn gemma3(hp: &Hparams, vocab: usize, tied: bool, tok: &TokenizerInfo) -> Value {
    let layer_types: Vec<&str> = (0..hp.layers)
        .map(|i| {
            if (i + 1) % GEMMA3_GLOBAL_EVERY == 0 {
                "full_attention"
            } else {
                "sliding_attention"
            }
        })
        .collect();
    let full = match hp.rope_linear {
        Some(f) => json!({"rope_type": "linear", "factor": f, "rope_theta": hp.rope_theta}),
        None => json!({"rope_type": "default", "rope_theta": hp.rope_theta}),
    };
    // llama.cpp scales 27B's (62 layers) queries by hidden/heads, every other size's by head_dim.
    let query_pre_attn_scalar = if hp.layers == 62 {
        hp.hidden / hp.heads
    } else {
        hp.head_dim
    };
    json!({
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "vocab_size": vocab,
        "hidden_size": hp.hidden,
        "intermediate_size": hp.ffn,
        "num_hidden_layers": hp.layers,
        "num_attention_heads": hp.heads,
        "num_key_value_heads": hp.kv_heads,
        "head_dim": hp.head_dim,
        "hidden_activation": "gelu_pytorch_tanh",
        "max_position_embeddings": hp.ctx,
        "initializer_range": 0.02,
        "rms_norm_eps": hp.eps,
        "use_cache": true,
        "pad_token_id": id(&tok.pad),
        "eos_token_id": id(&tok.eos),
        "bos_token_id": id(&tok.bos),
        "tie_word_embeddings": tied,
        "rope_parameters": {
            "sliding_attention": {"rope_type": "default", "rope_theta": GEMMA3_LOCAL_ROPE_BASE},
            "full_attention": full,
        },
        "attention_bias": false,
        "attention_dropout": 0.0,
        "query_pre_attn_scalar": query_pre_attn_scalar,
        "sliding_window": hp.sliding_window,
        "layer_types": layer_types,
        "final_logit_softcapping": null,
        "attn_logit_softcapping": null,
        "use_bidirectional_attention": false,
        "dtype": "float32",
    })
}

/// `tokenizer_config.json`: special tokens and the chat template, when the GGUF has them.
pub fn tokenizer_config(g: &GgufFile, hp: &Hparams, tok: &TokenizerInfo) -> Value {
    let mut tc = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": tok.add_bos,
        "add_eos_token": false,
        "model_max_length": hp.ctx,
        "clean_up_tokenization_spaces": false,
    });
    let names = [
        ("bos_token", &tok.bos),
        ("eos_token", &tok.eos),
        ("pad_token", &tok.pad),
        ("unk_token", &tok.unk),
    ];
    for (key, t) in names {
        if let Some((_, s)) = t {
            tc[key] = json!(s);
        }
    }
    if let Some(t) = g
        .meta("tokenizer.chat_template")
        .and_then(MetaValue::as_str)
    {
        tc["chat_template"] = json!(t);
    }
    tc
}
