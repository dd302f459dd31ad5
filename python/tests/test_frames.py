"""frames.py writes the same bytes protobuf reads as Reply / ServerFrame (messages.py)."""
from snakepit_bridge import frames
from snakepit_bridge import wire as pb


def read(reply_bytes: bytes):
    frame = pb.ServerFrame.FromString(frames.single(reply_bytes))
    assert len(frame.replies) == 1
    return frame.replies[0]


def test_result_with_json_and_blobs():
    r = read(frames.result(300, b'{"a":{"$bytes":0}}', [b"\x00\xff", b""]))
    assert r.id == 300 and r.WhichOneof("outcome") == "result"
    assert r.result.json == b'{"a":{"$bytes":0}}'
    assert list(r.result.blobs) == [b"\x00\xff", b""]


def test_large_ids_and_payloads():
    big = b"x" * 70000
    r = read(frames.chunk(2**40 + 5, big))
    assert r.id == 2**40 + 5 and r.WhichOneof("outcome") == "chunk" and r.chunk.json == big


def test_error_and_end():
    e = read(frames.error(7, "PYTHON_ERROR", "ValueError", "bad ✗", "Traceback…"))
    assert e.WhichOneof("outcome") == "error"
    assert (e.error.code, e.error.type, e.error.message, e.error.traceback) == ("PYTHON_ERROR", "ValueError", "bad ✗", "Traceback…")
    end = read(frames.end(8))
    assert end.id == 8 and end.WhichOneof("outcome") == "end" and end.end is True


def test_null_result_still_has_an_outcome():
    r = read(frames.result(1, b"null"))
    assert r.WhichOneof("outcome") == "result" and r.result.json == b"null"


def test_batched_frame():
    frame = pb.ServerFrame.FromString(frames.frame([frames.result(1, b"1"), frames.end(2)]))
    assert [r.id for r in frame.replies] == [1, 2]


def test_progress_and_host_calls():
    p = read(frames.progress(9, b'{"done":1,"total":null,"message":null}'))
    assert p.id == 9 and p.WhichOneof("outcome") == "progress" and p.progress.json == b'{"done":1,"total":null,"message":null}'
    frame = pb.ServerFrame.FromString(frames.frame([
        frames.result(1, b"1"),
        frames.host_call(2**33, 5, "lookup ✓", b'{"key":{"$bytes":0}}', [b"\x00\x01"]),
    ]))
    assert [r.id for r in frame.replies] == [1]
    (call,) = frame.host_calls
    assert (call.id, call.call_id, call.name) == (2**33, 5, "lookup ✓")
    assert call.args.json == b'{"key":{"$bytes":0}}' and list(call.args.blobs) == [b"\x00\x01"]


def test_every_frame_is_byte_for_byte_what_wire_writes():
    """The keys frames.py writes by hand are the table's: each frame is exactly the bytes wire.py
    (which reads its field numbers from the same table, and which test_wire_protobuf.py holds to
    protobuf) writes for the same message."""
    big = b"y" * 70_000  # written as Pieces
    replies = [
        (frames.result(300, b'{"a":1}'), pb.Reply(id=300, result=pb.Value(json=b'{"a":1}'))),  # the tiny result
        (frames.result(2**40, b"[0]", [b"\x00\xff", b""]), pb.Reply(id=2**40, result=pb.Value(json=b"[0]", blobs=[b"\x00\xff", b""]))),
        (frames.result(5, b"", [b"b"]), pb.Reply(id=5, result=pb.Value(blobs=[b"b"]))),
        (frames.chunk(6, big, [big]), pb.Reply(id=6, chunk=pb.Value(json=big, blobs=[big]))),
        (frames.progress(7, b'{"done":1}'), pb.Reply(id=7, progress=pb.Value(json=b'{"done":1}'))),
        (frames.error(8, "PYTHON_ERROR", "", "bad ✗", "tb"), pb.Reply(id=8, error=pb.CallError(code="PYTHON_ERROR", message="bad ✗", traceback="tb"))),
        (frames.end(9), pb.Reply(id=9, end=True)),
    ]
    for hand, message in replies:
        assert frames.single(hand) == pb.ServerFrame(replies=[message]).SerializeToString(), message
    host_call = frames.host_call(2**33, 4, "lookup ✓", b'{"k":1}', [b"\x01"])
    assert frames.frame([frames.end(1), host_call, frames.DRAINING]) == pb.ServerFrame(
        replies=[pb.Reply(id=1, end=True)],
        host_calls=[pb.HostCall(id=2**33, call_id=4, name="lookup ✓", args=pb.Value(json=b'{"k":1}', blobs=[b"\x01"]))],
        draining=True,
    ).SerializeToString()
    pong = pb.HeartbeatReply(seq=2**35, pid=4_000_000, in_flight=3, gil_enabled=True)
    assert frames.pong(2**35, 4_000_000, 3, True) == pb.ServerFrame(pongs=[pong]).SerializeToString()
    pong = pb.ServerFrame.FromString(frames.pong(1, 7, -1, False)).pongs[0]  # in_flight 0 is written out
    assert (pong.seq, pong.pid, pong.in_flight, pong.gil_enabled) == (1, 7, 0, False)
