"""Drive triad-trainer through stubs generated from Triad's .proto files (grpcio-tools).

usage: trainer_grpc_client.py ADDR PROTO_DIR DATA_ROOT
The data root holds models/tiny and data/train.jsonl. Exits non-zero on the first failed check;
prints a JSON summary on success.
"""
import json
import sys
import time

import grpc
import grpc_stubs

addr, proto_dir, root = sys.argv[1:4]
pb, rpc = grpc_stubs.load(proto_dir, "trainer")
from triad.v1 import results_pb2  # noqa: E402
from google.protobuf import json_format  # noqa: E402

channel = grpc.insecure_channel(addr)
stub = rpc.TrainerStub(channel)
summary = {}

# Health and reflection.
summary["reflection"] = grpc_stubs.check_health_and_reflection(channel, "triad.v1.Trainer")

def config(steps, method="lora"):
    return f'''model = "models/tiny"
train_file = "data/train.jsonl"
method = "{method}"
steps = {steps}
batch_size = 2
max_length = 64
device = "cpu"
[optimizer]
lr = 0.001
'''

# A run to completion, watched.
run_id = stub.StartRun(pb.StartRunRequest(config_toml=config(4), output_dir="runs/a")).run_id
states, steps, checkpoints = [], 0, []
for ev in stub.WatchRun(pb.WatchRunRequest(run_id=run_id), timeout=300):
    kind = ev.WhichOneof("event")
    if kind == "state":
        states.append(pb.RunState.Name(ev.state))
    elif kind == "step":
        steps += 1
        assert ev.step.loss > 0 and ev.step.total_steps == 4
    elif kind == "checkpoint":
        # What its evaluation needs comes with it: the run's max_length (no δ: not private).
        assert ev.checkpoint.max_length == 64 and not ev.checkpoint.HasField("delta"), ev
        checkpoints.append(ev.checkpoint.path)
assert states == ["RUN_STATE_QUEUED", "RUN_STATE_RUNNING", "RUN_STATE_SUCCEEDED"], states
assert steps == 4 and checkpoints and not checkpoints[0].startswith("/"), (steps, checkpoints)
run = stub.GetRun(pb.GetRunRequest(run_id=run_id))
assert run.state == pb.RUN_STATE_SUCCEEDED and run.record.status == "completed", run
summary["watched"] = {"states": states, "steps": steps, "checkpoints": checkpoints}

# A DP run: its record's ε read as typed fields.
# 50 steps: long enough to read its key while it runs.
dp_config = config(50, "dp") + "[dp]\nnoise_multiplier = 1.0\nmax_grad_norm = 1.0\ndelta = 1e-5\n"
rec_id = stub.StartRun(pb.StartRunRequest(config_toml=dp_config, output_dir="runs/dp")).run_id
# Nothing a client receives about a DP run holds an unnoised statistic (no step loss) or the
# secret noise key (read from the run's private state while it runs; gone once it ends).
received, key, dp_checkpoints = [], None, []
for ev in stub.WatchRun(pb.WatchRunRequest(run_id=rec_id), timeout=300):
    received.append(ev.SerializeToString())
    if ev.HasField("checkpoint"):
        dp_checkpoints.append(ev.checkpoint)
    if ev.HasField("step"):
        assert not ev.step.HasField("loss"), ev
        if key is None:
            with open(f"{root}/runs/dp/state/noise.key") as f:
                key = f.read().strip()
dp = stub.GetRun(pb.GetRunRequest(run_id=rec_id))
assert dp.state == pb.RUN_STATE_SUCCEEDED, dp
assert key is not None and len(key) == 64, key
received.append(dp.SerializeToString())
for blob in received:
    assert key.encode() not in blob and bytes.fromhex(key)[:16] not in blob, "the key reached a client"
assert all(not p.HasField("loss") for p in dp.record.loss_curve), dp.record.loss_curve
assert all(not e.HasField("mean_loss") for e in dp.record.epochs), dp.record.epochs
assert dp.record.secure_rng and dp.record.tokens_counted == "expected", dp.record
rec = dp.record
# The run's own δ travels with each checkpoint, for the audit of its evaluation.
assert dp_checkpoints and all(c.delta == rec.delta == 1e-5 for c in dp_checkpoints), dp_checkpoints
assert rec.HasField("epsilon") and rec.epsilon > 0 and rec.accountant == "pld", rec
assert rec.HasField("epsilon_rdp") and rec.epsilon_rdp >= rec.epsilon_pld > 0, rec
assert rec.noise_multiplier == 1.0 and rec.steps_done == 50 and rec.config.method == "dp", rec
assert not rec.config.model.startswith("/"), rec.config.model
with open(f"{root}/runs/dp/run.json") as f:
    on_disk = json_format.Parse(f.read(), results_pb2.RunRecord())
assert on_disk.epsilon == rec.epsilon and len(on_disk.loss_curve) == 50, on_disk
summary["dp_record"] = {"epsilon": rec.epsilon, "epsilon_rdp": rec.epsilon_rdp, "accountant": rec.accountant}

# A long run cancelled while running, and one cancelled while queued behind it.
long_id = stub.StartRun(pb.StartRunRequest(config_toml=config(100000), output_dir="runs/long")).run_id
queued_id = stub.StartRun(pb.StartRunRequest(config_toml=config(2), output_dir="runs/queued")).run_id
assert stub.GetRun(pb.GetRunRequest(run_id=queued_id)).state == pb.RUN_STATE_QUEUED
assert stub.CancelRun(pb.CancelRunRequest(run_id=queued_id)).state == pb.RUN_STATE_CANCELLED
deadline = time.time() + 120
while stub.GetRun(pb.GetRunRequest(run_id=long_id)).state != pb.RUN_STATE_RUNNING:
    assert time.time() < deadline, "long run never started"
    time.sleep(0.05)
stub.CancelRun(pb.CancelRunRequest(run_id=long_id))
final = [pb.RunState.Name(ev.state) for ev in stub.WatchRun(pb.WatchRunRequest(run_id=long_id), timeout=120)
         if ev.WhichOneof("event") == "state"]
assert final[-1] == "RUN_STATE_CANCELLED", final
summary["cancelled"] = final

# A DP run cancelled while it searches σ (ε = 30 over 100 steps at q = 1/8: about 12 s of
# accounting on this machine) ends within one evaluation of ε, not after the search.
dp = config(100, "dp") + "[dp]\ntarget_epsilon = 30.0\nmax_grad_norm = 1.0\n"
dp_id = stub.StartRun(pb.StartRunRequest(config_toml=dp, output_dir="runs/dp-search")).run_id
deadline = time.time() + 120
while stub.GetRun(pb.GetRunRequest(run_id=dp_id)).state != pb.RUN_STATE_RUNNING:
    assert time.time() < deadline, "dp run never started"
    time.sleep(0.01)
asked = time.time()
stub.CancelRun(pb.CancelRunRequest(run_id=dp_id))
while stub.GetRun(pb.GetRunRequest(run_id=dp_id)).state != pb.RUN_STATE_CANCELLED:
    assert time.time() - asked < 3, stub.GetRun(pb.GetRunRequest(run_id=dp_id))
    time.sleep(0.01)
summary["cancelled_in_sigma_search_s"] = round(time.time() - asked, 3)

# Bad requests get the right codes and name the field.
def expect(code, fragment, call, *args):
    try:
        call(*args)
    except grpc.RpcError as e:
        assert e.code() == code, (e.code(), e.details())
        assert fragment in e.details(), (fragment, e.details())
        return e.details()
    raise AssertionError(f"expected {code} for {fragment}")

bad = {}
bad["empty"] = expect(grpc.StatusCode.INVALID_ARGUMENT, "config_toml", stub.StartRun, pb.StartRunRequest(config_toml="", output_dir="runs/x"))
bad["toml"] = expect(grpc.StatusCode.INVALID_ARGUMENT, "line", stub.StartRun, pb.StartRunRequest(config_toml="model = [", output_dir="runs/x"))
bad["escape"] = expect(grpc.StatusCode.INVALID_ARGUMENT, "output_dir", stub.StartRun, pb.StartRunRequest(config_toml=config(1), output_dir="../outside"))
bad["absolute"] = expect(grpc.StatusCode.INVALID_ARGUMENT, "config_toml.model", stub.StartRun,
                         pb.StartRunRequest(config_toml=config(1).replace('"models/tiny"', '"/etc"'), output_dir="runs/x"))
bad["traversal"] = expect(grpc.StatusCode.INVALID_ARGUMENT, "config_toml.train_file", stub.StartRun,
                          pb.StartRunRequest(config_toml=config(1).replace('"data/train.jsonl"', '"data/../../secret.jsonl"'), output_dir="runs/x"))
bad["missing"] = expect(grpc.StatusCode.NOT_FOUND, "train_file", stub.StartRun,
                        pb.StartRunRequest(config_toml=config(1).replace("train.jsonl", "nope.jsonl"), output_dir="runs/x"))
bad["unknown"] = expect(grpc.StatusCode.NOT_FOUND, "run-999999", stub.GetRun, pb.GetRunRequest(run_id="run-999999"))
bad["ended"] = expect(grpc.StatusCode.FAILED_PRECONDITION, "ended", stub.CancelRun, pb.CancelRunRequest(run_id=run_id))
bad["oversized"] = expect(grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than this server accepts", stub.StartRun,
                         pb.StartRunRequest(config_toml="#" * (5 << 20), output_dir="runs/x"))
summary["bad_requests"] = bad
summary["listed"] = [r.run_id for r in stub.ListRuns(pb.ListRunsRequest()).runs]
assert summary["listed"] == [run_id, rec_id, long_id, queued_id, dp_id], summary["listed"]
print(json.dumps(summary))
