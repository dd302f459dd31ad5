"""The wire's message classes, built when first imported from the descriptor in _descriptor.py.

No protoc-generated Python is shipped: that code runs only on protobuf releases close to the
one that made it, while classes built from a descriptor work the same on every protobuf the
bridge supports (pyproject.toml declares the range). The pool is private, so these names never
clash with a copy of the same proto that the host application may have loaded itself.
"""
from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from ._descriptor import SERIALIZED

PACKAGE = "snakepit.v1"

_pool = descriptor_pool.DescriptorPool()
_pool.AddSerializedFile(SERIALIZED)


def _message_class(name: str) -> Any:
    descriptor = _pool.FindMessageTypeByName(f"{PACKAGE}.{name}")
    get_class = getattr(message_factory, "GetMessageClass", None)  # protobuf 4.21 lacks it
    if get_class is not None:
        return get_class(descriptor)
    return message_factory.MessageFactory(_pool).GetPrototype(descriptor)  # gone from later releases


Value = _message_class("Value")
Call = _message_class("Call")
ArgsPart = _message_class("ArgsPart")
ClientFrame = _message_class("ClientFrame")
CallError = _message_class("CallError")
Reply = _message_class("Reply")
ServerFrame = _message_class("ServerFrame")
HostCall = _message_class("HostCall")
HostReply = _message_class("HostReply")
Credit = _message_class("Credit")
HeartbeatRequest = _message_class("HeartbeatRequest")
HeartbeatReply = _message_class("HeartbeatReply")
HelloRequest = _message_class("HelloRequest")
HelloReply = _message_class("HelloReply")


def parse(cls: Any, data: bytes) -> Any:
    """The `cls` message in `data`, all of it: protobuf 4.21's C++ parser stops at a stray
    end-group tag with only a warning, where later releases raise DecodeError."""
    message = cls()
    consumed = message.MergeFromString(data)
    if consumed != len(data):
        raise DecodeError(f"only {consumed} of {len(data)} bytes parse as {cls.DESCRIPTOR.name}")
    return message


# The Worker service as the proto states it; worker.py registers its methods under these names.
WORKER_SERVICE = _pool.FindServiceByName(f"{PACKAGE}.Worker")
