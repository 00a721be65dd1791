"""Build tiny random transformers models and their reference logits, for Triad's parity tests.

usage: tiny_models.py OUT_DIR

For each config below, writes OUT_DIR/<name>/ (a Hugging Face folder from save_pretrained) and
OUT_DIR/<name>/reference.safetensors with padded batches (right- and left-padded), their
attention masks and transformers' fp32 logits.
"""
import json
import os
import sys

import torch
import transformers as T
from safetensors.torch import save_file

SMALL = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2, max_position_embeddings=64)

CONFIGS = {
    "llama-gqa2-untied": (T.LlamaConfig, dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)),
    "llama-mqa-tied": (T.LlamaConfig, dict(num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=True)),
    "llama-mha-bias": (T.LlamaConfig, dict(num_attention_heads=4, num_key_value_heads=4, attention_bias=True, mlp_bias=True, rms_norm_eps=1e-5)),
    "llama3-rope-scaling": (T.LlamaConfig, dict(num_attention_heads=4, num_key_value_heads=2, rope_theta=500000.0,
                            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8})),
    "qwen2-gqa2-untied": (T.Qwen2Config, dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)),
    "qwen2-mha-tied-sharded": (T.Qwen2Config, dict(num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=True)),
    "gemma-mqa-hd16": (T.GemmaConfig, dict(num_attention_heads=4, num_key_value_heads=1, head_dim=16)),
    "gemma-gqa2-hd8": (T.GemmaConfig, dict(num_attention_heads=4, num_key_value_heads=2, head_dim=8)),
    "qwen3-gqa2-qknorm": (T.Qwen3Config, dict(num_attention_heads=4, num_key_value_heads=2, head_dim=8, tie_word_embeddings=False)),
    "qwen3-sliding-tied": (T.Qwen3Config, dict(num_attention_heads=4, num_key_value_heads=4, head_dim=8, tie_word_embeddings=True,
                           use_sliding_window=True, sliding_window=4, max_window_layers=1)),
    "mistral-gqa2-window4": (T.MistralConfig, dict(num_attention_heads=4, num_key_value_heads=2, sliding_window=4)),
    "phi3-gqa2-window5": (T.Phi3Config, dict(num_attention_heads=4, num_key_value_heads=2, sliding_window=5,
                          pad_token_id=0, bos_token_id=1, eos_token_id=2)),
    "phi3-mha-partial-rot": (T.Phi3Config, dict(num_attention_heads=4, num_key_value_heads=4, pad_token_id=0, bos_token_id=1,
                             eos_token_id=2, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                              "partial_rotary_factor": 0.5})),
    "gemma2-softcap-window": (T.Gemma2Config, dict(num_attention_heads=4, num_key_value_heads=2, head_dim=8, sliding_window=4,
                              query_pre_attn_scalar=12, attn_logit_softcapping=2.0, final_logit_softcapping=30.0)),
    "gemma3-local-global": (T.Gemma3TextConfig, dict(num_attention_heads=4, num_key_value_heads=1, head_dim=16, sliding_window=4,
                            query_pre_attn_scalar=16, layer_types=["sliding_attention", "full_attention"],
                            rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10.0},
                                             "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}})),
    "gemma3-linear-rope-hd8": (T.Gemma3TextConfig, dict(num_attention_heads=4, num_key_value_heads=2, head_dim=8, sliding_window=5,
                               query_pre_attn_scalar=8, layer_types=["full_attention", "sliding_attention"],
                               rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                                "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 100.0}})),
    "neox-parallel-rot25": (T.GPTNeoXConfig, dict(num_attention_heads=4, rotary_pct=0.25, use_parallel_residual=True)),
    "neox-sequential-rot50": (T.GPTNeoXConfig, dict(num_attention_heads=4, rotary_pct=0.5, use_parallel_residual=False)),
    "neox-tied-rot100": (T.GPTNeoXConfig, dict(num_attention_heads=2, rotary_pct=1.0, tie_word_embeddings=True)),
}

LENGTHS = [12, 7, 3]


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    gemma = model.config.model_type.startswith("gemma")
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_((0.0 if gemma else 1.0) + 0.1 * noise)
            else:
                p.copy_(0.15 * noise)


def batch(vocab, pad_side, seed):
    g = torch.Generator().manual_seed(seed)
    t = max(LENGTHS)
    ids = torch.zeros(len(LENGTHS), t, dtype=torch.long)
    mask = torch.zeros(len(LENGTHS), t, dtype=torch.long)
    for i, n in enumerate(LENGTHS):
        toks = torch.randint(1, vocab, (n,), generator=g)
        if pad_side == "right":
            ids[i, :n], mask[i, :n] = toks, 1
        else:
            ids[i, t - n:], mask[i, t - n:] = toks, 1
    return ids, mask


def main(out):
    torch.manual_seed(0)
    for k, (name, (cls, extra)) in enumerate(CONFIGS.items()):
        cfg = cls(**SMALL, **extra)
        cfg._attn_implementation = "eager"  # an independent path from libtorch's fused kernel
        model = T.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
        randomize(model, 1000 + k)
        d = os.path.join(out, name)
        shard = "20KB" if "sharded" in name else "5GB"
        model.save_pretrained(d, max_shard_size=shard)
        ref = {}
        for side in ("right", "left"):
            ids, mask = batch(cfg.vocab_size, side, 7 + k)
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=mask).logits
            ref[f"input_ids_{side}"] = ids
            ref[f"mask_{side}"] = mask
            ref[f"logits_{side}"] = logits.float().contiguous()
        save_file(ref, os.path.join(d, "reference.safetensors"))
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(sorted(CONFIGS), f)


if __name__ == "__main__":
    main(sys.argv[1])
