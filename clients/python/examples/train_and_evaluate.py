"""Fine-tune a model with LoRA on a Triad trainer, then measure on a Triad evaluator what the
adapter learnt about the training data's secrets.

    python train_and_evaluate.py --trainer trainer:50051 --evaluator evaluator:50052 \\
        --ca ca.pem --client-cert client.pem --client-key client.key --token-file tokens \\
        --model models/smollm2-135m --train data/train.jsonl --test data/test.jsonl \\
        --output-dir runs/lora-example

Paths are relative to the services' data root (their --data-root). Prints progress, then the
privacy loss with its 95% interval; --json prints a JSON summary line last.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Iterable

from triad_client import (FINAL_STATES, Credentials, EvaluatorClient, Progress, RunState,
                          TrainerClient, TriadError)


def run_config(args: argparse.Namespace) -> str:
    """RUN.toml for the trainer (the schema of `triad train --config`, docs/trainer.md)."""
    return f"""model = "{args.model}"
train_file = "{args.train}"
method = "lora"
steps = {args.steps}
batch_size = 4
max_length = {args.max_length}
[optimizer]
lr = {args.lr}
"""


def train(trainer: TrainerClient, args: argparse.Namespace) -> tuple[str, int]:
    """Runs the fine-tuning to its end; returns the last checkpoint (an adapter folder) and the
    record length it was trained with."""
    run_id = trainer.start_run(run_config(args), args.output_dir, device=args.device)
    checkpoint, max_length = None, args.max_length
    with trainer.watch_run(run_id) as events:
        for event in events:
            kind = event.WhichOneof("event")
            if kind == "step":
                print(f"step {event.step.step}/{event.step.total_steps}", file=sys.stderr)
            elif kind == "checkpoint":
                checkpoint, max_length = event.checkpoint.path, event.checkpoint.max_length
            elif kind == "state" and event.state in FINAL_STATES:
                break
    run = trainer.get_run(run_id)
    if run.state != RunState.RUN_STATE_SUCCEEDED or checkpoint is None:
        raise SystemExit(f"run {run_id} ended {RunState.Name(run.state)}: {run.error}")
    return checkpoint, max_length


def show(progress: Progress) -> None:
    print(f"{progress.stage}: {progress.done}/{progress.total}", file=sys.stderr)


def interval(values: Iterable[float]) -> str:
    ci = list(values)
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]" if len(ci) == 2 else "(none)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trainer", required=True, help="HOST:PORT")
    p.add_argument("--evaluator", required=True, help="HOST:PORT")
    p.add_argument("--ca", help="CA (PEM) of the services' certificates; without it, plaintext")
    p.add_argument("--client-cert", help="client certificate (PEM), for mutual TLS")
    p.add_argument("--client-key", help="its key (PEM)")
    p.add_argument("--token-file", help="bearer token file (default: $TRIAD_TOKEN)")
    p.add_argument("--server-name", help="name in the services' certificates, if not the host")
    p.add_argument("--model", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--output-dir", required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--json", action="store_true", help="print a JSON summary line last")
    args = p.parse_args()

    creds = Credentials.from_files(ca=args.ca, client_cert=args.client_cert, client_key=args.client_key,
                                   token_file=args.token_file, server_name=args.server_name,
                                   tls=args.ca is not None)
    try:
        with TrainerClient.connect(args.trainer, creds) as trainer:
            adapter, max_length = train(trainer, args)
        with EvaluatorClient.connect(args.evaluator, creds) as evaluator:
            metrics = evaluator.evaluate(base_model=args.model, adapter=adapter, train_file=args.train,
                                         test_file=args.test, max_length=max_length, device=args.device,
                                         on_progress=show)
    except TriadError as e:
        print(f"error: {e.code.name}: {e.message}", file=sys.stderr)
        return 1

    # Typed fields of the Metrics message (METRICS.json's schema, results.proto).
    auc = metrics.membership_inference.loss
    print(f"adapter {adapter}")
    print(f"privacy loss {metrics.privacy_loss:.4f} nats, 95% CI {interval(metrics.privacy_loss_ci95)}")
    print(f"loss-attack membership AUC {auc.auc:.3f}, 95% CI {interval(auc.auc_ci95)}")
    print(f"utility: perplexity {metrics.utility.perplexity:.2f} (base {metrics.utility.perplexity_base:.2f})")
    if args.json:
        print(json.dumps({
            "adapter": adapter,
            "max_length": max_length,
            "privacy_loss": metrics.privacy_loss,
            "privacy_loss_ci95": list(metrics.privacy_loss_ci95),
            "auc": auc.auc,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
