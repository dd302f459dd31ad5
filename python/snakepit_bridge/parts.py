"""Large calls whose arguments arrive in parts (Call.args_size > 0, then ArgsPart messages).

A call runs once all its argument bytes are here. Nothing beyond the worker's message limit is
ever buffered: an oversized call is refused from its announced size, before any part arrives.
Each call's bytes go into one buffer of the announced size as they come, so a 50 MiB argument
is never re-joined; the local lane even reads a part from the socket straight into that buffer
(`landing`, `landed`). Its Value is then cut from that buffer by hand, one copy per blob.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from .dispatch import too_large_reply


class AssembledValue(NamedTuple):
    """A Value (proto) read from a large call's buffer: what dispatch needs of a message."""

    json: bytes
    blobs: list


class Landed(NamedTuple):
    """An ArgsPart whose `size` bytes the lane already put in place (see `landing`)."""

    id: int
    size: int


class _Collecting:
    __slots__ = ("call", "buffer", "filled")

    def __init__(self, call):
        self.call = call
        self.buffer = bytearray(call.args_size)
        self.filled = 0


class PartialCalls:
    def __init__(self, max_message: int):
        self.max_message = max_message
        self._calls: dict[int, _Collecting] = {}

    def start(self, call) -> Any:
        """Begins collecting a large call's arguments; returns an error reply if it is refused."""
        if call.args_size > self.max_message:
            return too_large_reply(call.id, "arguments", call.args_size, self.max_message)
        self._calls[call.id] = _Collecting(call)
        return None

    def add(self, part) -> tuple[Any, Any] | None:
        """Adds a part (an ArgsPart, or Landed); (call, args) once the call's arguments are complete.

        Raises ValueError for more bytes than the call announced, or arguments that are no Value.
        """
        entry = self._calls.get(part.id)
        if entry is None:
            return None  # cancelled or refused: its remaining parts are dropped
        if isinstance(part, Landed):
            size = part.size
        else:
            data = part.data
            size = len(data)
            self._room(entry, size)[:] = data
        entry.filled += size
        if entry.filled < len(entry.buffer):
            return None
        del self._calls[part.id]
        return entry.call, parse_value(entry.buffer)

    def landing(self, call_id: int, size: int) -> memoryview | None:
        """Where the next `size` bytes of a call's arguments go, or None if it is not collecting
        or they would not fit: the lane then reads the part as a frame, and `add` judges it."""
        entry = self._calls.get(call_id)
        if entry is None or entry.filled + size > len(entry.buffer):
            return None
        return self._room(entry, size)

    @staticmethod
    def _room(entry: _Collecting, size: int) -> memoryview:
        end = entry.filled + size
        if end > len(entry.buffer):
            raise ValueError(f"the parts bring more than the {len(entry.buffer)} bytes the call announced")
        return memoryview(entry.buffer)[entry.filled:end]

    def drop(self, call_id: int) -> bool:
        """Forgets a call still collecting (cancelled); True if there was one."""
        return self._calls.pop(call_id, None) is not None


def read_varint(data, pos: int) -> tuple[int, int]:
    """(value, position after it) of the varint at `pos`; ValueError if it runs off the end."""
    value = shift = 0
    end = len(data)
    while pos < end and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise ValueError("a length runs off the end of the arguments")


def parse_value(buffer: bytearray) -> AssembledValue:
    """Value{json = 1, repeated blobs = 2} as Node writes it; ValueError for anything else."""
    view = memoryview(buffer)
    json = b""
    blobs: list = []
    pos, end = 0, len(buffer)
    while pos < end:
        key = buffer[pos]
        if key not in (0x0A, 0x12):
            raise ValueError(f"unexpected field key {key:#x} at byte {pos}")
        size, pos = read_varint(buffer, pos + 1)
        if pos + size > end:
            raise ValueError(f"a field of {size} bytes runs off the end of the arguments")
        field = bytes(view[pos:pos + size])
        if key == 0x0A:
            json = field
        else:
            blobs.append(field)
        pos += size
    return AssembledValue(json, blobs)
