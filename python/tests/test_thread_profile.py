"""Thread profile: real parallel threads, in-flight tracking, cancels, thread-safety checks."""
import time

from snakepit_bridge import wire as pb


def test_eight_sleeps_run_in_parallel(spawn):
    w = spawn("sample_adapters.Threaded", profile="thread", threads=8)
    assert w.ready["profile"] == "thread" and w.ready["threads"] == 8
    s = w.session()
    s.call("pid")  # warm up
    t0 = time.monotonic()
    ids = [s.send("sleep", {"seconds": 0.5}) for _ in range(8)]
    results = [s.wait_final(cid)[-1] for cid in ids]
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0, elapsed
    import json

    outs = [json.loads(r.result.json) for r in results]
    assert len({o["thread"] for o in outs}) == 8
    assert {o["pid"] for o in outs} == {w.proc.pid}


def test_heartbeat_counts_in_flight_while_threads_are_busy(spawn):
    w = spawn("sample_adapters.Threaded", profile="thread", threads=2)
    s = w.session()
    ids = [s.send("sleep", {"seconds": 0.6}) for _ in range(2)]
    time.sleep(0.25)
    t0 = time.monotonic()
    hb = w.stub.Heartbeat(pb.HeartbeatRequest(seq=3), metadata=w.metadata, timeout=5)
    assert time.monotonic() - t0 < 0.2  # not stuck behind the busy tool threads
    assert hb.in_flight == 2 and hb.seq == 3
    for cid in ids:
        s.wait_final(cid)


def test_lock_helper_under_concurrency(spawn):
    w = spawn("sample_adapters.Threaded", profile="thread", threads=4)
    s = w.session()
    ids = [s.send("bump") for _ in range(50)]
    for cid in ids:
        s.wait_final(cid)
    assert s.call("counter_value") == 50


def test_cancel_queued_call(spawn):
    w = spawn("sample_adapters.Threaded", profile="thread", threads=1)
    s = w.session()
    busy = s.send("sleep", {"seconds": 0.5})
    queued = s.send("sleep", {"seconds": 0.5})
    time.sleep(0.1)
    t0 = time.monotonic()
    s.cancel(queued)
    err = s.wait_final(queued)[-1].error
    assert err.code == "CANCELLED" and time.monotonic() - t0 < 0.3  # answered at once, not after busy
    assert s.wait_final(busy)[-1].WhichOneof("outcome") == "result"


def test_streaming_and_errors_in_thread_profile(spawn):
    w = spawn("thread_adapters.ThreadStreams", profile="thread", threads=4)
    s = w.session()
    replies = s.wait_final(s.send("count", {"n": 4}, stream=True))
    assert [r.WhichOneof("outcome") for r in replies] == ["chunk"] * 4 + ["end"]
    err = s.call("fail")
    assert err.code == "PYTHON_ERROR" and err.type == "KeyError"
    cid = s.send("forever", {}, stream=True)
    time.sleep(0.2)
    s.cancel(cid)
    assert s.wait_final(cid)[-1].error.code == "CANCELLED"
    assert s.call("fail").code == "PYTHON_ERROR"


def test_numpy_matmul(spawn):
    w = spawn("sample_adapters.Threaded", profile="thread", threads=2)
    assert w.session().call("matmul", {"n": 50}) == 50.0 * 50 * 50


def _warnings(w, timeout=3.0):
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = w.read_line(timeout=max(deadline - time.monotonic(), 0.01))
        if msg is None:
            break
        out.append(msg)
    return out


def test_safety_checks_report_unmarked_tool(spawn):
    w = spawn("sample_adapters.Threaded", "--thread-safety-checks", profile="thread", threads=4)
    s = w.session()
    ids = [s.send("unsafe_sleep", {"seconds": 0.3}) for _ in range(3)]
    ids += [s.send("sleep", {"seconds": 0.3}) for _ in range(3)]  # marked: never reported
    for cid in ids:
        s.wait_final(cid)
    ids = [s.send("unsafe_sleep", {"seconds": 0.2}) for _ in range(3)]  # again: no second report
    for cid in ids:
        s.wait_final(cid)
    warns = _warnings(w, 1.0)
    assert len(warns) == 1, warns
    wmsg = warns[0]
    assert wmsg["type"] == "thread_safety_warning" and wmsg["kind"] == "unsafe_concurrent_tool"
    assert wmsg["tool"] == "unsafe_sleep" and len(set(wmsg["thread_ids"])) >= 2
    assert "@thread_safe_method" in wmsg["message"]


def test_safety_checks_report_pandas(spawn):
    w = spawn("sample_adapters.Threaded", "--thread-safety-checks", profile="thread", threads=4)
    s = w.session()
    s.call("pandas_work", {"seconds": 0.01})  # import pandas once, outside the race
    ids = [s.send("pandas_work", {"seconds": 1.0}) for _ in range(3)]
    for cid in ids:
        assert s.wait_final(cid)[-1].WhichOneof("outcome") == "result"
    warns = _warnings(w, 1.0)
    kinds = [(m["kind"], m.get("library")) for m in warns]
    assert kinds == [("unsafe_library", "pandas")], warns
    assert warns[0]["tool"] == "pandas_work" and len(set(warns[0]["thread_ids"])) >= 2


def test_no_reports_when_checks_are_off(spawn):
    w = spawn("sample_adapters.Threaded", profile="thread", threads=4)
    s = w.session()
    ids = [s.send("unsafe_sleep", {"seconds": 0.3}) for _ in range(3)]
    for cid in ids:
        s.wait_final(cid)
    assert _warnings(w, 0.5) == []
