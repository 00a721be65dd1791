"""Channels to Triad's services as they are deployed: TLS (with a client certificate where the
service requires mutual TLS) and a bearer token on every call (docs/deploy.md)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Tuple, Union

import grpc

PathLike = Union[str, "os.PathLike[str]"]

# What the orchestrator accepts from an evaluator too: an evaluation's per-record statistics
# outgrow gRPC's default 4 MiB on large datasets.
MAX_RECEIVE_BYTES = 64 << 20


@dataclass(frozen=True)
class Credentials:
    """How to reach a secured service.

    ca: PEM of the CA the services' certificates chain to (None: the system's roots).
    client_cert, client_key: PEM of a client certificate, for services started with
        --tls-client-ca (mutual TLS).
    token: sent as `authorization: Bearer <token>` on every call (--token-file on the server).
    server_name: the name to expect in the service's certificate, when it is not the host of
        the address (a pod reached by IP: `triad-evaluator.triad.svc`).
    tls: False for a plaintext service (a local one without --tls-cert); a token is then sent
        in the clear.
    """

    ca: Optional[bytes] = None
    client_cert: Optional[bytes] = None
    client_key: Optional[bytes] = None
    token: Optional[str] = None
    server_name: Optional[str] = None
    tls: bool = True

    def __post_init__(self) -> None:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key go together")
        if self.token is not None and (not self.token or any(c.isspace() or not c.isprintable() for c in self.token)):
            raise ValueError("token: empty, or holds whitespace or control characters")
        if not self.tls and (self.ca or self.client_cert):
            raise ValueError("ca and client certificates need tls=True")

    @classmethod
    def from_files(
        cls,
        *,
        ca: Optional[PathLike] = None,
        client_cert: Optional[PathLike] = None,
        client_key: Optional[PathLike] = None,
        token_file: Optional[PathLike] = None,
        server_name: Optional[str] = None,
        tls: bool = True,
    ) -> "Credentials":
        """Credentials from PEM files and a token file, as `triad study run` takes them: the
        token file's first line that is neither blank nor a `#` comment; without a token file,
        $TRIAD_TOKEN if set."""
        def read(path: Optional[PathLike]) -> Optional[bytes]:
            return None if path is None else Path(path).read_bytes()

        token = read_token(token_file) if token_file is not None else (os.environ.get("TRIAD_TOKEN") or None)
        return cls(ca=read(ca), client_cert=read(client_cert), client_key=read(client_key),
                   token=token, server_name=server_name, tls=tls)


def read_token(path: PathLike) -> str:
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line
    raise ValueError(f"{path}: holds no token")


class _CallDetails(NamedTuple):
    method: str
    timeout: Optional[float]
    metadata: Optional[Tuple[Tuple[str, Union[str, bytes]], ...]]
    credentials: Optional[grpc.CallCredentials]
    wait_for_ready: Optional[bool]
    compression: Any


class _ClientCallDetails(_CallDetails, grpc.ClientCallDetails):
    pass


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds the token to every call. An interceptor rather than call credentials: it works on
    plaintext channels too, and the raw stubs of a client get it as well."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, d: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = (*(d.metadata or ()), self._header)
        return _ClientCallDetails(d.method, d.timeout, metadata, d.credentials,
                                  getattr(d, "wait_for_ready", None), getattr(d, "compression", None))

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any) -> Any:
        return continuation(self._details(details), request)


def open_channel(target: str, credentials: Credentials = Credentials()) -> grpc.Channel:
    """A channel to `target` (`host:port`) with these credentials."""
    options: list[tuple[str, Any]] = [("grpc.max_receive_message_length", MAX_RECEIVE_BYTES)]
    if credentials.server_name:
        options.append(("grpc.ssl_target_name_override", credentials.server_name))
    if credentials.tls:
        tls = grpc.ssl_channel_credentials(root_certificates=credentials.ca,
                                           private_key=credentials.client_key,
                                           certificate_chain=credentials.client_cert)
        channel = grpc.secure_channel(target, tls, options)
    else:
        channel = grpc.insecure_channel(target, options)
    if credentials.token:
        channel = grpc.intercept_channel(channel, _BearerToken(credentials.token))
    return channel
