"""No call can take a worker down: bad arguments, unprintable exceptions, oversized values and
arguments sent in parts, in both profiles. After each, the same process serves the next call."""
import os
import subprocess
import sys
import textwrap

import pytest

from snakepit_bridge import codec
from snakepit_bridge import wire as pb

PROFILES = [("hostile_adapters.Hostile", "process", 1), ("hostile_adapters.ThreadedHostile", "thread", 4)]
LIMIT = 1024 * 1024


@pytest.fixture(params=PROFILES, ids=["process", "thread"])
def worker(request, spawn):
    adapter, profile, threads = request.param
    return spawn(adapter, "--max-message-bytes", str(LIMIT), profile=profile, threads=threads)


def serves_on(w, session):
    assert session.call("pid") == w.proc.pid
    assert w.proc.poll() is None


def parts_of(cid, value: pb.Value, size: int):
    data = value.SerializeToString()
    return data, [pb.ArgsPart(id=cid, data=data[i:i + size]) for i in range(0, len(data), size)]


def test_arguments_nested_too_deeply_for_the_decoder(worker):
    s = worker.session()
    # Deeper than any supported Python's json decodes: 3.13's takes 5,000 levels (its C
    # recursion limit), 3.8–3.12's stop at 1,000 or fewer.
    raw = b"[" * 100_000 + b"1" + b"]" * 100_000
    err = s.wait_final(s.send("echo", raw_json=b'{"deep":' + raw + b"}"))[-1].error
    assert err.code == "INVALID_ARGUMENT" and "nested too deeply" in err.message
    serves_on(worker, s)


@pytest.mark.parametrize("raw", [b"{not json", b'"\xff\xfe"', b"[1, 2]", b'{"a": 1} trailing'])
def test_undecodable_arguments(worker, raw):
    s = worker.session()
    err = s.wait_final(s.send("echo", raw_json=raw))[-1].error
    assert err.code == "INVALID_ARGUMENT"
    serves_on(worker, s)


def test_an_exception_that_cannot_be_printed(worker):
    s = worker.session()
    err = s.call("unprintable")
    assert err.code == "PYTHON_ERROR" and err.type == "Unprintable"
    assert "__str__ raised RuntimeError" in err.message
    serves_on(worker, s)


def test_a_result_too_deep_to_encode(worker):
    s = worker.session()
    err = s.call("deep_result", {"depth": 100_000})
    assert err.code == "PYTHON_ERROR" and err.type == "ValueError" and "nested too deeply" in err.message
    assert len(err.traceback) < 4000, "the recursion's own frames are not sent"
    serves_on(worker, s)


def test_a_self_key_is_invalid_argument(worker):
    s = worker.session()
    err = s.call("echo", {"self": 1})
    assert err.code == "INVALID_ARGUMENT" and "self" in err.message
    serves_on(worker, s)


def test_results_and_chunks_over_the_limit(worker):
    s = worker.session()
    err = s.call("blob", {"size": LIMIT + 1})
    assert err.code == "MESSAGE_TOO_LARGE" and str(LIMIT) in err.message
    assert s.call("blob", {"size": 10}) == bytes(10)
    replies = s.wait_final(s.send("blobs", {"size": LIMIT + 1, "n": 3}, stream=True))
    assert [r.WhichOneof("outcome") for r in replies] == ["error"]
    assert replies[-1].error.code == "MESSAGE_TOO_LARGE"
    serves_on(worker, s)


def test_user_keys_that_look_like_the_bytes_marker_round_trip(worker):
    s = worker.session()
    value = {"$bytes": 0, "$$bytes": "x", "nested": [{"$bytes": 1}], "b": b"\x00\x01"}
    assert s.call("echo", value) == value


def test_arguments_sent_in_parts_across_frames(worker):
    s = worker.session()
    blob = os.urandom(300_000)
    j, blobs = codec.encode({"blob": blob, "n": 7})
    data, parts = parts_of(1000, pb.Value(json=j, blobs=blobs), 64 * 1024)
    s._q.put(pb.ClientFrame(calls=[pb.Call(id=1000, tool="echo", args_size=len(data))], parts=parts[:2]))
    assert s.call("pid") == worker.proc.pid  # other calls pass between the parts
    for part in parts[2:]:
        s._q.put(pb.ClientFrame(parts=[part]))
    final = s.wait_final(1000)[-1]
    assert codec.decode(final.result.json, final.result.blobs) == {"blob": blob, "n": 7}


def test_a_cancel_while_parts_arrive_answers_cancelled(worker):
    s = worker.session()
    j, blobs = codec.encode({"blob": bytes(200_000)})
    data, parts = parts_of(2000, pb.Value(json=j, blobs=blobs), 50_000)
    s._q.put(pb.ClientFrame(calls=[pb.Call(id=2000, tool="echo", args_size=len(data))], parts=parts[:1]))
    s.cancel(2000)
    s._q.put(pb.ClientFrame(parts=parts[1:]))  # late parts of a cancelled call are dropped
    assert s.wait_final(2000)[-1].error.code == "CANCELLED"
    serves_on(worker, s)


def test_announced_arguments_over_the_limit_are_refused_before_any_part(worker):
    s = worker.session()
    s._q.put(pb.ClientFrame(calls=[pb.Call(id=3000, tool="echo", args_size=LIMIT + 1)]))
    err = s.wait_final(3000)[-1].error
    assert err.code == "MESSAGE_TOO_LARGE" and str(LIMIT + 1) in err.message
    s._q.put(pb.ClientFrame(parts=[pb.ArgsPart(id=3000, data=b"x" * 1000)]))
    serves_on(worker, s)


def test_parts_that_do_not_make_a_value(worker):
    s = worker.session()
    s._q.put(pb.ClientFrame(calls=[pb.Call(id=4000, tool="echo", args_size=4)], parts=[pb.ArgsPart(id=4000, data=b"\xff\xff\xff\xff")]))
    assert s.wait_final(4000)[-1].error.code == "INVALID_ARGUMENT"
    serves_on(worker, s)


def test_a_failure_in_the_session_code_ends_the_process_to_be_replaced(tmp_path):
    # Our own frame handling raising must not leave a deaf worker: it exits with status 70.
    script = textwrap.dedent("""
        from snakepit_bridge.grpcsession import read_frames
        def broken(frame):
            raise KeyError("bridge bug")
        read_frames(iter([object()]), broken, "a test reader")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(os.path.dirname(os.path.dirname(codec.__file__)))})
    assert done.returncode == 70
    assert "internal failure in a test reader" in done.stderr and "KeyError: 'bridge bug'" in done.stderr
