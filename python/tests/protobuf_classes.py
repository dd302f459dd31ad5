"""protobuf's own message classes for proto/snakepit.proto, built from protoc's compilation of
it, for the tests that check wire.py against protobuf (where protobuf and grpcio-tools are
installed: the bridge itself needs neither)."""
from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from proto_descriptor import compile_proto

_pool = descriptor_pool.DescriptorPool()
_file = _pool.AddSerializedFile(compile_proto())
PACKAGE = "snakepit.v1"


def message_class(name: str) -> Any:
    descriptor = _pool.FindMessageTypeByName(f"{PACKAGE}.{name}")
    get_class = getattr(message_factory, "GetMessageClass", None)  # protobuf 4.21 lacks it
    if get_class is not None:
        return get_class(descriptor)
    return message_factory.MessageFactory(_pool).GetPrototype(descriptor)  # gone from later releases


def worker_service() -> Any:
    """The Worker service's descriptor."""
    return _pool.FindServiceByName(f"{PACKAGE}.Worker")


def parse(cls: Any, data: bytes) -> Any:
    """The `cls` message in `data`, all of it: protobuf 4.21's C++ parser stops at a stray
    end-group tag with only a warning, where later releases raise DecodeError."""
    message = cls()
    consumed = message.MergeFromString(data)
    if consumed != len(data):
        raise DecodeError(f"only {consumed} of {len(data)} bytes parse as {cls.DESCRIPTOR.name}")
    return message
