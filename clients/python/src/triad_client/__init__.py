"""Python client for Triad's trainer and evaluator services (gRPC, package triad.v1).

    from triad_client import Credentials, EvaluatorClient
    creds = Credentials.from_files(ca="ca.pem", token_file="tokens")
    with EvaluatorClient.connect("evaluator:50052", creds) as ev:
        m = ev.evaluate(base_model="models/base", adapter="runs/a/final",
                        train_file="data/train.jsonl", test_file="data/test.jsonl")
        print(m.privacy_loss, list(m.privacy_loss_ci95))

`triad_client.v1` holds every generated message and stub, built from the protos of the Triad
checkout this package was installed from; `__version__` and `PROTO_SHA256` say which. The guide
is docs/python-client.md in the repository.
"""
from ._device import DeviceName
from ._version import PROTO_FILES, PROTO_SHA256, __version__
from .connection import Credentials, open_channel, read_token
from .errors import TriadError
from .evaluator import EvaluatorClient
from .trainer import FINAL_STATES, RunWatch, TrainerClient
from .v1.common_pb2 import TokenScores
from .v1.evaluator_pb2 import EvaluateEvent, Progress
from .v1.results_pb2 import Metrics, RecordStats, RunRecord
from .v1.trainer_pb2 import Run, RunEvent, RunState

__all__ = [
    "Credentials", "DeviceName", "EvaluateEvent", "EvaluatorClient", "FINAL_STATES", "Metrics",
    "PROTO_FILES", "PROTO_SHA256", "Progress", "RecordStats", "Run", "RunEvent", "RunRecord",
    "RunState", "RunWatch", "TokenScores", "TrainerClient", "TriadError", "__version__",
    "open_channel", "read_token",
]
