"""Session replies written straight to protobuf bytes.

Every call's reply crosses here, and building Reply/Value/ServerFrame message objects only to
serialize them at once costs more than the rest of the worker's own per-call work. These are
exactly the messages of proto/snakepit.proto (tests/test_frames.py reads them back with wire.py's
classes); the Session method is registered with a pass-through serializer.
"""
from __future__ import annotations

from typing import Iterable

# The version of the protocol between Node and this bridge: the Session frames and the control
# lines. Sent in the `ready` line; Node refuses a worker whose version differs from its own
# (PROTOCOL_VERSION in src/sessionMessages.ts). Raise both together with any change one side
# cannot read.
PROTOCOL_VERSION = 5


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(key: bytes, data: bytes) -> bytes:
    return key + _varint(len(data)) + data


# A reply at least this long stays in pieces (see Pieces).
PIECES_BYTES = 64 * 1024


class Pieces:
    """A large reply as the pieces it is made of (field headers, the JSON, each blob, uncopied):
    the local lane writes them one after another and never joins them."""

    __slots__ = ("parts", "size")

    def __init__(self, parts: list[bytes]):
        self.parts = parts
        self.size = sum(map(len, parts))

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        return b"".join(self.parts)



def _with_value(call_id: int, key: bytes, data: bytes, blobs: Iterable[bytes]) -> bytes | Pieces:
    """Reply{id, <key>: Value{json, blobs}}: joined if small, else Pieces."""
    value: list[bytes] = [b"\x0a" + _varint(len(data)), data] if data else []  # Value.json
    for blob in blobs:
        value += (b"\x12" + _varint(len(blob)), blob)  # Value.blobs
    size = sum(map(len, value))
    parts = [b"\x08" + _varint(call_id) + key + _varint(size), *value]
    return Pieces(parts) if size >= PIECES_BYTES else b"".join(parts)


def result(call_id: int, data: bytes, blobs: Iterable[bytes] = ()) -> bytes | Pieces:
    """Reply{id, result: Value}"""
    if not blobs and 0 < len(data) < 0x70:  # the common tiny result: sizes fit one byte each
        return b"\x08" + _varint(call_id) + bytes((0x12, len(data) + 2, 0x0A, len(data))) + data
    return _with_value(call_id, b"\x12", data, blobs)


def chunk(call_id: int, data: bytes, blobs: Iterable[bytes] = ()) -> bytes | Pieces:
    """Reply{id, chunk: Value}"""
    return _with_value(call_id, b"\x1a", data, blobs)


def progress(call_id: int, data: bytes) -> bytes:
    """Reply{id, progress: Value{json}}"""
    return b"\x08" + _varint(call_id) + _field(b"\x32", _field(b"\x0a", data))


class FrameField(bytes):
    """A ServerFrame field other than a reply, its header included: `frame` writes it as it is."""


class HostCallField(FrameField):
    """ServerFrame.host_calls entry."""


# ServerFrame{draining: true}: a bridge server takes no more calls (serve.py).
DRAINING = FrameField(b"\x20\x01")


def host_call(host_id: int, call_id: int, name: str, data: bytes, blobs: Iterable[bytes] = ()) -> HostCallField:
    """ServerFrame{host_calls: [HostCall{id, call_id, name, args: Value}]}, field header included."""
    value = b"".join([_field(b"\x0a", data), *(_field(b"\x12", blob) for blob in blobs)])
    inner = b"\x08" + _varint(host_id) + b"\x10" + _varint(call_id) + _field(b"\x1a", name.encode()) + _field(b"\x22", value)
    return HostCallField(_field(b"\x1a", inner))


def error(call_id: int, code: str, type_: str, message: str, traceback: str = "") -> bytes:
    """Reply{id, error: CallError{code, type, message, traceback}}"""
    inner = b"".join(
        _field(key, text.encode("utf-8", "replace"))
        for key, text in ((b"\x0a", code), (b"\x12", type_), (b"\x1a", message), (b"\x22", traceback))
        if text
    )
    return b"\x08" + _varint(call_id) + _field(b"\x22", inner)


def end(call_id: int) -> bytes:
    """Reply{id, end: true}"""
    return b"\x08" + _varint(call_id) + b"\x28\x01"


def frame(replies: Iterable[bytes | Pieces]) -> bytes:
    """ServerFrame{replies}; a FrameField among them (a host call, draining) goes in as it is."""
    out: list[bytes] = []
    for reply in replies:
        if isinstance(reply, FrameField):
            out.append(reply)
            continue
        out.append(single_head(len(reply)))
        if isinstance(reply, Pieces):
            out += reply.parts
        else:
            out.append(reply)
    return b"".join(out)


def single(reply: bytes | Pieces) -> bytes:
    """ServerFrame{replies: [reply]}"""
    if isinstance(reply, Pieces):
        return b"".join([single_head(reply.size), *reply.parts])
    return single_head(len(reply)) + reply


def single_head(size: int) -> bytes:
    """The bytes before a reply of `size` bytes in ServerFrame{replies: [reply]}."""
    return b"\x0a" + bytes((size,)) if size < 0x80 else b"\x0a" + _varint(size)


def pong(seq: int, pid: int, in_flight: int, gil_enabled: bool) -> bytes:
    """ServerFrame{pongs: [HeartbeatReply{seq, pid, in_flight, gil_enabled}]}"""
    inner = b"\x08" + _varint(seq) + b"\x10" + _varint(pid) + b"\x18" + _varint(max(in_flight, 0))
    if gil_enabled:
        inner += b"\x20\x01"
    return _field(b"\x12", inner)
