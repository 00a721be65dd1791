"""Evaluator scoring throughput vs transformers' forward, and the cached second evaluation, in one run.

usage: bench_eval.py --model DIR [--triad target/release/triad] [--records 64] [--batch 8]
                     [--threads 2] [--rounds 3] [--work DIR]

Data: `triad data generate customer-support` (records train + records test). Each round:
  1. transformers: forward passes over the same tokenised texts, sorted by length and batched
     like the evaluator (right padding), fp32, no grad; tokens/s over real tokens.
  2. `triad eval` with an empty base-score cache (the checkpoint is the base itself), then again
     with the cache filled. The evaluator's own timing gives checkpoint scoring tokens/s
     (forward + log-softmax + top-1, model already loaded) and the wall time of both evaluations.
Rounds alternate (machines are noisy); medians are reported with the ratios. Prints a JSON line.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import time

import torch
import transformers as T
from tokenizers import Tokenizer


def hf_round(model, seqs, batch):
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    tokens = 0
    t = time.perf_counter()
    for k in range(0, len(order), batch):
        rows = [seqs[i] for i in order[k:k + batch]]
        n = len(rows[0])
        ids = torch.tensor([r + [0] * (n - len(r)) for r in rows])
        with torch.no_grad():
            model(input_ids=ids).logits.float().sum().item()
        tokens += sum(len(r) for r in rows)
    return tokens / (time.perf_counter() - t)


def triad_eval(a, data, cache, out):
    t = time.perf_counter()
    subprocess.run(
        [a.triad, "--threads", str(a.threads), "eval", "--base", a.model, "--checkpoint", a.model,
         "--train", f"{data}/train.jsonl", "--test", f"{data}/test.jsonl", "--out", out,
         "--device", "cpu", "--batch-size", str(a.batch), "--cache-dir", cache],
        check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    m = json.load(open(out))
    return wall, m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--triad", default="target/release/triad")
    ap.add_argument("--records", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", default="target/bench-eval")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    data = f"{a.work}/data"
    subprocess.run([a.triad, "data", "generate", "customer-support", "--train", str(a.records),
                    "--test", str(a.records), "--seed", "7", "--out", data],
                   check=True, capture_output=True)
    tok = Tokenizer.from_file(f"{a.model}/tokenizer.json")
    seqs = [tok.encode(json.loads(l)["text"]).ids
            for f in ("train", "test") for l in open(f"{data}/{f}.jsonl")]
    model = T.AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32,
                                                   attn_implementation="sdpa").eval()
    hf_round(model, seqs[:a.batch], a.batch)  # warm-up
    hf, tr, cold, warm = [], [], [], []
    for r in range(a.rounds):
        hf.append(hf_round(model, seqs, a.batch))
        cache = f"{a.work}/cache-{r}"
        c_wall, c = triad_eval(a, data, cache, f"{a.work}/cold-{r}.json")
        w_wall, w = triad_eval(a, data, cache, f"{a.work}/warm-{r}.json")
        assert not c["base_scores_cached"] and w["base_scores_cached"], "cache not used"
        assert c["privacy_loss"] == w["privacy_loss"], "cached scores differ"
        tr.append(c["timing"]["scoring_tokens_per_s"])
        cold.append(c_wall)
        warm.append(w_wall)
        print(f"round {r + 1}: transformers forward {hf[-1]:,.0f} tok/s   triad scoring {tr[-1]:,.0f} tok/s   "
              f"eval cold {c_wall:.1f}s (base {c['timing']['base_s']:.1f}s)   "
              f"eval with cached base {w_wall:.1f}s (base {w['timing']['base_s']:.2f}s)", flush=True)
    h, t = statistics.median(hf), statistics.median(tr)
    co, wa = statistics.median(cold), statistics.median(warm)
    print(json.dumps({"benchmark": "eval", "model": a.model, "records": 2 * a.records, "tokens": sum(map(len, seqs)),
                      "batch": a.batch, "threads": a.threads, "transformers_forward_tokens_per_s": h,
                      "triad_scoring_tokens_per_s": t, "ratio_triad_over_transformers": t / h,
                      "eval_cold_s": co, "eval_cached_base_s": wa, "ratio_cached_over_cold": wa / co,
                      "torch": torch.__version__, "transformers": T.__version__}))


if __name__ == "__main__":
    main()
