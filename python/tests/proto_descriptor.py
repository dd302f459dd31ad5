"""Compiles proto/snakepit.proto with protoc (grpcio-tools) into the module the bridge ships.

The bridge builds its message classes from a serialized descriptor (snakepit_bridge/_descriptor.py)
instead of shipping protoc's Python code, which only runs on the protobuf release that made it.
The proto stays the one definition: test_descriptor.py compares the shipped module with what
this compiles, and after a change to the proto

    .venv/bin/python python/tests/proto_descriptor.py

rewrites it.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTO_DIR = REPO / "proto"
PROTO_NAME = "snakepit.proto"
SHIPPED = REPO / "python" / "snakepit_bridge" / "_descriptor.py"

HEADER = '''\
"""proto/snakepit.proto as protoc describes it: a serialized FileDescriptorProto.

Written by python/tests/proto_descriptor.py; do not edit. test_descriptor.py fails when it no
longer matches the proto.
"""

SERIALIZED = (
'''
BYTES_PER_LINE = 64


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


def render_module(serialized: bytes) -> str:
    lines = [f"    {serialized[i:i + BYTES_PER_LINE]!r}\n" for i in range(0, len(serialized), BYTES_PER_LINE)]
    return HEADER + "".join(lines) + ")\n"


def main() -> None:
    SHIPPED.write_text(render_module(compile_proto()))
    print(f"wrote {SHIPPED.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
