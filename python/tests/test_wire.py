"""wire.py reads and writes the proto's messages by protobuf's rules (test_wire_protobuf.py
checks the same against protobuf itself, where it is installed)."""
from __future__ import annotations

import pytest

from snakepit_bridge import wire
from snakepit_bridge._fields import MESSAGES


def full_call(cid: int) -> wire.Call:
    return wire.Call(id=cid, tool="añadir", args=wire.Value(json=b'{"a":1}', blobs=[b"\x00\xff", b""]), stream=True,
                     args_size=0, timeout_ms=2**40, session_id="s-1", window=2**32 - 1)


def test_every_field_of_a_frame_survives_a_round_trip():
    frame = wire.ClientFrame(
        calls=[full_call(1), full_call(2**64 - 1)], cancels=[0, 1, 2**63], parts=[wire.ArgsPart(id=3, data=b"x" * 300)],
        pings=[7], token=b"t", host_replies=[wire.HostReply(id=1, result=wire.Value(json=b"1")),
                                             wire.HostReply(id=2, error=wire.CallError(code="NODE_ERROR", message="é"))],
        credits=[wire.Credit(id=1, chunks=4)], reclaims=[9],
    )
    again = wire.ClientFrame.FromString(frame.SerializeToString())
    assert again == frame
    assert [r.WhichOneof("outcome") for r in again.host_replies] == ["result", "error"]
    assert again.calls[1].id == 2**64 - 1 and again.calls[0].tool == "añadir"


def test_fields_not_set_read_as_their_defaults():
    call = wire.Call.FromString(b"")
    assert (call.id, call.tool, call.stream, call.args.json, list(call.args.blobs)) == (0, "", False, b"", [])
    assert wire.HostReply().WhichOneof("outcome") is None
    assert wire.ClientFrame().SerializeToString() == b""


def test_repeated_numbers_read_packed_or_not_and_a_singular_message_seen_twice_is_merged():
    # cancels 1 unpacked, then [2, 300] packed; Call.args twice: the json of the last, both blobs.
    frame = wire.ClientFrame.FromString(b"\x10\x01" + b"\x12\x03\x02\xac\x02")
    assert frame.cancels == [1, 2, 300]
    args1 = b"\x0a\x01a\x12\x01x"
    args2 = b"\x0a\x01b\x12\x01y"
    call = wire.Call.FromString(b"\x1a" + bytes([len(args1)]) + args1 + b"\x1a" + bytes([len(args2)]) + args2)
    assert (call.args.json, call.args.blobs) == (b"b", [b"x", b"y"])


def test_a_oneof_holds_the_field_set_last():
    error = wire.HostReply(error=wire.CallError(code="X")).SerializeToString()
    result = wire.HostReply(result=wire.Value(json=b"1")).SerializeToString()
    reply = wire.HostReply.FromString(error + result)
    assert reply.WhichOneof("outcome") == "result" and reply.error.code == ""


def test_unknown_fields_and_unexpected_wire_types_are_skipped():
    unknown = (b"\x78\x05"  # field 15, varint
               b"\x81\x01" + b"\0" * 8 +  # field 16, 64-bit
               b"\x8d\x01" + b"\0" * 4 +  # field 17, 32-bit
               b"\x92\x01\x02hi"  # field 18, length-delimited
               b"\x9b\x01\x08\x01\x9c\x01"  # field 19, a group holding a varint
               b"\x0d\0\0\0\0")  # calls (field 1) as a 32-bit value: not a Call, skipped
    frame = wire.ClientFrame.FromString(unknown + b"\x20\x07")
    assert frame.pings == [7] and frame.calls == ()


def test_numbers_wider_than_their_field_keep_its_low_bits_and_bools_are_any_non_zero():
    credit = wire.Credit.FromString(b"\x10" + b"\xff" * 9 + b"\x01")  # chunks: uint32, sent as 2**64 - 1
    assert credit.chunks == 2**32 - 1
    assert wire.Call.FromString(b"\x20\x02").stream is True


@pytest.mark.parametrize("data, says", [
    (b"\x08", "runs off the end"),  # a varint cut short
    (b"\x08" + b"\x80" * 10 + b"\x01", "longer than 10 bytes"),
    (b"\x12\x05abc", "runs off the end"),  # a length past the end
    (b"\x0c", "not allowed"),  # an end-group no group opened
    (b"\x0b\x08\x01", "group runs off the end"),
    (b"\x0b\x14", "another group's tag"),
    (b"\x0e", "not allowed"),  # wire type 6
    (b"\x00\x01", "not a field number"),  # field number 0
    (b"\x12\x02\xc3\x28", "not UTF-8"),  # tool
])
def test_malformed_bytes_are_refused_saying_why(data, says):
    with pytest.raises(wire.DecodeError, match=says):
        wire.Call.FromString(data)


def test_a_message_refuses_a_field_it_does_not_have():
    with pytest.raises(TypeError, match="Call has no field 'tools'"):
        wire.Call(tools="x")


def test_every_message_of_the_table_has_its_class():
    for name, fields in MESSAGES.items():
        cls = getattr(wire, name)
        assert [f[0] for f in cls._fields] == [f[0] for f in fields]
