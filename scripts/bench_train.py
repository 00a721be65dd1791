"""Training step time and peak memory: Triad's full / lora / dp / dp-lora against each other and
full fine-tuning in PyTorch (transformers + torch.optim.AdamW), same model, batch and threads.

usage: bench_train.py --model DIR [--triad target/release/triad] [--batch 8] [--seq 128]
                      [--threads 2] [--rounds 2] [--steps 3] [--device cpu]

Every measurement runs in its own process (so peak RSS is that method's); rounds alternate
between implementations; medians are reported with the ratios the trainer docs quote.
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def hf_worker(a):
    import torch
    import transformers as T
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = T.AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32, attn_implementation="sdpa").to(a.device)
    model.train()
    ids = torch.randint(model.config.vocab_size, (a.batch, a.seq)).to(a.device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(a.warmup):
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    s = (time.perf_counter() - t) / a.steps
    print(json.dumps({"impl": "transformers", "method": "full", "s_per_step": s,
                      "tokens_per_s": a.batch * a.seq / s,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--triad", default="target/release/triad")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--hf-worker", action="store_true")
    a = ap.parse_args()
    if a.hf_worker:
        return hf_worker(a)
    runs = {}
    common = ["--batch", str(a.batch), "--seq", str(a.seq), "--warmup", str(a.warmup), "--steps", str(a.steps)]
    for r in range(a.rounds):
        for method in ["full", "dp", "lora", "dp-lora", "hf-full"]:
            if method == "hf-full":
                cmd = [sys.executable, __file__, "--hf-worker", "--model", a.model, "--threads", str(a.threads),
                       "--device", a.device] + common
            else:
                cmd = [a.triad, "--threads", str(a.threads), "bench-train", "--model", a.model, "--method", method,
                       "--device", a.device] + common
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            v = json.loads(out)
            runs.setdefault(method, []).append(v)
            print(f"round {r + 1} {method:8} {v['s_per_step']:.3f} s/step  {v['tokens_per_s']:.0f} tok/s  "
                  f"peak {v['peak_rss_bytes'] / 2**30:.2f} GiB", flush=True)
    med = {m: statistics.median(x["s_per_step"] for x in v) for m, v in runs.items()}
    mem = {m: max(x["peak_rss_bytes"] for x in v) for m, v in runs.items()}
    result = {
        "benchmark": "train-step", "model": a.model, "batch": a.batch, "seq": a.seq, "threads": a.threads,
        "device": a.device, "s_per_step": med, "peak_rss_bytes": mem,
        "dp_over_full": med["dp"] / med["full"],
        "dp_lora_over_lora": med["dp-lora"] / med["lora"],
        "full_over_transformers": med["full"] / med["hf-full"],
        "dp_memory_over_full": mem["dp"] / mem["full"],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
