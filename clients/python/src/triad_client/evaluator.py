"""The evaluator service: `evaluate` (progress as it goes, the typed `Metrics` at the end) and
`score_texts` (per-token log-probabilities). Paths are relative to the service's data root."""
from __future__ import annotations

from typing import Callable, Iterator, Mapping, Optional, Sequence, Union

import grpc

from . import errors
from ._device import DeviceName, device_value
from .connection import Credentials, open_channel
from .errors import TriadError
from .v1 import common_pb2, evaluator_pb2, evaluator_pb2_grpc, results_pb2

Texts = Union[Mapping[str, str], Sequence[str]]


class EvaluatorClient:
    """A connection to one evaluator. Use as a context manager, or call close()."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        # The generated stub, for calls this layer does not wrap (the token goes with them too).
        self.stub = evaluator_pb2_grpc.EvaluatorStub(channel)

    @classmethod
    def connect(cls, target: str, credentials: Credentials = Credentials()) -> "EvaluatorClient":
        return cls(open_channel(target, credentials))

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "EvaluatorClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def evaluate(
        self,
        *,
        base_model: str,
        train_file: str,
        test_file: str,
        checkpoint: str = "",
        adapter: str = "",
        canaries_file: str = "",
        audit_file: str = "",
        audit_delta: float = 0.0,
        device: DeviceName = "auto",
        batch_size: int = 0,
        max_length: int = 0,
        min_k: float = 0.0,
        exposure_exact_max: int = 0,
        exposure_samples: int = 0,
        exposure_search_budget: int = 0,
        on_progress: Optional[Callable[[evaluator_pb2.Progress], None]] = None,
        on_records: Optional[Callable[[results_pb2.RecordStats], None]] = None,
        timeout: Optional[float] = None,
    ) -> results_pb2.Metrics:
        """Evaluates `checkpoint` (a full model folder) or `adapter` (a PEFT adapter folder)
        against `base_model` on the members (`train_file`) and non-members (`test_file`), and
        returns the metrics (METRICS.json as a message: `privacy_loss`, `privacy_loss_ci95`, ...).

        on_progress gets each progress event (stage, done, total) as it arrives; on_records the
        per-record statistics, sent just before the metrics. A setting left at 0 takes the
        service's default (docs/evaluator.md, "Settings"). timeout bounds the whole evaluation,
        in seconds (None: no bound).
        """
        request = evaluator_pb2.EvaluateRequest(
            base_model=base_model, checkpoint=checkpoint, adapter=adapter, train_file=train_file,
            test_file=test_file, canaries_file=canaries_file, audit_file=audit_file,
            audit_delta=audit_delta, device=device_value(device), batch_size=batch_size,
            max_length=max_length, min_k=min_k, exposure_exact_max=exposure_exact_max,
            exposure_samples=exposure_samples, exposure_search_budget=exposure_search_budget)
        for event in self.evaluate_events(request, timeout=timeout):
            kind = event.WhichOneof("event")
            if kind == "progress" and on_progress is not None:
                on_progress(event.progress)
            elif kind == "records" and on_records is not None:
                on_records(event.records)
            elif kind == "metrics":
                return event.metrics
        raise TriadError(grpc.StatusCode.INTERNAL, "the evaluation ended without metrics")

    def evaluate_events(self, request: evaluator_pb2.EvaluateRequest,
                        timeout: Optional[float] = None) -> Iterator[evaluator_pb2.EvaluateEvent]:
        """The raw event stream of one evaluation (progress, records, metrics)."""
        return errors.stream(self.stub.Evaluate(request, timeout=timeout))

    def score_texts(
        self,
        model: str,
        texts: Texts,
        *,
        adapter: str = "",
        device: DeviceName = "auto",
        timeout: Optional[float] = None,
    ) -> list[common_pb2.TokenScores]:
        """Per-token log-probabilities of each text under `model` (with `adapter` merged in,
        if given), in the order given. texts: {id: text}, or a list (ids "0", "1", ...)."""
        items = texts.items() if isinstance(texts, Mapping) else ((str(i), t) for i, t in enumerate(texts))
        request = evaluator_pb2.ScoreTextsRequest(
            model=model, adapter=adapter, device=device_value(device),
            texts=[evaluator_pb2.TextInput(id=i, text=t) for i, t in items])
        response = errors.call(lambda: self.stub.ScoreTexts(request, timeout=timeout))
        return list(response.scores)
