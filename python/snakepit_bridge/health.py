"""The standard gRPC health service (grpc.health.v1.Health: Check and Watch) for bridge servers.

Kubernetes probes and load balancers ask it on the plaintext --health-listen port, which needs
no token and tells nothing but status; on the serving port it needs the token like every call
(admission.py). A Watch holds a handler thread while open, so Watches take slots of a cap.
Its two messages are tiny, so they are written and read here by hand rather than adding the
grpcio-health-checking package:
    HealthCheckRequest { string service = 1; }
    HealthCheckResponse { ServingStatus status = 1; }  UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3
Services: "liveness" is SERVING until the process ends; "", "readiness" and snakepit.v1.Worker
are SERVING while the server takes calls and NOT_SERVING once it drains — or, for the process
profile, while none of its worker processes is up.
"""
from __future__ import annotations

import threading

from .parts import read_varint

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

SERVING, NOT_SERVING, SERVICE_UNKNOWN = 1, 2, 3
READY_SERVICES = ("", "readiness", "snakepit.v1.Worker")
SERVICE = "grpc.health.v1.Health"


class HealthStatus:
    def __init__(self, can_serve: Callable[[], bool] = lambda: True) -> None:
        self._serving = False
        self._can_serve = can_serve  # the server's own view: e.g. a worker process is up
        self._changed = threading.Condition()

    def changed(self) -> None:
        """What `can_serve` reads changed: watchers hear the new status."""
        with self._changed:
            self._changed.notify_all()

    def set_serving(self, serving: bool) -> None:
        with self._changed:
            self._serving = serving
            self._changed.notify_all()

    def status(self, service: str) -> int:
        if service == "liveness":
            return SERVING
        if service in READY_SERVICES:
            return SERVING if self._serving and self._can_serve() else NOT_SERVING
        return SERVICE_UNKNOWN

    def wait_change(self, seen: int, service: str, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self.status(service) != seen, timeout)
            return self.status(service)


def decode_request(data: bytes) -> str:
    """The `service` of a HealthCheckRequest (other fields are skipped; none are defined)."""
    pos, service = 0, ""
    while pos < len(data):
        key, pos = read_varint(data, pos)
        kind = key & 7
        if kind == 0:
            _, pos = read_varint(data, pos)
        elif kind == 2:
            size, pos = read_varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated HealthCheckRequest")
            if key >> 3 == 1:
                service = data[pos:pos + size].decode("utf-8")
            pos += size
        else:
            raise ValueError(f"unexpected wire type {kind} in HealthCheckRequest")
    return service


def encode_response(status: int) -> bytes:
    return b"\x08" + bytes((status,))


def register_health(server, health: HealthStatus, watches) -> None:
    """`watches` (admission.Slots) caps the Watch streams open at once on this server."""
    import grpc

    def check(service: str, context):
        status = health.status(service)
        if status == SERVICE_UNKNOWN:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {service!r}")
        return status

    def watch(service: str, context):
        watches.take(context)
        return watching(service, context)

    def watching(service: str, context):
        status = health.status(service)
        yield status
        while context.is_active():
            changed = health.wait_change(status, service, 1.0)
            if changed != status:
                status = changed
                yield status

    handlers = {
        "Check": grpc.unary_unary_rpc_method_handler(check, request_deserializer=decode_request, response_serializer=encode_response),
        "Watch": grpc.unary_stream_rpc_method_handler(watch, request_deserializer=decode_request, response_serializer=encode_response),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
