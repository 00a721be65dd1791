"""Reference numbers for SmolLM2 imported by `triad model import-gguf`.

usage: smollm2_reference.py FOLDER GGUF_FILE TRIAD_SCORES.jsonl TEXTS.jsonl

Loads the folder Triad wrote with transformers (proving it loads), loads the GGUF with
transformers' own GGUF reader (an independent dequantiser), and for each scored text computes
per-token log-probs of Triad's token ids under both. Prints one JSON object with the differences
to Triad's log-probs and whether the tokenisations agree.
"""
import json
import os
import sys

import torch
import transformers as T
from tokenizers import Tokenizer


def logprobs(model, ids):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    return [None] + [lp[i - 1, ids[i]].item() for i in range(1, len(ids))]


def main(folder, gguf, scores_path, texts_path):
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    ours = [json.loads(l) for l in open(scores_path)]
    texts = {json.loads(l)["id"]: json.loads(l)["text"] for l in open(texts_path)}
    from_folder = T.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    from_gguf = T.AutoModelForCausalLM.from_pretrained(
        os.path.dirname(gguf), gguf_file=os.path.basename(gguf), dtype=torch.float32).eval()
    tok_folder = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    tok_gguf = T.AutoTokenizer.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf))
    report = {"texts": []}
    all_gguf, all_folder = [], []
    for rec in ours:
        ids = rec["tokens"]
        text = texts[rec["id"]]
        ref_gguf = logprobs(from_gguf, ids)
        ref_folder = logprobs(from_folder, ids)
        d_gguf = [abs(a - b) for a, b in zip(rec["logprobs"][1:], ref_gguf[1:])]
        d_folder = [abs(a - b) for a, b in zip(rec["logprobs"][1:], ref_folder[1:])]
        all_gguf += d_gguf
        all_folder += d_folder
        report["texts"].append({
            "id": rec["id"],
            "tokens": len(ids),
            "same_ids_tokenizers_lib": tok_folder.encode(text).ids == ids,
            "same_offsets_tokenizers_lib": [list(o) for o in tok_folder.encode(text).offsets] == rec["offsets"],
            "same_ids_transformers_gguf_tokenizer": tok_gguf(text)["input_ids"] == ids,
            "max_abs_diff_vs_gguf": max(d_gguf),
        })
    report["mean_abs_diff_vs_gguf"] = sum(all_gguf) / len(all_gguf)
    report["max_abs_diff_vs_gguf"] = max(all_gguf)
    report["mean_abs_diff_vs_folder"] = sum(all_folder) / len(all_folder)
    report["tokens_compared"] = len(all_gguf)
    prompt = tok_gguf("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = from_folder.generate(**prompt, max_new_tokens=4, do_sample=False)
    report["transformers_folder_greedy"] = tok_gguf.decode(out[0, prompt["input_ids"].shape[1]:])
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:])
