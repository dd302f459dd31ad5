"""wire.py against protobuf itself (where protobuf and grpcio-tools are installed): the same
messages give the same bytes, and any bytes — valid, cut, flipped or with lying lengths — are
refused by both or read by both as the same message."""
from __future__ import annotations

import os
import random

from google.protobuf.internal import api_implementation
from protobuf_classes import message_class, parse

from snakepit_bridge import wire
from snakepit_bridge._fields import MESSAGES

# protobuf's C++ implementation (4.21, as Debian 12 builds it) reads some bytes the encoding's
# spec calls malformed (a zero tag ends the message; a tag over 32 bits is cut to 32), which upb —
# every release on PyPI since 4.21 — and wire.py refuse. Against it, only what wire.py reads is
# compared: it must read the same.
LENIENT = api_implementation.Type() == "cpp"
SEED = int(os.environ.get("SNAKEPIT_FUZZ_SEED", "8"))
SCALARS = {
    "uint64": lambda rng: rng.choice([0, 1, 127, 128, rng.getrandbits(64)]),
    "uint32": lambda rng: rng.choice([0, 1, 300, rng.getrandbits(32)]),
    "bool": lambda rng: rng.random() < 0.5,
    "string": lambda rng: "".join(rng.choice("aé€😀\x00z") for _ in range(rng.randrange(6))),
    "bytes": lambda rng: rng.randbytes(rng.randrange(8)),
}


def random_fields(rng: random.Random, name: str, depth: int = 0) -> dict:
    """Keyword arguments for a random message `name`, at most one field per oneof."""
    fields, oneofs = {}, set()
    for field, _number, kind, repeated, oneof in MESSAGES[name]:
        if rng.random() < 0.4 or (oneof and oneof in oneofs) or (kind in MESSAGES and depth > 2):
            continue
        make = (lambda: random_fields(rng, kind, depth + 1)) if kind in MESSAGES else (lambda: SCALARS[kind](rng))
        fields[field] = [make() for _ in range(rng.randrange(3))] if repeated else make()
        if oneof:
            oneofs.add(oneof)
    return fields


def build(module, name: str, fields: dict):
    """The message `name` of `module` (wire, or protobuf's classes) with `fields`."""
    cls = getattr(module, name) if module is wire else message_class(name)
    kinds = {f[0]: f[2] for f in MESSAGES[name]}
    made = {}
    for field, value in fields.items():
        if kinds[field] in MESSAGES:
            value = [build(module, kinds[field], v) for v in value] if isinstance(value, list) else build(module, kinds[field], value)
        made[field] = value
    return cls(**made)


def test_the_same_message_gives_the_same_bytes_and_each_reads_the_others():
    rng = random.Random(SEED)
    for i in range(3000):
        name = list(MESSAGES)[i % len(MESSAGES)]
        fields = random_fields(rng, name)
        ours, theirs = build(wire, name, fields), build(None, name, fields)
        data = theirs.SerializeToString()
        assert ours.SerializeToString() == data, (name, fields)
        assert getattr(wire, name).FromString(data) == ours, (name, fields)


def mutations(rng: random.Random, data: bytes) -> list[bytes]:
    raw = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        if raw:
            raw[rng.randrange(len(raw))] = rng.randrange(256)
    at = rng.randrange(len(data) + 1)
    lying = data[:at] + bytes([rng.choice([0x0A, 0x12, 0x1A, 0x0B, 0x0C, 0x0D, 0x09])]) + bytes(rng.randbytes(rng.randrange(1, 11))) + data[at:]
    return [data[:rng.randrange(len(data) + 1)], bytes(raw), lying, rng.randbytes(rng.randrange(40))]


def test_any_bytes_are_refused_by_both_or_read_by_both_as_the_same_message():
    rng = random.Random(SEED)
    agreed = refused = 0
    for i in range(4000):
        name = ["ClientFrame", "ServerFrame", "Call", "HostReply"][i % 4]
        data = build(None, name, random_fields(rng, name)).SerializeToString()
        for sample in mutations(rng, data):
            try:
                theirs = parse(message_class(name), sample)
            except Exception:  # noqa: BLE001 - protobuf's error types vary by release
                theirs = None
            try:
                ours = getattr(wire, name).FromString(sample)
            except wire.DecodeError:
                ours = None
                if theirs is not None and LENIENT:
                    continue
            assert (ours is None) == (theirs is None), (name, sample, theirs)
            if ours is None:
                refused += 1
                continue
            theirs.DiscardUnknownFields()
            assert message_class(name).FromString(ours.SerializeToString()) == theirs, (name, sample)
            agreed += 1
    assert agreed > 1000 and refused > 1000, (agreed, refused)  # both kinds were exercised
