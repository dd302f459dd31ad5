"""Session replies written straight to protobuf bytes.

Every call's reply crosses here, and building Reply/Value/ServerFrame message objects only to
serialize them at once costs more than the rest of the worker's own per-call work. These are
exactly the messages of proto/snakepit.proto, with its keys (fieldkeys.py; tests/test_frames.py
reads them back with wire.py's classes); the Session method is registered with a pass-through
serializer.
"""
from __future__ import annotations

from .fieldkeys import key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable

# The version of the protocol between Node and this bridge: the Session frames and the control
# lines. Sent in the `ready` line; Node refuses a worker whose version differs from its own
# (PROTOCOL_VERSION in src/wire/sessionMessages.ts). Raise both together with any change one side
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


def _field(head: bytes, data: bytes) -> bytes:
    return head + _varint(len(data)) + data


def _key(message: str, field: str) -> bytes:
    return bytes((key(message, field),))


# The keys, read once: every reply is written with them.
_JSON, _BLOBS = _key("Value", "json"), _key("Value", "blobs")
_REPLY_ID, _RESULT, _CHUNK = _key("Reply", "id"), _key("Reply", "result"), _key("Reply", "chunk")
_ERROR, _PROGRESS = _key("Reply", "error"), _key("Reply", "progress")
_END_TRUE = bytes((key("Reply", "end"), 1))
_ERROR_FIELDS = tuple(_key("CallError", name) for name in ("code", "type", "message", "traceback"))
_HOST_ID, _HOST_CALL_ID = _key("HostCall", "id"), _key("HostCall", "call_id")
_HOST_NAME, _HOST_ARGS = _key("HostCall", "name"), _key("HostCall", "args")
_PONG_SEQ, _PONG_PID = _key("HeartbeatReply", "seq"), _key("HeartbeatReply", "pid")
_PONG_IN_FLIGHT, _PONG_GIL_TRUE = _key("HeartbeatReply", "in_flight"), bytes((key("HeartbeatReply", "gil_enabled"), 1))
_REPLIES, _PONGS, _HOST_CALLS = _key("ServerFrame", "replies"), _key("ServerFrame", "pongs"), _key("ServerFrame", "host_calls")
# The tiny result's header, field by field (see `result`).
_RESULT_KEY, _JSON_KEY, _REPLIES_KEY = _RESULT[0], _JSON[0], _REPLIES[0]


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



def _with_value(call_id: int, head: bytes, data: bytes, blobs: Iterable[bytes]) -> bytes | Pieces:
    """Reply{id, <head>: Value{json, blobs}}: joined if small, else Pieces."""
    value: list[bytes] = [_JSON + _varint(len(data)), data] if data else []
    for blob in blobs:
        value += (_BLOBS + _varint(len(blob)), blob)
    size = sum(map(len, value))
    parts = [_REPLY_ID + _varint(call_id) + head + _varint(size), *value]
    return Pieces(parts) if size >= PIECES_BYTES else b"".join(parts)


def result(call_id: int, data: bytes, blobs: Iterable[bytes] = ()) -> bytes | Pieces:
    """Reply{id, result: Value}"""
    if not blobs and 0 < len(data) < 0x70:  # the common tiny result: sizes fit one byte each
        return _REPLY_ID + _varint(call_id) + bytes((_RESULT_KEY, len(data) + 2, _JSON_KEY, len(data))) + data
    return _with_value(call_id, _RESULT, data, blobs)


def chunk(call_id: int, data: bytes, blobs: Iterable[bytes] = ()) -> bytes | Pieces:
    """Reply{id, chunk: Value}"""
    return _with_value(call_id, _CHUNK, data, blobs)


def progress(call_id: int, data: bytes) -> bytes:
    """Reply{id, progress: Value{json}}"""
    return _REPLY_ID + _varint(call_id) + _field(_PROGRESS, _field(_JSON, data))


class FrameField(bytes):
    """A ServerFrame field other than a reply, its header included: `frame` writes it as it is."""


class HostCallField(FrameField):
    """ServerFrame.host_calls entry."""


# ServerFrame{draining: true}: a bridge server takes no more calls (serve.py).
DRAINING = FrameField(bytes((key("ServerFrame", "draining"), 1)))


def host_call(host_id: int, call_id: int, name: str, data: bytes, blobs: Iterable[bytes] = ()) -> HostCallField:
    """ServerFrame{host_calls: [HostCall{id, call_id, name, args: Value}]}, field header included."""
    value = b"".join([_field(_JSON, data), *(_field(_BLOBS, blob) for blob in blobs)])
    inner = _HOST_ID + _varint(host_id) + _HOST_CALL_ID + _varint(call_id) + _field(_HOST_NAME, name.encode()) + _field(_HOST_ARGS, value)
    return HostCallField(_field(_HOST_CALLS, inner))


def error(call_id: int, code: str, type_: str, message: str, traceback: str = "") -> bytes:
    """Reply{id, error: CallError{code, type, message, traceback}}"""
    inner = b"".join(
        _field(head, text.encode("utf-8", "replace"))
        for head, text in zip(_ERROR_FIELDS, (code, type_, message, traceback))
        if text
    )
    return _REPLY_ID + _varint(call_id) + _field(_ERROR, inner)


def end(call_id: int) -> bytes:
    """Reply{id, end: true}"""
    return _REPLY_ID + _varint(call_id) + _END_TRUE


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
    return bytes((_REPLIES_KEY, size)) if size < 0x80 else _REPLIES + _varint(size)


def pong(seq: int, pid: int, in_flight: int, gil_enabled: bool) -> bytes:
    """ServerFrame{pongs: [HeartbeatReply{seq, pid, in_flight, gil_enabled}]}"""
    inner = _PONG_SEQ + _varint(seq) + _PONG_PID + _varint(pid) + _PONG_IN_FLIGHT + _varint(max(in_flight, 0))
    if gil_enabled:
        inner += _PONG_GIL_TRUE
    return _field(_PONGS, inner)
