"""Checks triad_client against running services (tests/tests/python_client.rs starts them with
mutual TLS and a token file, and installs the package into a fresh venv first).

usage: check_services.py --trainer ADDR --evaluator ADDR --certs DIR --repo DIR --version V
                         --model PATH --train PATH --test PATH

DIR holds ca.pem, client.pem, client.key and tokens. Checks, each an assertion:
- the installed package was built from the checkout's protos (PROTO_SHA256, the version);
- no token / a wrong token: TriadError with UNAUTHENTICATED, from a unary call, from a stream
  (the error arrives while iterating) and from the trainer;
- a path out of the data root: INVALID_ARGUMENT naming the field;
- score_texts: one score per text, by id, log-probabilities finite and <= 0 after the first;
- a watch cancelled from another thread while events flow ends the iteration without an
  error, the run goes on; cancel_run then ends the run, and a new watch ends by itself with
  RUN_STATE_CANCELLED.
Prints a JSON summary line.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import threading
import time
from pathlib import Path
from typing import Callable

import grpc

import triad_client
from triad_client import Credentials, EvaluatorClient, RunState, TrainerClient, TriadError

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


def proto_digest(repo: Path) -> str:
    """The digest setup.py names the package by (docs/python-client.md)."""
    root = repo / "proto"
    h = hashlib.sha256()
    for rel in sorted(p.relative_to(root).as_posix() for p in root.glob("triad/v1/*.proto")):
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return h.hexdigest()


def refused(code: grpc.StatusCode, fragment: str, call: Callable[[], object]) -> str:
    try:
        call()
    except TriadError as e:
        assert e.code == code, (e.code, e.message)
        assert fragment in e.message, (fragment, e.message)
        assert str(e).startswith(code.name), str(e)
        return e.message
    raise AssertionError(f"expected {code.name} ({fragment})")


def check_version(repo: Path, base_version: str) -> dict[str, str]:
    digest = proto_digest(repo)
    assert triad_client.PROTO_SHA256 == digest, (triad_client.PROTO_SHA256, digest)
    assert triad_client.__version__ == f"{base_version}+proto.{digest[:12]}", triad_client.__version__
    return {"version": triad_client.__version__, "proto_sha256": digest}


def check_tokens(args: argparse.Namespace, certs: Path) -> dict[str, str]:
    tls = Credentials.from_files(ca=certs / "ca.pem", client_cert=certs / "client.pem",
                                 client_key=certs / "client.key")

    def creds(token: str | None) -> Credentials:
        return dataclasses.replace(tls, token=token)

    out = {}
    for label, token, fragment in [("wrong", "wrong-token-0123456789", "invalid bearer token"),
                                   ("missing", None, "missing bearer token")]:
        with EvaluatorClient.connect(args.evaluator, creds(token)) as ev, \
                TrainerClient.connect(args.trainer, creds(token)) as tr:
            out[f"{label}_unary"] = refused(UNAUTHENTICATED, fragment,
                                            lambda: ev.score_texts(args.model, ["hello"]))
            out[f"{label}_stream"] = refused(UNAUTHENTICATED, fragment, lambda: ev.evaluate(
                base_model=args.model, checkpoint=args.model, train_file=args.train, test_file=args.test))
            out[f"{label}_trainer"] = refused(UNAUTHENTICATED, fragment, lambda: tr.list_runs())
    return out


def check_scores_and_fields(ev: EvaluatorClient, args: argparse.Namespace) -> dict[str, object]:
    escape = refused(grpc.StatusCode.INVALID_ARGUMENT, "train_file", lambda: ev.evaluate(
        base_model=args.model, checkpoint=args.model, train_file="../outside.jsonl", test_file=args.test))
    texts = {"a": "Customer: my email is ana@example.com, thanks.", "b": "Agent: it ships on Monday."}
    scores = ev.score_texts(args.model, texts, device="cpu")
    assert [s.id for s in scores] == ["a", "b"], [s.id for s in scores]
    for s in scores:
        assert len(s.tokens) == len(s.logprobs) > 1 and math.isnan(s.logprobs[0]), s
        assert all(math.isfinite(x) and x <= 0 for x in s.logprobs[1:]), list(s.logprobs)
    return {"escape": escape, "scored_tokens": sum(len(s.tokens) for s in scores)}


def long_run(args: argparse.Namespace) -> str:
    return (f'model = "{args.model}"\ntrain_file = "{args.train}"\nmethod = "lora"\nsteps = 100000\n'
            'batch_size = 2\nmax_length = 32\n[optimizer]\nlr = 0.001\n')


def check_cancelled_watch(tr: TrainerClient, args: argparse.Namespace) -> dict[str, object]:
    run_id = tr.start_run(long_run(args), "runs/long", device="cpu")
    watch = tr.watch_run(run_id, timeout=120)
    steps, cancelled_at = 0, None
    for event in watch:  # must end without an error once cancelled
        if event.WhichOneof("event") == "step":
            steps += 1
            if cancelled_at is None:
                # From another thread, while the stream is busy: as a notebook's stop button would.
                cancelled_at = time.monotonic()
                threading.Timer(0.2, watch.cancel).start()
    assert cancelled_at is not None and watch.cancelled, "no step arrived before the watch ended"
    ended_after = time.monotonic() - cancelled_at
    assert ended_after < 10, ended_after
    # Cancelling the watch left the run alone.
    assert tr.get_run(run_id).state == RunState.RUN_STATE_RUNNING, RunState.Name(tr.get_run(run_id).state)
    tr.cancel_run(run_id)
    states = [RunState.Name(e.state) for e in tr.watch_run(run_id, timeout=120) if e.WhichOneof("event") == "state"]
    assert states and states[-1] == "RUN_STATE_CANCELLED", states
    return {"steps_seen": steps, "watch_ended_after_s": round(ended_after, 3), "final_states": states}


def main() -> None:
    p = argparse.ArgumentParser()
    for flag in ("--trainer", "--evaluator", "--certs", "--repo", "--version", "--model", "--train", "--test"):
        p.add_argument(flag, required=True)
    args = p.parse_args()
    certs = Path(args.certs)
    summary: dict[str, object] = {"package": check_version(Path(args.repo), args.version)}
    summary["unauthenticated"] = check_tokens(args, certs)
    good = Credentials.from_files(ca=certs / "ca.pem", client_cert=certs / "client.pem",
                                  client_key=certs / "client.key", token_file=certs / "tokens")
    with EvaluatorClient.connect(args.evaluator, good) as ev:
        summary["evaluator"] = check_scores_and_fields(ev, args)
    with TrainerClient.connect(args.trainer, good) as tr:
        summary["cancelled_watch"] = check_cancelled_watch(tr, args)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
