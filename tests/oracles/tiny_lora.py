"""A tiny random Llama, PEFT LoRA adapters on it, and PEFT's logits, for Triad's adapter tests.

usage: tiny_lora.py OUT_DIR
Writes OUT_DIR/base/ (model), OUT_DIR/<adapter>/ (PEFT adapter folders) and
OUT_DIR/<adapter>/reference.safetensors (input ids and PEFT's fp32 logits).
"""
import os
import sys

import torch
import transformers as T
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file

ADAPTERS = {
    "lora-qv": dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    "rslora-all": dict(r=8, lora_alpha=16, use_rslora=True,
                       target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
}


def main(out):
    torch.manual_seed(0)
    cfg = T.LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    base = T.AutoModelForCausalLM.from_config(cfg).eval()
    with torch.no_grad():
        for p in base.parameters():
            p.normal_(0, 0.15)
    base.save_pretrained(os.path.join(out, "base"))
    ids = torch.randint(1, 97, (2, 10))
    for name, kw in ADAPTERS.items():
        model = get_peft_model(T.AutoModelForCausalLM.from_pretrained(os.path.join(out, "base")), LoraConfig(**kw)).eval()
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_" in n:
                    p.normal_(0, 0.2)  # PEFT starts B at zero; make the adapter matter
            logits = model(input_ids=ids).logits
        d = os.path.join(out, name)
        model.save_pretrained(d)
        save_file({"input_ids": ids, "logits": logits.float().contiguous()}, os.path.join(d, "reference.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1])
