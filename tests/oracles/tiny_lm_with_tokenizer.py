"""A tiny random Llama whose vocabulary matches a given tokenizer.json, for fast service tests.

usage: tiny_lm_with_tokenizer.py OUT_DIR TOKENIZER_JSON
"""
import shutil
import sys

import torch
import transformers as T
from tokenizers import Tokenizer

out, tok = sys.argv[1:3]
vocab = Tokenizer.from_file(tok).get_vocab_size(with_added_tokens=True)
torch.manual_seed(0)
cfg = T.LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                    tie_word_embeddings=True)
T.AutoModelForCausalLM.from_config(cfg).save_pretrained(out)
shutil.copy(tok, f"{out}/tokenizer.json")
