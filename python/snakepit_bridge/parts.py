"""Large calls whose arguments arrive in parts (Call.args_size > 0, then ArgsPart messages).

A call runs once all its argument bytes are here. Nothing beyond the worker's message limit is
ever buffered: an oversized call is refused from its announced size, before any part arrives.
The Value's fields are parsed as its bytes come, and each field's contents go straight into
a buffer that becomes its `bytes` without a copy, so a 50 MiB argument is never joined or
sliced; the local lane even reads a part from the socket into that buffer (`landing`). A blob
stays in its buffer (codec.BufferBlob): `bytes` for a Buffer argument, a writable NumPy array
for a typed one, neither copied.
"""
from __future__ import annotations

import io

from .codec import BufferBlob
from .runner import too_large_reply
from .fieldkeys import key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# The keys a Value's two fields start with, read once.
_JSON, _BLOBS = key("Value", "json"), key("Value", "blobs")


class AssembledValue:
    """A Value (proto) read from a large call's buffer: what the call runner needs of a message."""

    __slots__ = ("json", "blobs")

    def __init__(self, json: bytes, blobs: list):
        self.json, self.blobs = json, blobs


class Landed:
    """An ArgsPart whose `size` bytes the lane already put in place (see `landing`)."""

    __slots__ = ("id", "size")

    def __init__(self, id: int, size: int):
        self.id, self.size = id, size


class _Field:
    """One field of the Value being received, written in place into the bytes it will be."""

    __slots__ = ("key", "io", "view", "filled")

    def __init__(self, key: int, size: int):
        self.key = key
        self.io = io.BytesIO()
        if size:
            self.io.seek(size - 1)
            self.io.write(b"\0")  # sizes its buffer once, the way getvalue() hands it out uncopied
        self.view = self.io.getbuffer()
        self.filled = 0

    @property
    def room(self) -> int:
        return len(self.view) - self.filled

    def take(self, size: int) -> memoryview:
        """The next `size` bytes of the field, to be written by the caller."""
        start = self.filled
        self.filled += size
        return self.view[start:self.filled]

    def value(self) -> bytes:
        self.view.release()  # with no view left, getvalue() returns the buffer itself
        return self.io.getvalue()

    def blob(self) -> BufferBlob:
        self.view.release()
        return BufferBlob(self.io)


class _Collecting:
    """A large call's Value as its bytes arrive: each field's header is parsed as it comes, and
    its contents go straight into a buffer of their own size."""

    __slots__ = ("call", "received", "head", "field", "json", "blobs")

    def __init__(self, call):
        self.call = call
        self.received = 0
        self.head = bytearray()  # a field header still incomplete
        self.field: _Field | None = None
        self.json = b""
        self.blobs: list[BufferBlob] = []

    @property
    def remaining(self) -> int:
        return self.call.args_size - self.received

    def landing(self, size: int) -> memoryview | None:
        field = self.field
        if field is None or size > field.room:
            return None
        return field.take(size)

    def landed(self, size: int) -> None:
        self.received += size
        if self.field is not None and self.field.room == 0:
            self._close_field()

    def feed(self, data) -> None:
        if len(data) > self.remaining:
            raise ValueError(f"the parts bring more than the {self.call.args_size} bytes the call announced")
        data = memoryview(data)
        while data:
            if self.field is not None:
                n = min(len(data), self.field.room)
                self.field.take(n)[:] = data[:n]
                data = data[n:]
                self.received += n
                if self.field.room == 0:
                    self._close_field()
                continue
            self.head.append(data[0])
            data = data[1:]
            self.received += 1
            self._open_field()

    def _open_field(self) -> None:
        """Starts the field whose header `head` holds, once all of it is there."""
        head = self.head
        if head[0] != _JSON and head[0] != _BLOBS:
            raise ValueError(f"unexpected field key {head[0]:#x} at byte {self.received - len(head)}")
        if len(head) == 1 or head[-1] & 0x80:
            if len(head) > 11:
                raise ValueError("a field length is longer than any varint")
            return
        size, _ = read_varint(head, 1)
        if size > self.remaining:
            raise ValueError(f"a field of {size} bytes runs off the end of the arguments")
        self.field = _Field(head[0], size)
        head.clear()
        if size == 0:
            self._close_field()

    def _close_field(self) -> None:
        field, self.field = self.field, None
        if field.key == _JSON:
            self.json = field.value()
        else:
            self.blobs.append(field.blob())

    def value(self) -> AssembledValue:
        if self.field is not None or self.head:
            raise ValueError("the arguments end inside a field")
        return AssembledValue(self.json, self.blobs)


class PartialCalls:
    def __init__(self, max_message: int):
        self.max_message = max_message
        self._calls: dict[int, _Collecting] = {}

    @property
    def collecting(self) -> bool:
        """Whether a large call's parts are still to come."""
        return bool(self._calls)

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
            entry.landed(part.size)
        else:
            entry.feed(part.data)
        if entry.remaining:
            return None
        del self._calls[part.id]
        return entry.call, entry.value()

    def landing(self, call_id: int, size: int) -> memoryview | None:
        """Where the next `size` bytes of a call's arguments go, if they all fall inside one field
        already started; else None, and the lane reads the part as a frame for `add` to take."""
        entry = self._calls.get(call_id)
        return None if entry is None else entry.landing(size)

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
