"""Compiles proto/snakepit.proto with protoc (grpcio-tools) into the table the bridge ships.

snakepit_bridge/_fields.py lists every message's fields (name, number, type): wire.py reads and
writes the messages from it with the standard library alone. The proto stays the one definition:
test_descriptor.py compares the shipped table with what this compiles, and after a change to the
proto

    .venv/bin/python python/tests/proto_descriptor.py

rewrites it. protobuf_classes.py builds protobuf's own classes from the same compilation, for the
tests that check wire.py against protobuf.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO / "proto"
PROTO_NAME = "snakepit.proto"
SHIPPED = REPO / "python" / "snakepit_bridge" / "_fields.py"

HEADER = '''\
"""proto/snakepit.proto, field by field: the table wire.py reads and writes the messages from.

Per message, its fields in the proto's order: (name, number, type, repeated, oneof), where type
is a scalar's proto type or a message's name, and oneof names the oneof the field belongs to.

Written by python/tests/proto_descriptor.py; do not edit. test_descriptor.py fails when it no
longer matches the proto.
"""

'''


def compile_proto() -> bytes:
    """The serialized FileDescriptorProto protoc makes of the proto (no source comments)."""
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory(prefix="snakepit-protoc-") as tmp:
        out = Path(tmp) / "set.bin"
        status = protoc.main(["protoc", f"-I{PROTO_DIR}", f"--descriptor_set_out={out}", str(PROTO_DIR / PROTO_NAME)])
        if status != 0:
            raise RuntimeError(f"protoc failed on {PROTO_DIR / PROTO_NAME} (exit {status})")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    if len(files) != 1:
        raise RuntimeError(f"expected one file in the descriptor set, got {[f.name for f in files]}")
    return files[0].SerializeToString()


def render_fields(serialized: bytes) -> str:
    """The _fields.py module for the descriptor protoc made."""
    from google.protobuf import descriptor_pb2

    kinds = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto.FromString(serialized)
    lines = [f"PACKAGE = {proto.package!r}\n\nMESSAGES = {{\n"]
    for message in proto.message_type:
        lines.append(f"    {message.name!r}: (\n")
        for field in message.field:
            if field.type == kinds.TYPE_MESSAGE:
                kind = field.type_name.rpartition(".")[2]
            else:
                kind = kinds.Type.Name(field.type)[len("TYPE_"):].lower()
            repeated = field.label == kinds.LABEL_REPEATED
            oneof = message.oneof_decl[field.oneof_index].name if field.HasField("oneof_index") else None
            lines.append(f"        ({field.name!r}, {field.number}, {kind!r}, {repeated}, {oneof!r}),\n")
        lines.append("    ),\n")
    return HEADER + "".join(lines) + "}\n"


def main() -> None:
    SHIPPED.write_text(render_fields(compile_proto()))
    print(f"wrote {SHIPPED.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
