"""A tiny random model whose vocabulary matches a given tokenizer.json, for fast service tests.

usage: tiny_lm_with_tokenizer.py OUT_DIR TOKENIZER_JSON [FAMILY]

FAMILY is llama (the default), qwen3, mistral, phi3, gemma2 or gemma3_text; every family gets the
same small shape, with its own features switched on (QK-norm, sliding windows, soft-capping).
"""
import shutil
import sys

import torch
import transformers as T
from tokenizers import Tokenizer

out, tok = sys.argv[1:3]
family = sys.argv[3] if len(sys.argv) > 3 else "llama"
vocab = Tokenizer.from_file(tok).get_vocab_size(with_added_tokens=True)
torch.manual_seed(0)
shape = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
FAMILIES = {
    "llama": (T.LlamaConfig, dict(tie_word_embeddings=True)),
    "qwen3": (T.Qwen3Config, dict(head_dim=8, tie_word_embeddings=True)),
    "mistral": (T.MistralConfig, dict(sliding_window=16)),
    "phi3": (T.Phi3Config, dict(pad_token_id=0, bos_token_id=1, eos_token_id=2, sliding_window=16)),
    "gemma2": (T.Gemma2Config, dict(head_dim=8, sliding_window=16, query_pre_attn_scalar=8)),
    "gemma3_text": (T.Gemma3TextConfig, dict(head_dim=8, sliding_window=16, query_pre_attn_scalar=8,
                                             layer_types=["sliding_attention", "full_attention"])),
}
cls, extra = FAMILIES[family]
T.AutoModelForCausalLM.from_config(cls(**shape, **extra)).save_pretrained(out)
shutil.copy(tok, f"{out}/tokenizer.json")
