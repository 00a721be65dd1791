"""Drive triad-evaluator through stubs generated from Triad's .proto files (grpcio-tools).

usage: evaluator_grpc_client.py ADDR PROTO_DIR DATA_ROOT
The data root holds models/tiny, data/{train,test,canaries}.jsonl. The client writes
models/tuned (tiny with perturbed weights) and data/bad.jsonl itself. Checks ScoreTexts against
transformers' per-token log-probs. Exits non-zero on the first failed check; prints a JSON
summary (including the metrics Evaluate returned) on success.
"""
import json
import time
import math
import shutil
import sys

import grpc
import torch
import transformers as T
import grpc_stubs
from tokenizers import Tokenizer

addr, proto_dir, root = sys.argv[1:4]
pb, rpc = grpc_stubs.load(proto_dir, "evaluator")
from triad.v1 import common_pb2  # noqa: E402

# A "fine-tuned" checkpoint: the tiny model with perturbed weights.
torch.manual_seed(1)
tuned = T.AutoModelForCausalLM.from_pretrained(f"{root}/models/tiny", dtype=torch.float32)
with torch.no_grad():
    for p in tuned.parameters():
        p.add_(torch.randn_like(p) * 0.05)
tuned.save_pretrained(f"{root}/models/tuned")
shutil.copy(f"{root}/models/tiny/tokenizer.json", f"{root}/models/tuned/tokenizer.json")
with open(f"{root}/data/bad.jsonl", "w") as f:
    f.write(open(f"{root}/data/train.jsonl").readline())
    f.write("{not json\n")

channel = grpc.insecure_channel(addr)
stub = rpc.EvaluatorStub(channel)
summary = {}

summary["reflection"] = grpc_stubs.check_health_and_reflection(channel, "triad.v1.Evaluator")


def request(**kw):
    base = dict(base_model="models/tiny", checkpoint="models/tuned", train_file="data/train.jsonl",
                test_file="data/test.jsonl", canaries_file="data/canaries.jsonl", device=common_pb2.DEVICE_CPU,
                audit_file="data/audit.jsonl", audit_delta=1e-4)
    base.update(kw)
    return pb.EvaluateRequest(**base)


def evaluate(req):
    stages, typed, records = [], None, None
    for ev in stub.Evaluate(req, timeout=600):
        kind = ev.WhichOneof("event")
        if kind == "progress":
            assert typed is None and records is None, "progress after the results"
            assert ev.progress.done <= ev.progress.total, ev.progress
            if not stages or stages[-1] != ev.progress.stage:
                stages.append(ev.progress.stage)
        elif kind == "records":
            assert typed is None and records is None, "records after the metrics, or twice"
            records = ev.records
        else:
            assert kind == "metrics" and typed is None, kind
            typed = ev.metrics
    assert typed is not None, "the stream ended without metrics"
    # The per-record statistics came just before the metrics, one per member record.
    assert records is not None, "no per-record statistics before the metrics"
    assert len(records.train) >= typed.membership_inference.members > 0, len(records.train)
    assert all(r.id and r.sensitive.tokens + r.non_sensitive.tokens > 0 for r in records.train)
    # Typed fields, no JSON parsing: privacy loss, an attack's AUC with its interval.
    auc = typed.membership_inference.loss.auc
    assert 0.0 <= auc <= 1.0, auc
    lo, hi = typed.membership_inference.loss.auc_ci95
    assert lo <= auc <= hi, (lo, auc, hi)
    summary.setdefault("typed", {"privacy_loss": typed.privacy_loss, "auc": auc, "auc_ci95": [lo, hi]})
    return stages, typed


stages, first = evaluate(request())
assert first.base_scores_cached is False, first.base_scores_cached
assert first.base == "models/tiny" and first.checkpoint == "models/tuned", (first.base, first.checkpoint)
assert first.HasField("exposure") and first.exposure.canaries, first.exposure
assert any(s.startswith("checkpoint") for s in stages), stages
_, second = evaluate(request())
assert second.base_scores_cached is True
assert second.privacy_loss == first.privacy_loss, (second.privacy_loss, first.privacy_loss)
summary["stages"] = stages
# The message as received, for the test to read with the Rust types.
summary["metrics_pb"] = first.SerializeToString().hex()

# ScoreTexts against transformers.
texts = ["Customer: my email is ana@example.com, thanks.", "Agent: Your order ships on Monday.", "Hi"]
resp = stub.ScoreTexts(pb.ScoreTextsRequest(model="models/tuned", texts=[pb.TextInput(id=f"t{i}", text=t) for i, t in enumerate(texts)],
                                            device=common_pb2.DEVICE_CPU), timeout=120)
tok = Tokenizer.from_file(f"{root}/models/tuned/tokenizer.json")
worst = 0.0
for i, (t, s) in enumerate(zip(texts, resp.scores)):
    enc = tok.encode(t)
    assert s.id == f"t{i}" and list(s.tokens) == enc.ids, (s.id, list(s.tokens), enc.ids)
    assert list(zip(s.offset_starts, s.offset_ends)) == [tuple(o) for o in enc.offsets]
    assert math.isnan(s.logprobs[0])
    with torch.no_grad():
        lp = torch.log_softmax(tuned(input_ids=torch.tensor([enc.ids])).logits[0].float(), -1)
    for j in range(1, len(enc.ids)):
        worst = max(worst, abs(s.logprobs[j] - lp[j - 1, enc.ids[j]].item()))
assert worst < 1e-4, worst
summary["score_texts_max_abs_diff"] = worst


def expect(code, fragment, call, *args):
    try:
        out = call(*args, timeout=120)
        if hasattr(out, "__iter__") and not hasattr(out, "scores"):
            for _ in out:  # errors found during an evaluation arrive on the stream
                pass
    except grpc.RpcError as e:
        assert e.code() == code, (e.code(), e.details())
        assert fragment in e.details(), (fragment, e.details())
        assert root not in e.details(), f"server path leaked: {e.details()}"
        return e.details()
    raise AssertionError(f"expected {code} for {fragment}")


I, NF = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
bad = {}
bad["both"] = expect(I, "adapter", stub.Evaluate, request(adapter="models/tiny"))
bad["model_as_adapter"] = expect(I, "give it as `checkpoint`", stub.Evaluate, request(checkpoint="", adapter="models/tiny"))
bad["neither"] = expect(I, "checkpoint", stub.Evaluate, request(checkpoint=""))
bad["escape"] = expect(I, "base_model", stub.Evaluate, request(base_model="../models/tiny"))
bad["absolute"] = expect(I, "train_file", stub.Evaluate, request(train_file="/etc/passwd"))
bad["missing"] = expect(NF, "test_file", stub.Evaluate, request(test_file="data/nope.jsonl"))
bad["device"] = expect(I, "device", stub.Evaluate, request(device=7))
bad["batch"] = expect(I, "batch_size", stub.Evaluate, request(batch_size=100000))
bad["bad_line"] = expect(I, "data/bad.jsonl:2", stub.Evaluate, request(train_file="data/bad.jsonl"))
bad["audit_delta"] = expect(I, "audit_delta", stub.Evaluate, request(audit_delta=1.5))
bad["audit_missing"] = expect(NF, "audit_file", stub.Evaluate, request(audit_file="data/none.jsonl"))
bad["no_texts"] = expect(I, "texts", stub.ScoreTexts, pb.ScoreTextsRequest(model="models/tiny"))
bad["empty_text"] = expect(I, "texts[1].text", stub.ScoreTexts,
                           pb.ScoreTextsRequest(model="models/tiny", texts=[pb.TextInput(id="a", text="x"), pb.TextInput(id="b", text="")]))
bad["model_escape"] = expect(I, "model", stub.ScoreTexts,
                             pb.ScoreTextsRequest(model="models/../../x", texts=[pb.TextInput(id="a", text="x")]))
# A 100,000-character text (the longest accepted): scored in pieces of positions, so memory
# stays bounded (the test reads the server's peak RSS); its scores are finite log-probs.
long_text = ("Customer: my card ends 4417, my email is ana@example.com; call me back. " * 1500)[:100_000]
t0 = time.time()
resp = stub.ScoreTexts(pb.ScoreTextsRequest(model="models/tuned", texts=[pb.TextInput(id="long", text=long_text)],
                                            device=common_pb2.DEVICE_CPU), timeout=600)
lps = list(resp.scores[0].logprobs)[1:]
assert lps and all(math.isfinite(x) and x <= 0 for x in lps), "non-finite log-probs in the long text"
summary["long_text"] = {"chars": len(long_text), "tokens": len(resp.scores[0].tokens),
                        "seconds": round(time.time() - t0, 2)}
# Over the per-request token budget: refused before any work.
bad["too_many_tokens"] = expect(grpc.StatusCode.RESOURCE_EXHAUSTED, "tokens in all", stub.ScoreTexts,
                                pb.ScoreTextsRequest(model="models/tiny",
                                                     texts=[pb.TextInput(id=f"l{i}", text=long_text) for i in range(8)]))
# Over --max-request-bytes (4 MiB): RESOURCE_EXHAUSTED, as gRPC specifies (tonic says OUT_OF_RANGE).
bad["oversized"] = expect(grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than this server accepts", stub.ScoreTexts,
                          pb.ScoreTextsRequest(model="models/tiny",
                                               texts=[pb.TextInput(id=f"o{i}", text=long_text) for i in range(50)]))
summary["bad_requests"] = bad
print(json.dumps(summary))
