"""The wire's messages, read and written with the standard library alone.

The local lane must run on any Python with nothing installed, so the bridge does not need
protobuf to read what Node sends. Each message of proto/snakepit.proto is a class built here
from the generated table in _fields.py; its field numbers therefore come from the proto itself.

The classes offer the part of protobuf's message API the bridge and its tests use (keyword
construction, `FromString`, `SerializeToString`, `WhichOneof`, equality), so protobuf's classes
(messages.py, for the gRPC servers) and these can stand in for each other; test_wire.py checks
that both read and write the same bytes the same way. Reading follows protobuf's rules: unknown
fields and fields of an unexpected wire type are skipped, repeated numbers come packed or not, a
singular message seen twice is merged, and anything malformed raises DecodeError.
"""
from __future__ import annotations

from ._fields import MESSAGES, PACKAGE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Tuple

# The Worker service's name on gRPC, as the proto's package makes it.
WORKER_SERVICE = f"{PACKAGE}.Worker"


class DecodeError(ValueError):
    """Bytes that are not the message they were read as."""


VARINT, I64, LEN, GROUP_START, GROUP_END, I32 = range(6)
_MASKS = {"uint64": (1 << 64) - 1, "uint32": (1 << 32) - 1, "bool": None}
_TEXT = ("string", "bytes")


def read_varint(data, pos: int, end: int) -> Tuple[int, int]:
    """(value, position after it): protobuf's varint of at most 10 bytes, kept to 64 bits."""
    value = shift = 0
    while shift < 70:
        if pos >= end:
            raise DecodeError("a varint runs off the end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
    raise DecodeError("a varint is longer than 10 bytes")


def _write_varint(out: bytearray, n: int) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _skip_group(data, pos: int, end: int, number: int) -> int:
    """The position after the group `number` that starts at `pos` (its fields are unknown)."""
    while pos < end:
        key, pos = read_varint(data, pos, end)
        kind = key & 7
        if kind == GROUP_END:
            if key >> 3 != number:
                raise DecodeError("a group ends with another group's tag")
            return pos
        pos = _skip(data, pos, end, key)
    raise DecodeError("a group runs off the end")


def _skip(data, pos: int, end: int, key: int) -> int:
    """The position after the value of an unknown field (or one of an unexpected wire type)."""
    kind = key & 7
    if kind == VARINT:
        return read_varint(data, pos, end)[1]
    if kind == LEN:
        size, pos = read_varint(data, pos, end)
        pos += size
    elif kind == I64:
        pos += 8
    elif kind == I32:
        pos += 4
    elif kind == GROUP_START:
        return _skip_group(data, pos, end, key >> 3)
    else:
        raise DecodeError(f"wire type {kind} of field {key >> 3} is not allowed here")
    if pos > end:
        raise DecodeError(f"field {key >> 3} runs off the end")
    return pos


class Message:
    """A message of the proto. A field not set reads as its default: 0, "", b"", False, () when
    repeated, and an empty message (shared: never write into it) for a singular message field."""

    _name = "Message"
    _fields: Tuple[Tuple[str, int, str, bool, Any], ...] = ()
    _by_key: Dict[int, tuple] = {}

    def __init__(self, **fields: Any) -> None:
        known = {field[0]: field[3] for field in self._fields}
        for name, value in fields.items():
            if name not in known:
                raise TypeError(f"{self._name} has no field {name!r}")
            setattr(self, name, list(value) if known[name] else value)

    @classmethod
    def FromString(cls, data) -> Any:  # noqa: N802 - protobuf's name, see the module's docstring
        message = object.__new__(cls)
        _read(cls, data, 0, len(data), message)
        return message

    def SerializeToString(self) -> bytes:  # noqa: N802
        out = bytearray()
        _write(self, out)
        return bytes(out)

    def WhichOneof(self, oneof: str) -> Any:  # noqa: N802
        for name, _number, _kind, _repeated, its_oneof in self._fields:
            if its_oneof == oneof and name in self.__dict__:
                return name
        return None

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, field[0]), getattr(other, field[0])) for field in self._fields)

    __hash__ = None  # type: ignore[assignment] - mutable, like protobuf's messages

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{self._name}({shown})"


def _same(a: Any, b: Any) -> bool:
    return list(a) == list(b) if isinstance(a, (list, tuple)) else a == b


# How a field's value is read (the first item of each entry of a class's `_by_key`).
_NUMBER, _BYTES, _STRING, _MESSAGE, _PACKED = range(5)


def _read(cls: Any, data, pos: int, end: int, message: Message) -> None:
    """Reads the fields in data[pos:end] into `message`. Every call's frame comes through here,
    so the common cases (one-byte keys, numbers and lengths) are read inline."""
    by_key = cls._by_key
    state = message.__dict__
    while pos < end:
        key = data[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = read_varint(data, pos, end)
        field = by_key.get(key)
        if field is None:
            if key >> 3 == 0 or key > 0xFFFFFFFF:
                raise DecodeError(f"field number {key >> 3} is not a field number")
            pos = _skip(data, pos, end, key)
            continue
        how, name, extra, repeated, others = field
        if how == _NUMBER:
            value = data[pos] if pos < end else 0x80
            if value < 0x80:
                pos += 1
            else:
                value, pos = read_varint(data, pos, end)
                if extra is not None:
                    value &= extra  # a uint32 sent wider keeps its low bits
            if extra is None:
                value = value != 0
        else:
            size = data[pos] if pos < end else 0x80
            if size < 0x80:
                start = pos + 1
            else:
                size, start = read_varint(data, pos, end)
            pos = start + size
            if pos > end:
                raise DecodeError(f"field {name!r} runs off the end")
            if how == _BYTES:
                value = bytes(data[start:pos])
            elif how == _STRING:
                try:
                    value = str(data[start:pos], "utf-8")
                except UnicodeDecodeError:
                    raise DecodeError(f"field {name!r} is not UTF-8") from None
            elif how == _MESSAGE:
                # A singular one seen twice is merged. (`in`, not dict.get: on free-threaded
                # 3.13, get on this instance dict costs ≈ 35 µs here, ten times the frame.)
                value = state[name] if not repeated and name in state else None
                if value is None:
                    value = object.__new__(extra)  # what is read needs no __init__
                _read(extra, data, start, pos, value)
            else:  # _PACKED
                if name not in state:
                    state[name] = []
                items = state[name]
                while start < pos:
                    number, start = read_varint(data, start, pos)
                    items.append(number != 0 if extra is None else number & extra)
                continue
        if others:  # a oneof holds one field at a time
            for other in others:
                state.pop(other, None)
        if repeated:
            if name in state:
                state[name].append(value)
            else:
                state[name] = [value]
        else:
            state[name] = value


def _keys_of(field: tuple, fields: tuple, classes: Dict[str, Any]) -> Dict[int, tuple]:
    """How each key (number and wire type) of one field is read: (how, name, its class or its
    mask, repeated, the other fields of its oneof)."""
    name, number, kind, repeated, oneof = field
    others = tuple(f[0] for f in fields if oneof and f[4] == oneof and f[0] != name)
    if kind in classes:
        return {number << 3 | LEN: (_MESSAGE, name, classes[kind], repeated, others)}
    if kind in _TEXT:
        return {number << 3 | LEN: (_STRING if kind == "string" else _BYTES, name, None, repeated, others)}
    keys = {number << 3 | VARINT: (_NUMBER, name, _MASKS[kind], repeated, others)}
    if repeated:
        keys[number << 3 | LEN] = (_PACKED, name, _MASKS[kind], repeated, others)
    return keys


def _write(message: Message, out: bytearray) -> None:
    state = message.__dict__
    for name, number, kind, repeated, oneof in message._fields:
        if name not in state:
            continue
        value = state[name]
        if kind in MESSAGES or kind in _TEXT:
            for item in value if repeated else (value,):
                if kind in MESSAGES:
                    body = item.SerializeToString()  # written even if empty: it is set
                else:
                    body = item.encode("utf-8") if kind == "string" else bytes(item)
                    if not body and not repeated and not oneof:
                        continue  # proto3 leaves a default out, unless a oneof holds it
                _write_varint(out, number << 3 | LEN)
                _write_varint(out, len(body))
                out += body
        elif repeated:
            if value:
                packed = bytearray()
                for n in value:
                    _write_varint(packed, int(n))
                _write_varint(out, number << 3 | LEN)
                _write_varint(out, len(packed))
                out += packed
        elif value or oneof:
            _write_varint(out, number << 3 | VARINT)
            _write_varint(out, int(value))


_DEFAULTS = {"bytes": b"", "string": "", "bool": False}


def _build() -> Dict[str, Any]:
    """A class per message of the table, with its defaults and its readers."""
    classes: Dict[str, Any] = {}
    for name, fields in MESSAGES.items():
        defaults = {f: () if repeated else _DEFAULTS.get(kind, 0) for f, _n, kind, repeated, _o in fields if kind not in MESSAGES or repeated}
        classes[name] = type(name, (Message,), {"_name": name, "_fields": fields, "__module__": __name__, **defaults})
    for name, fields in MESSAGES.items():
        cls = classes[name]
        by_key: Dict[int, tuple] = {}
        for field in fields:
            by_key.update(_keys_of(field, fields, classes))
            if field[2] in MESSAGES and not field[3]:
                setattr(cls, field[0], classes[field[2]]())
        cls._by_key = by_key
    return classes


globals().update(_build())
