"""Compiles proto/snakepit.proto with protoc (grpcio-tools) into the field tables the code ships.

snakepit_bridge/_fields.py lists every message's fields (name, number, type): wire.py reads and
writes the messages from it with the standard library alone, and the replies written out by hand
(frames.py) take their keys from it. src/wire/protoFields.ts gives Node's hand-written codec
(clientFrames.ts, serverFrames.ts) each field's number and key. The proto stays the one
definition: test_descriptor.py compares both shipped tables with what this compiles, and after a
change to the proto

    .venv/bin/python python/tests/proto_descriptor.py

rewrites them. protobuf_classes.py builds protobuf's own classes from the same compilation, for the
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
SHIPPED_TS = REPO / "src" / "wire" / "protoFields.ts"

HEADER = '''\
"""proto/snakepit.proto, field by field: the table wire.py reads and writes the messages from,
and fieldkeys.py gives the frames written out by hand their keys from.

Per message, its fields in the proto's order: (name, number, type, repeated, oneof), where type
is a scalar's proto type or a message's name, and oneof names the oneof the field belongs to.

Written by python/tests/proto_descriptor.py; do not edit. test_descriptor.py fails when it no
longer matches the proto.
"""

'''

TS_HEADER = """\
// proto/snakepit.proto, field by field, for the codec written out by hand (clientFrames.ts,
// serverFrames.ts): each field's number, and its key, the varint that starts the field on the
// wire: number << 3 | wire type, 2 (length-delimited) for messages, strings, bytes and packed
// repeated numbers, 0 (varint) for other numbers and bools.
//
// Written by python/tests/proto_descriptor.py; do not edit. python/tests/test_descriptor.py
// fails when it no longer matches the proto.

"""

# Protobuf's wire types, as proto3 writes each kind of field.
VARINT, LEN = 0, 2


def compile_proto(proto_dir: Path = PROTO_DIR) -> bytes:
    """The serialized FileDescriptorProto protoc makes of the proto (no source comments)."""
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory(prefix="snakepit-protoc-") as tmp:
        out = Path(tmp) / "set.bin"
        status = protoc.main(["protoc", f"-I{proto_dir}", f"--descriptor_set_out={out}", str(proto_dir / PROTO_NAME)])
        if status != 0:
            raise RuntimeError(f"protoc failed on {proto_dir / PROTO_NAME} (exit {status})")
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


def wire_type(field) -> int:
    """The wire type proto3 writes the field with: repeated numbers are packed unless the proto
    says otherwise."""
    from google.protobuf import descriptor_pb2

    kinds = descriptor_pb2.FieldDescriptorProto
    if field.type in (kinds.TYPE_MESSAGE, kinds.TYPE_STRING, kinds.TYPE_BYTES):
        return LEN
    if field.type not in (kinds.TYPE_UINT64, kinds.TYPE_UINT32, kinds.TYPE_BOOL):
        raise ValueError(f"field {field.name}: the codecs know no {kinds.Type.Name(field.type)} fields")
    packed = field.label == kinds.LABEL_REPEATED and not (field.options.HasField("packed") and not field.options.packed)
    return LEN if packed else VARINT


def render_ts(serialized: bytes) -> str:
    """The src/wire/protoFields.ts module for the descriptor protoc made."""
    from google.protobuf import descriptor_pb2

    proto = descriptor_pb2.FileDescriptorProto.FromString(serialized)

    def table(doc: str, name: str, value) -> str:
        lines = [f"/** {doc} */\nexport const {name} = {{\n"]
        for message in proto.message_type:
            fields = ", ".join(f"{field.name}: {value(field)}" for field in message.field)
            lines.append(f"  {message.name}: {{ {fields} }},\n" if fields else f"  {message.name}: {{}},\n")
        return "".join(lines) + "} as const;\n"

    return TS_HEADER + "\n".join([
        table("Each message's fields by name: their numbers.", "FIELD", lambda field: str(field.number)),
        table("Each message's fields by name: their keys.", "KEY", lambda field: f"0x{field.number << 3 | wire_type(field):02x}"),
    ])


def main() -> None:
    serialized = compile_proto()
    for path, text in ((SHIPPED, render_fields(serialized)), (SHIPPED_TS, render_ts(serialized))):
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
