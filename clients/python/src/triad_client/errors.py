"""One exception for everything a Triad service refuses or fails: `TriadError`, with the gRPC
status code and the service's message (which names the field at fault, never a server path)."""
from __future__ import annotations

from typing import Callable, Iterator, TypeVar

import grpc

T = TypeVar("T")


class TriadError(Exception):
    """A call failed: `code` is the gRPC status (`grpc.StatusCode.UNAUTHENTICATED`, ...),
    `message` the service's explanation."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> "TriadError":
        # grpc raises RpcError objects that are also the failed Call (code(), details()); an
        # error raised before any call (e.g. a closed channel) has neither.
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        details = error.details() if hasattr(error, "details") else None
        return cls(code, details or str(error))


def call(fn: Callable[[], T]) -> T:
    """fn(), its gRPC errors raised as TriadError."""
    try:
        return fn()
    except grpc.RpcError as e:
        raise TriadError.from_rpc_error(e) from None


def stream(events: Iterator[T]) -> Iterator[T]:
    """The events of a server stream, its gRPC errors (which arrive while iterating) raised as
    TriadError."""
    try:
        yield from events
    except grpc.RpcError as e:
        raise TriadError.from_rpc_error(e) from None
