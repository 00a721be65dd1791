"""The trainer service: `start_run` (RUN.toml as text), `watch_run` (its events as they
happen; cancel the watch and the iteration ends), `get_run`, `cancel_run`, `list_runs`.
Paths are relative to the service's data root."""
from __future__ import annotations

import threading
from typing import Any, Iterator, Optional

import grpc

from . import errors
from ._device import DeviceName, device_value
from .connection import Credentials, open_channel
from .errors import TriadError
from .v1 import trainer_pb2, trainer_pb2_grpc

# A run's last state: WatchRun sends it, then ends.
FINAL_STATES = frozenset({trainer_pb2.RUN_STATE_SUCCEEDED, trainer_pb2.RUN_STATE_FAILED,
                          trainer_pb2.RUN_STATE_CANCELLED})


class RunWatch(Iterator[trainer_pb2.RunEvent]):
    """The events of one run (steps, checkpoints, states) as they happen.

    cancel(), from any thread, ends the watch: the iteration then stops, without an error,
    and the run itself goes on (cancel_run stops a run). Leaving a `with` block cancels it too.
    """

    def __init__(self, call: Any) -> None:
        self._call = call  # grpc's stream: an iterator of events and a grpc.Call
        self._cancelled = threading.Event()

    def __iter__(self) -> "RunWatch":
        return self

    def __next__(self) -> trainer_pb2.RunEvent:
        if self._cancelled.is_set():
            raise StopIteration
        try:
            return next(self._call)
        except grpc.RpcError as e:
            # Our own cancellation arrives as a CANCELLED error from the stream: the end of
            # the watch, not a failure.
            if self._cancelled.is_set() and e.code() == grpc.StatusCode.CANCELLED:
                raise StopIteration from None
            raise TriadError.from_rpc_error(e) from None

    def cancel(self) -> None:
        self._cancelled.set()
        self._call.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def __enter__(self) -> "RunWatch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class TrainerClient:
    """A connection to one trainer. Use as a context manager, or call close()."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        # The generated stub, for calls this layer does not wrap (the token goes with them too).
        self.stub = trainer_pb2_grpc.TrainerStub(channel)

    @classmethod
    def connect(cls, target: str, credentials: Credentials = Credentials()) -> "TrainerClient":
        return cls(open_channel(target, credentials))

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "TrainerClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_run(self, config_toml: str, output_dir: str, *, device: DeviceName = "auto",
                  timeout: Optional[float] = None) -> str:
        """Queues a run (`config_toml`: RUN.toml's text, as `triad train --config` reads it)
        writing into `output_dir`; returns its id."""
        request = trainer_pb2.StartRunRequest(config_toml=config_toml, output_dir=output_dir,
                                              device=device_value(device))
        return errors.call(lambda: self.stub.StartRun(request, timeout=timeout)).run_id

    def watch_run(self, run_id: str, *, timeout: Optional[float] = None) -> RunWatch:
        """The run's events from now on, ending after its final state (or when cancelled)."""
        return RunWatch(self.stub.WatchRun(trainer_pb2.WatchRunRequest(run_id=run_id), timeout=timeout))

    def get_run(self, run_id: str, *, timeout: Optional[float] = None) -> trainer_pb2.Run:
        """The run's state; with its record (run.json as a message) once it succeeded."""
        return errors.call(lambda: self.stub.GetRun(trainer_pb2.GetRunRequest(run_id=run_id), timeout=timeout))

    def cancel_run(self, run_id: str, *, timeout: Optional[float] = None) -> trainer_pb2.Run:
        return errors.call(lambda: self.stub.CancelRun(trainer_pb2.CancelRunRequest(run_id=run_id), timeout=timeout))

    def list_runs(self, *, timeout: Optional[float] = None) -> list[trainer_pb2.Run]:
        return list(errors.call(lambda: self.stub.ListRuns(trainer_pb2.ListRunsRequest(), timeout=timeout)).runs)
