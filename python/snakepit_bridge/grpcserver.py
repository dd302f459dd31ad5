"""The gRPC server that a worker on transport 'grpc' (worker.py) and a bridge server (serve.py)
serve on: its handler threads, message limits and token gate (admission.py), the Worker service
of proto/snakepit.proto, and the address it binds. Only they import it: a worker on the local
lane never loads grpcio.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import grpc

from . import wire
from .admission import TokenGate
from .gil import gil_enabled
from .session import client_frame_or_exit
from .startup import StartupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


def new_server(threads: int, thread_name_prefix: str, message_limit: int, token: bytes | None, options=()) -> grpc.Server:
    """A server whose RPCs run on `threads` handler threads and whose messages are at most
    `message_limit` bytes each way; with `token`, an RPC without it is refused before its
    request is read (TokenGate)."""
    return grpc.server(
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix=thread_name_prefix),
        interceptors=None if token is None else (TokenGate(token),),
        options=[("grpc.max_send_message_length", message_limit), ("grpc.max_receive_message_length", message_limit),
                 ("grpc.so_reuseport", 0), *options],
    )


def add_worker_service(server: grpc.Server, open_session: Callable[[Any], Any], heartbeat: Callable[[], dict],
                       hello: Callable[[], dict] | None = None, request_deserializer=client_frame_or_exit) -> None:
    """The Worker service, registered by hand: no protoc-generated gRPC code is shipped.

    `open_session(context)` gives the StreamSession that serves a Session RPC; `heartbeat()` what
    a HeartbeatReply says beside its seq, the pid and the GIL; `hello()`, a bridge server's only
    (local workers say what they are on fd 3), the HelloReply. Session replies pass through: they
    are protobuf bytes already (frames.py). A Session request that does not decode ends a local
    worker (session.py); a bridge server, serving many clients, passes a deserializer that raises,
    so gRPC ends only that client's RPC."""
    pid, gil = os.getpid(), gil_enabled()

    def session(request_iterator, context):
        return open_session(context).serve(request_iterator, context)

    def heartbeat_reply(request, context):
        return wire.HeartbeatReply(seq=request.seq, pid=pid, gil_enabled=gil, **heartbeat())

    handlers = {
        "Session": grpc.stream_stream_rpc_method_handler(
            session, request_deserializer=request_deserializer, response_serializer=lambda b: b,
        ),
        "Heartbeat": grpc.unary_unary_rpc_method_handler(
            heartbeat_reply, request_deserializer=wire.HeartbeatRequest.FromString,
            response_serializer=wire.HeartbeatReply.SerializeToString,
        ),
    }
    if hello is not None:
        handlers["Hello"] = grpc.unary_unary_rpc_method_handler(
            lambda request, context: wire.HelloReply(**hello()),
            request_deserializer=wire.HelloRequest.FromString, response_serializer=wire.HelloReply.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(wire.WORKER_SERVICE, handlers),))


def listen(server: grpc.Server, flag: str, address: str, credentials=None) -> int:
    """Binds `address` (given as `flag`), with TLS when `credentials` are given; the port bound,
    or StartupError."""
    try:
        port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError as e:
        raise StartupError(f"cannot listen on {flag} {address}: {e}") from None
    if not port:
        raise StartupError(f"cannot listen on {flag} {address}")
    return port
