"""The field table the bridge ships is proto/snakepit.proto as protoc compiles it, so the two
cannot drift apart."""
from proto_descriptor import SHIPPED, compile_proto, render_fields

REWRITE = "rewrite it with `.venv/bin/python python/tests/proto_descriptor.py`"


def test_shipped_field_table_is_the_compiled_proto():
    assert SHIPPED.read_text() == render_fields(compile_proto()), f"snakepit_bridge/_fields.py no longer matches proto/snakepit.proto: {REWRITE}"
