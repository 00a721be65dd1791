"""Forward-pass throughput, Triad vs transformers, same model, shape and threads, in one run.

usage: bench_forward.py --model DIR [--triad target/release/triad] [--batch 8] [--seq 128]
                        [--threads 2] [--rounds 3] [--iters 5] [--device cpu]

Rounds alternate between the two implementations (machines are noisy); each reports the median
tokens/s over its rounds, and the ratio triad / transformers. Prints a JSON line at the end.
"""
import argparse
import json
import statistics
import subprocess
import time

import torch
import transformers as T


def hf_round(model, ids, warmup, iters, device):
    def step():
        with torch.no_grad():
            out = model(input_ids=ids).logits
            return out.float().sum().item()  # forces completion on CUDA too
    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(iters):
        step()
    s = (time.perf_counter() - t) / iters
    return ids.numel() / s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--triad", default="target/release/triad")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = torch.float32 if a.device == "cpu" else torch.bfloat16
    model = T.AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype, attn_implementation="sdpa").to(a.device).eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(model.config.vocab_size, (a.batch, a.seq), generator=g).to(a.device)
    hf, triad = [], []
    for r in range(a.rounds):
        hf.append(hf_round(model, ids, a.warmup, a.iters, a.device))
        out = subprocess.run(
            [a.triad, "--threads", str(a.threads), "model", "bench-forward", "--model", a.model,
             "--device", a.device, "--batch", str(a.batch), "--seq", str(a.seq),
             "--warmup", str(a.warmup), "--iters", str(a.iters)],
            check=True, capture_output=True, text=True)
        triad.append(json.loads(out.stdout.strip().splitlines()[-1])["tokens_per_s"])
        print(f"round {r + 1}: transformers {hf[-1]:,.0f} tok/s   triad {triad[-1]:,.0f} tok/s", flush=True)
    h, t = statistics.median(hf), statistics.median(triad)
    print(json.dumps({"benchmark": "forward", "model": a.model, "device": a.device, "batch": a.batch, "seq": a.seq,
                      "threads": a.threads, "transformers_tokens_per_s": h, "triad_tokens_per_s": t,
                      "ratio_triad_over_transformers": t / h, "torch": torch.__version__,
                      "transformers": T.__version__}))


if __name__ == "__main__":
    main()
