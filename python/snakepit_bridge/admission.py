"""What a gRPC server lets in, before it spends anything on it (grpcserver.py).

- The token is checked on a call's metadata, before its body is read: a call without it is
  refused by a handler that never asks for the request, so a tokenless 200 MiB message stays
  in the client's send window instead of the server's memory. A bridge server (serve.py) and a
  worker on transport 'grpc' (worker.py) both check it so.
- A bridge server's streams that hold a handler thread while open (Session, health Watch) each
  take a slot of their own cap; one over the cap is refused RESOURCE_EXHAUSTED. The server's
  thread pool is sized for every slot plus UNARY_THREADS, so a full cap never delays a Hello or
  a Check.
"""
from __future__ import annotations

import threading

import grpc

from .tokens import same_token

TOKEN_KEY = "x-snakepit-token"
# Threads kept for short calls (Hello, Heartbeat, Check, refusals) beside the capped streams.
UNARY_THREADS = 8


def has_token(metadata, token: bytes) -> bool:
    for key, value in metadata or ():
        if key == TOKEN_KEY:
            return same_token(value.encode() if isinstance(value, str) else value, token)
    return False


def _refuse(_requests, context):
    context.abort(grpc.StatusCode.UNAUTHENTICATED, f"missing or wrong {TOKEN_KEY} metadata")


# Request-streaming, so gRPC reads no message before `_refuse` runs, and `_refuse` reads none.
_REFUSED = grpc.stream_unary_rpc_method_handler(_refuse)


class TokenGate(grpc.ServerInterceptor):
    """Every RPC of the server needs the token in its metadata; without it, nothing is read."""

    def __init__(self, token: bytes) -> None:
        self._token = token

    def intercept_service(self, continuation, handler_call_details):
        if has_token(handler_call_details.invocation_metadata, self._token):
            return continuation(handler_call_details)
        return _REFUSED


class Slots:
    """A cap on streams open at once; a slot is given back when its RPC ends, however it ends."""

    def __init__(self, size: int, what: str, flag: str) -> None:
        self.size = size
        self._free = threading.BoundedSemaphore(size)
        self._refusal = f"this server serves at most {size} {what} at once ({flag})"

    def take(self, context) -> None:
        """Takes a slot for the RPC of `context`, or ends that RPC as RESOURCE_EXHAUSTED."""
        if not self._free.acquire(blocking=False):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, self._refusal)
        if not context.add_callback(self._free.release):
            self._free.release()  # the RPC has already ended
