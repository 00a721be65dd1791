"""Per-token log-probs under base model + PEFT adapter, loaded by PEFT itself.

usage: peft_logprobs.py BASE_DIR ADAPTER_DIR SCORES.jsonl
SCORES.jsonl is `triad model score` output (its token ids are reused). Prints one JSON object:
{"max_abs_diff": float, "tokens": int, "lora_modules": int}.
"""
import json
import sys

import torch
import transformers as T
from peft import PeftModel

base_dir, adapter_dir, scores = sys.argv[1:4]
base = T.AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
model = PeftModel.from_pretrained(base, adapter_dir).eval()
lora_modules = sum(1 for n, _ in model.named_modules() if n.endswith("lora_A"))
worst, count = 0.0, 0
for line in open(scores):
    rec = json.loads(line)
    ids = rec["tokens"]
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
    for i in range(1, len(ids)):
        worst = max(worst, abs(lp[i - 1, ids[i]].item() - rec["logprobs"][i]))
        count += 1
print(json.dumps({"max_abs_diff": worst, "tokens": count, "lora_modules": lora_modules}))
