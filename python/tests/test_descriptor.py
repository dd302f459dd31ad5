"""The field tables the code ships (snakepit_bridge/_fields.py, src/wire/protoFields.ts) are
proto/snakepit.proto as protoc compiles it, so they cannot drift apart."""
import shutil

from proto_descriptor import PROTO_DIR, PROTO_NAME, SHIPPED, SHIPPED_TS, compile_proto, render_fields, render_ts

REWRITE = "rewrite them with `.venv/bin/python python/tests/proto_descriptor.py`"


def test_shipped_field_table_is_the_compiled_proto():
    assert SHIPPED.read_text() == render_fields(compile_proto()), f"snakepit_bridge/_fields.py no longer matches proto/snakepit.proto: {REWRITE}"


def test_shipped_typescript_table_is_the_compiled_proto():
    assert SHIPPED_TS.read_text() == render_ts(compile_proto()), f"src/wire/protoFields.ts no longer matches proto/snakepit.proto: {REWRITE}"


def test_a_changed_proto_no_longer_matches_the_shipped_tables(tmp_path):
    """The checks above can fail: a proto with one field renumbered renders other tables."""
    shutil.copy(PROTO_DIR / PROTO_NAME, tmp_path / PROTO_NAME)
    proto = (tmp_path / PROTO_NAME).read_text()
    assert proto.count("uint32 window = 8;") == 1
    (tmp_path / PROTO_NAME).write_text(proto.replace("uint32 window = 8;", "uint32 window = 9;"))
    fields, ts = render_fields(compile_proto(tmp_path)), render_ts(compile_proto(tmp_path))
    assert "('window', 9, 'uint32', False, None)" in fields and fields != SHIPPED.read_text()
    assert "window: 0x48" in ts and ts != SHIPPED_TS.read_text()
