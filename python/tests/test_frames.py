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
