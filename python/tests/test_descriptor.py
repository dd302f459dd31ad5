"""The descriptor the bridge ships is proto/snakepit.proto as protoc compiles it, so the two
cannot drift apart."""
from google.protobuf import descriptor_pb2
from proto_descriptor import SHIPPED, compile_proto, render_module

from snakepit_bridge import _descriptor, messages

REWRITE = "rewrite it with `.venv/bin/python python/tests/proto_descriptor.py`"


def test_shipped_descriptor_is_the_compiled_proto():
    compiled = compile_proto()
    expected = descriptor_pb2.FileDescriptorProto.FromString(compiled)
    shipped = descriptor_pb2.FileDescriptorProto.FromString(_descriptor.SERIALIZED)
    assert shipped == expected, f"snakepit_bridge/_descriptor.py no longer matches proto/snakepit.proto: {REWRITE}"
    assert SHIPPED.read_text() == render_module(compiled), f"snakepit_bridge/_descriptor.py was edited by hand: {REWRITE}"


def test_every_message_of_the_proto_has_its_class():
    proto = descriptor_pb2.FileDescriptorProto.FromString(_descriptor.SERIALIZED)
    for message in proto.message_type:
        cls = getattr(messages, message.name)
        assert cls.DESCRIPTOR.full_name == f"{proto.package}.{message.name}"
        assert [f.name for f in cls.DESCRIPTOR.fields] == [f.name for f in message.field]
