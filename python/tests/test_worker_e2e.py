"""End to end: a real worker process, the control handshake, a Session over gRPC."""
import json
import os
import time

import grpc
import pytest

from snakepit_bridge import wire as pb
from snakepit_bridge.frames import PROTOCOL_VERSION
from snakepit_bridge.session import BRIDGE_FAILURE_EXIT


def test_ready_line(spawn):
    w = spawn("sample_adapters.Calc")
    r = w.ready
    assert r["protocol"] == PROTOCOL_VERSION and isinstance(r["protocol"], int)
    assert r["pid"] == w.proc.pid
    assert r["address"] == w.address
    assert r["profile"] == "process" and r["threads"] == 1
    assert r["python"].startswith("3.")
    assert isinstance(r["gil_enabled"], bool)
    assert {"add", "echo", "ping", "count", "fail"} <= set(r["tools"])


def test_calls_results_and_errors(spawn):
    w = spawn("sample_adapters.Calc")
    s = w.session()
    assert s.call("add", {"a": 2, "b": 40}) == 42
    value = {"i": 1, "big": 2**53 + 1, "f": 1.5, "n": None, "l": [1, [2, {"x": None}]], "s": "héllo", "b": b"\x00\xff"}
    assert s.call("echo", value) == value
    assert s.call("ping") == "pong"

    err = s.call("fail", {"message": "boom"})
    assert (err.code, err.type, err.message) == ("PYTHON_ERROR", "ValueError", "boom")
    assert "Traceback" in err.traceback and "raise ValueError(message)" in err.traceback

    err = s.call("nope")
    assert err.code == "TOOL_NOT_FOUND" and "add" in err.message and "ping" in err.message

    err = s.call("add", {"a": 1})
    assert err.code == "INVALID_ARGUMENT" and "add" in err.message and "b" in err.message
    err = s.call("add", {"a": 1, "b": 2, "c": 3})
    assert err.code == "INVALID_ARGUMENT"
    # A TypeError raised inside the tool is the tool's error, not bad arguments.
    err = s.call("add", {"a": 1, "b": "x"})
    assert err.code == "PYTHON_ERROR" and err.type == "TypeError"

    err = s.call("memory_error")
    assert err.code == "PYTHON_ERROR" and err.type == "MemoryError"
    # The worker keeps serving after all of that, on the same stream.
    assert s.call("add", {"a": 1, "b": 1}) == 2
    assert s.call("pid") == w.proc.pid
    s.close()


def test_streaming_tool(spawn):
    w = spawn("sample_adapters.Calc")
    s = w.session()
    replies = s.wait_final(s.send("count", {"n": 5}, stream=True))
    kinds = [r.WhichOneof("outcome") for r in replies]
    assert kinds == ["chunk"] * 5 + ["end"]
    assert [json.loads(r.chunk.json) for r in replies[:5]] == [0, 1, 2, 3, 4]
    # The same generator tool called without streaming returns every chunk at once.
    assert s.call("count", {"n": 3}) == [0, 1, 2]
    # A plain tool called as a stream gives one chunk.
    replies = s.wait_final(s.send("ping", {}, stream=True))
    assert [r.WhichOneof("outcome") for r in replies] == ["chunk", "end"]


def test_cancel_before_start_and_batched_frame(spawn):
    w = spawn("sample_adapters.Calc")
    s = w.session()
    ids = s.send_many([("add", {"a": 1, "b": 2}), ("ping", {}), ("add", {"a": 3, "b": 4})])
    # Cancel the last two in the same frame as nothing: a frame with calls and cancels.
    for cid in ids:
        final = s.wait_final(cid)[-1]
        assert final.WhichOneof("outcome") == "result"
    frame_ids = [100, 101]
    s._q.put(pb.ClientFrame(calls=[pb.Call(id=100, tool="ping", args=pb.Value(json=b"{}")),
                                   pb.Call(id=101, tool="ping", args=pb.Value(json=b"{}"))], cancels=[101]))
    assert s.wait_final(100)[-1].WhichOneof("outcome") == "result"
    err = s.wait_final(101)[-1].error
    assert err.code == "CANCELLED"


def test_cancel_running_stream_in_process_profile(spawn, tmp_path):
    w = spawn("stream_adapters.Streams")
    s = w.session()
    cid = s.send("forever", {}, stream=True)
    time.sleep(0.3)
    s.cancel(cid)
    replies = s.wait_final(cid, timeout=10)
    assert replies[-1].error.code == "CANCELLED"
    assert len(replies) > 1
    assert s.call("ping") == "pong"  # still serving after the stream


def test_invalid_json_arguments(spawn):
    w = spawn("sample_adapters.Calc")
    s = w.session()
    final = s.wait_final(s.send("add", raw_json=b"{not json"))[-1]
    assert final.error.code == "INVALID_ARGUMENT"
    final = s.wait_final(s.send("add", raw_json=b"[1,2]"))[-1]
    assert final.error.code == "INVALID_ARGUMENT"


def test_nan_result_is_python_error(spawn):
    w = spawn("stream_adapters.Streams")
    err = w.session().call("nan")
    assert err.code == "PYTHON_ERROR" and err.type == "ValueError" and "NaN" in err.message


def test_token_required(spawn):
    w = spawn("sample_adapters.Calc")
    with pytest.raises(grpc.RpcError) as e:
        w.stub.Heartbeat(pb.HeartbeatRequest(seq=1), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as e:
        w.stub.Heartbeat(pb.HeartbeatRequest(seq=1), metadata=(("x-snakepit-token", "wrong"),), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    frames = iter([pb.ClientFrame(calls=[pb.Call(id=1, tool="ping", args=pb.Value(json=b"{}"))])])
    with pytest.raises(grpc.RpcError) as e:
        list(w.stub.Session(frames, timeout=5))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # With the token everything works.
    hb = w.stub.Heartbeat(pb.HeartbeatRequest(seq=7), metadata=w.metadata, timeout=5)
    assert (hb.seq, hb.pid, hb.in_flight) == (7, w.proc.pid, 0)


def test_token_not_visible_to_tools(spawn):
    w = spawn("stream_adapters.Streams")
    env = w.session().call("env")
    assert "SNAKEPIT_TOKEN" not in env and "SNAKEPIT_CONTROL_FD" not in env


def test_print_in_init_does_not_break_handshake(spawn):
    w = spawn("sample_adapters.PrintsOnInit")
    assert w.ready["type"] == "ready"
    assert w.session().call("ping") == "pong"
    os.killpg(w.proc.pid, 9)
    w.proc.wait(5)
    assert b'{"type":"ready"}' in w.proc.stdout.read()  # printed, but only on stdout


def test_tool_output_reaches_stdout_and_stderr(spawn):
    w = spawn("sample_adapters.Calc")
    assert w.session().call("chatty") == "ok"
    os.killpg(w.proc.pid, 9)
    w.proc.wait(5)
    assert b"chatty says hello on stdout" in w.proc.stdout.read()
    assert b"chatty says hello on stderr" in w.proc.stderr.read()


def test_system_exit_in_a_tool_fails_its_call_and_the_worker_serves_on(spawn):
    w = spawn("sample_adapters.Calc")
    s = w.session()
    for code in (0, 3, "bye"):
        error = s.call("system_exit", {"code": code})
        assert (error.code, error.type) == ("PYTHON_ERROR", "SystemExit")
        assert f"sys.exit({code!r})" in error.message
    assert s.call("add", {"a": 1, "b": 2}) == 3
    assert w.proc.poll() is None


def test_os_exit_ends_the_worker_with_its_code(spawn):
    w = spawn("sample_adapters.Calc")
    s = w.session()
    s.send("exit", {"code": 3})
    assert w.proc.wait(10) == 3


def test_bytes_round_trip_large(spawn):
    w = spawn("sample_adapters.Calc")
    blob = os.urandom(3 * 1024 * 1024)
    out = w.session().call("echo", {"data": [blob, {"inner": b"x"}], "n": 5})
    assert out == {"data": [blob, {"inner": b"x"}], "n": 5}


@pytest.mark.parametrize("adapter,profile,needle,error_type", [
    ("sample_adapters.Missing", "process", "no class 'Missing'", "AttributeError"),
    ("no_such_module_abc.Thing", "process", "no_such_module_abc", "ModuleNotFoundError"),
    ("broken_import.Anything", "process", "not_a_real_module_xyz", "ModuleNotFoundError"),
    ("sample_adapters.BrokenInit", "process", "model file missing", "RuntimeError"),
    ("sample_adapters.NotThreadSafe", "thread", "NotThreadSafe is not declared thread-safe", "StartupError"),
])
def test_startup_errors(spawn, adapter, profile, needle, error_type):
    w = spawn(adapter, ready=False, profile=profile, threads=2)
    msg = w.read_line()
    assert msg is not None and msg["type"] == "startup_error", msg
    assert needle in msg["message"] and msg["error_type"] == error_type
    if error_type != "StartupError":
        assert "Traceback" in msg["traceback"]
    else:
        assert "__thread_safe__ = True" in msg["message"] and "'process'" in msg["message"]
    assert w.proc.wait(10) == 1
    assert needle.split()[0] in w.proc.stderr.read().decode()


def test_loopback_address_reports_bound_port(spawn):
    w = spawn("sample_adapters.Calc", address="127.0.0.1:0")
    host, port = w.ready["address"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert w.session().call("ping") == "pong"


def test_public_address_is_refused(spawn):
    w = spawn("sample_adapters.Calc", ready=False, address="0.0.0.0:0")
    msg = w.read_line()
    assert msg["type"] == "startup_error" and "loopback" in msg["message"]
    assert w.proc.wait(10) == 1


def test_sigterm_exits_promptly(spawn):
    import signal

    w = spawn("sample_adapters.Calc")
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(5) != 0


def test_heartbeat_answers_while_a_process_call_runs(spawn):
    w = spawn("sample_adapters.Calc")
    s = w.session()
    cid = s.send("spin", {"seconds": 1.0})
    time.sleep(0.2)
    t0 = time.monotonic()
    hb = w.stub.Heartbeat(pb.HeartbeatRequest(seq=1), metadata=w.metadata, timeout=5)
    assert hb.in_flight == 1 and time.monotonic() - t0 < 0.5
    assert s.wait_final(cid)[-1].WhichOneof("outcome") == "result"


def test_only_session_and_heartbeat_are_served(spawn):
    w = spawn("sample_adapters.Calc")
    for method in ("Execute", "DescribeTools"):
        call = w.channel.unary_unary(f"/snakepit.v1.Worker/{method}", request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as e:
            call(b"", metadata=w.metadata, timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


@pytest.mark.parametrize("adapter,profile", [("sample_adapters.Calc", "process"), ("sample_adapters.Threaded", "thread")])
def test_corrupt_client_frame_ends_the_worker(spawn, adapter, profile):
    w = spawn(adapter, profile=profile, threads=2)
    assert w.session().call("pid") == w.proc.pid
    # The bytes a broken client might send: a call whose declared length runs past the frame.
    raw = w.channel.stream_stream("/snakepit.v1.Worker/Session", request_serializer=lambda b: b, response_deserializer=lambda b: b)
    replies = raw(iter([b"\x0a\x7f\x08\x01"]), metadata=w.metadata)
    assert w.proc.wait(10) == BRIDGE_FAILURE_EXIT
    stderr = w.proc.stderr.read().decode()
    assert "a ClientFrame of 4 bytes from Node does not decode" in stderr and "exiting to be replaced" in stderr, stderr
    with pytest.raises(grpc.RpcError):
        list(replies)
