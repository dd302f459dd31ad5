"""parts.py assembles a large call's Value as its bytes arrive, however they are cut: the result
is what protobuf itself reads from the same bytes; every blob stays in its buffer, which is its
`bytes` uncopied, or a writable array's memory."""
import os
import socket
import struct
import sys
import threading

import pytest

from snakepit_bridge import codec, wire as pb
from snakepit_bridge.codec import BufferBlob
from snakepit_bridge.framesocket import FrameSocket
from snakepit_bridge.parts import Landed, PartialCalls

MAX = 1 << 30

VALUES = [
    pb.Value(json=b'{"a":1}'),
    pb.Value(json=b'{"d":{"$bytes":0}}', blobs=[b""]),
    pb.Value(json=b'{"d":{"$bytes":0},"e":{"$bytes":1}}', blobs=[os.urandom(300), os.urandom(70_000)]),
    pb.Value(blobs=[os.urandom(129)]),
    pb.Value(json=b'"' + b"x" * 200_000 + b'"'),
]


def _assemble(data: bytes, cut: int):
    partial = PartialCalls(MAX)
    assert partial.start(pb.Call(id=1, tool="t", args_size=len(data))) is None
    done = None
    for at in range(0, len(data), cut):
        assert done is None, "complete before its last part"
        done = partial.add(pb.ArgsPart(id=1, data=data[at:at + cut]))
    assert done is not None
    return done[1]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: f"json{len(v.json)}-blobs{[len(b) for b in v.blobs]}")
@pytest.mark.parametrize("cut", [1, 7, 4096, 1 << 20])
def test_any_cut_assembles_what_protobuf_reads(value, cut):
    data = value.SerializeToString()
    if cut == 1 and len(data) > 5000:
        data_cut = 997  # byte by byte through 270 kB takes too long; odd cuts still split headers
    else:
        data_cut = cut
    got = _assemble(data, data_cut)
    assert got.json == value.json
    assert [bytes(b) for b in got.blobs] == list(value.blobs)
    assert all(type(b) is BufferBlob for b in got.blobs) and type(got.json) is bytes


def test_a_part_lands_in_place_inside_its_blob():
    blob = os.urandom(300_000)
    data = pb.Value(json=b'{"d":{"$bytes":0}}', blobs=[blob]).SerializeToString()
    head = len(data) - len(blob)  # json field, then the blob's key and length
    partial = PartialCalls(MAX)
    partial.start(pb.Call(id=1, tool="t", args_size=len(data)))
    assert partial.landing(1, 10) is None, "nothing lands before a field has started"
    assert partial.add(pb.ArgsPart(id=1, data=data[:head])) is None
    assert partial.landing(1, len(blob) + 1) is None, "a part may not reach past its field"
    first = partial.landing(1, 100_000)
    first[:] = blob[:100_000]
    assert partial.add(Landed(1, 100_000)) is None
    rest = partial.landing(1, len(blob) - 100_000)
    rest[:] = blob[100_000:]
    call, value = partial.add(Landed(1, len(blob) - 100_000))
    assert call.id == 1 and [bytes(b) for b in value.blobs] == [blob]
    del first, rest  # the lane's landing views are gone by the time the call runs
    assert bytes(value.blobs[0]) is bytes(value.blobs[0]), "the blob's bytes are its buffer, not a copy"
    assert partial.landing(1, 1) is None, "a finished call takes nothing more"


CUBE = [[[float(6 * i + 2 * j + k) for k in range(2)] for j in range(3)] for i in range(4)]  # 4 × 3 × 2


def _assembled_cube():
    """A float32 array of shape (4, 3, 2) as a large call's argument: (what arrives, its blob)."""
    json = b'{"x":{"$bytes":0,"dtype":"float32","shape":[4,3,2]}}'
    data = pb.Value(json=json, blobs=[struct.pack("<24f", *range(24))]).SerializeToString()
    value = _assemble(data, 4096)
    return codec.decode(value.json, value.blobs)["x"], value.blobs[0]


def test_an_array_in_parts_is_writable_over_its_buffer():
    import numpy as np

    got, blob = _assembled_cube()
    assert got.shape == (4, 3, 2) and got.dtype == np.float32 and got.flags.writeable and got.tolist() == CUBE
    got[3, 2, 1] = -1
    assert np.frombuffer(blob.writable(), np.float32)[-1] == -1, "the array is the blob's buffer, not a copy"


def test_an_array_in_parts_without_numpy_is_a_writable_memoryview(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` now fails
    got, blob = _assembled_cube()
    assert isinstance(got, memoryview) and got.shape == (4, 3, 2) and got.format == "f" and got.tolist() == CUBE
    got[3, 2, 1] = -1
    assert struct.unpack_from("<f", blob.writable(), 23 * 4) == (-1.0,), "the view is the blob's buffer, not a copy"


@pytest.mark.parametrize("data,message", [
    (b"\x1a\x01x", "unexpected field key 0x1a at byte 0"),
    (b"\x0a\x05ab", "a field of 5 bytes runs off the end"),
    (b"\x0a" + b"\xff" * 11, "longer than any varint"),
])
def test_bytes_that_are_no_value_fail_their_call(data, message):
    partial = PartialCalls(MAX)
    partial.start(pb.Call(id=1, tool="t", args_size=len(data)))
    with pytest.raises(ValueError, match=message):
        partial.add(pb.ArgsPart(id=1, data=data))


def test_arguments_that_end_inside_a_field_header_fail_their_call():
    partial = PartialCalls(MAX)
    partial.start(pb.Call(id=1, tool="t", args_size=2))
    with pytest.raises(ValueError, match="end inside a field"):
        partial.add(pb.ArgsPart(id=1, data=b"\x12\x85"))  # a length whose varint goes on


class _CountedReads:
    """A socket that notes where each read went and how many bytes it brought."""

    def __init__(self, sock):
        self.sock = sock
        self.reads = []

    def recv_into(self, buffer, nbytes=0, flags=0):
        n = self.sock.recv_into(buffer, nbytes, flags)
        self.reads.append((buffer, n))
        return n


def test_while_parts_arrive_their_data_skips_the_read_buffer_and_other_frames_still_read_whole():
    blob = os.urandom(1 << 20)
    data = pb.Value(json=b'{"d":{"$bytes":0}}', blobs=[blob]).SerializeToString()
    head = len(data) - len(blob)
    def framed(frame) -> bytes:
        body = frame.SerializeToString()
        return struct.pack(">I", len(body)) + body

    part = lambda chunk: framed(pb.ClientFrame(parts=[pb.ArgsPart(id=1, data=chunk)]))  # noqa: E731
    other_call = framed(pb.ClientFrame(calls=[pb.Call(id=2, tool="t", args=pb.Value(json=b'"' + b"x" * 200_000 + b'"'))]))
    ping = framed(pb.ClientFrame(pings=[7]))
    stream = [part(data[:head]), part(blob[:1 << 19]), other_call, part(blob[1 << 19:]), ping]

    ours, node = socket.socketpair()
    counted = _CountedReads(ours)
    fs = FrameSocket(counted, MAX)
    fs.part_sink = partial = PartialCalls(MAX)
    assert partial.start(pb.Call(id=1, tool="t", args_size=len(data))) is None
    sender = threading.Thread(target=lambda: [node.sendall(f) for f in stream])
    sender.start()
    try:
        assert partial.add(fs.next_frame().parts[0]) is None  # as the session does, frame by frame
        landed = fs.next_frame().parts[0]
        assert isinstance(landed, Landed) and (landed.id, landed.size) == (1, 1 << 19) and partial.add(landed) is None
        assert len(fs.next_frame().calls[0].args.json) == 200_002
        call, value = partial.add(fs.next_frame().parts[0])
        assert call.id == 1 and [bytes(b) for b in value.blobs] == [blob]
        assert list(fs.next_frame().pings) == [7]
    finally:
        ours.close()  # first: a sender still writing (the test failed midway) stops with an error
        sender.join()
        node.close()
    through_buffer = [n for buffer, n in counted.reads if buffer is fs._landing]
    # The blob's megabyte went straight to its call: only the other frames (and the parts' heads)
    # passed through the read buffer, and the 200 KB frame in a few reads, not thousands.
    assert sum(through_buffer) < len(stream[0]) + len(other_call) + len(ping) + 2 * 64
    assert len(through_buffer) < 20
