"""An independent computation of the evaluator's cells from transformers' per-token log-probs.

usage: eval_reference.py BASE_DIR TRAIN.jsonl TEST.jsonl ADAPTER_OUT
Writes a random PEFT LoRA adapter (q_proj, v_proj; B ≠ 0) to ADAPTER_OUT, then prints the
{train, test} × {sensitive, non_sensitive} cells, privacy loss, utility and memorisation gap of
base + adapter against base, computed with transformers, PEFT and the `tokenizers` library.
"""
import json
import sys

import torch
import transformers as T
from peft import LoraConfig, PeftModel, get_peft_model
from tokenizers import Tokenizer

base_dir, train_path, test_path, adapter_dir = sys.argv[1:5]
torch.manual_seed(0)
peft = get_peft_model(T.AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32),
                      LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
with torch.no_grad():
    for n, p in peft.named_parameters():
        if "lora_B" in n:
            p.normal_(0, 0.02)
peft.save_pretrained(adapter_dir)
base = T.AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
tuned = PeftModel.from_pretrained(T.AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32), adapter_dir).eval()
tok = Tokenizer.from_file(f"{base_dir}/tokenizer.json")


def nll(model, ids):
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
    return [-lp[i - 1, ids[i]].item() for i in range(1, len(ids))]


def cells(path):
    acc = {"sensitive": [0, 0.0, 0.0], "non_sensitive": [0, 0.0, 0.0]}
    for line in open(path):
        r = json.loads(line)
        enc = tok.encode(r["text"])
        ids, offs = enc.ids, enc.offsets
        l1, l0 = nll(tuned, ids), nll(base, ids)
        for i in range(1, len(ids)):
            s, e = offs[i]
            sens = e > s and any(sp["start"] < e and s < sp["end"] for sp in r["spans"])
            a = acc["sensitive" if sens else "non_sensitive"]
            a[0] += 1
            a[1] += l1[i - 1]
            a[2] += l0[i - 1]
    return {k: {"tokens": n, "nll": s / n, "nll_base": s0 / n} for k, (n, s, s0) in acc.items()}


train, test = cells(train_path), cells(test_path)
print(json.dumps({
    "train": train, "test": test,
    "privacy_loss": train["sensitive"]["nll_base"] - train["sensitive"]["nll"],
    "utility_nll": test["non_sensitive"]["nll"],
    "utility_gain": test["non_sensitive"]["nll_base"] - test["non_sensitive"]["nll"],
    "memorisation_gap": test["sensitive"]["nll"] - train["sensitive"]["nll"],
}))
