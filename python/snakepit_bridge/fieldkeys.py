"""Field keys from the table generated from proto/snakepit.proto (_fields.py), for the bytes
written and read by hand: replies (frames.py) and a large call's parts (parts.py,
framesocket.py). Their users read each key once, at import, into a module constant."""
from __future__ import annotations

from ._fields import MESSAGES

# Protobuf's wire types, as proto3 writes each kind of field.
_VARINT, _LEN = 0, 2
_NUMBERS = ("uint64", "uint32", "bool")


def key(message: str, field: str) -> int:
    """The key that starts `field` of `message` on the wire: number << 3 | wire type (length-
    delimited for messages, text and packed repeated numbers). The hand-written bytes take every
    key to be one byte, so a field numbered above 15 is refused here rather than miswritten."""
    for name, number, kind, repeated, _oneof in MESSAGES[message]:
        if name == field:
            found = number << 3 | (_VARINT if kind in _NUMBERS and not repeated else _LEN)
            if found > 0x7F:
                raise ValueError(f"{message}.{field} is field {number}: its key takes more than one byte")
            return found
    raise KeyError(f"{message} has no field {field!r}")
