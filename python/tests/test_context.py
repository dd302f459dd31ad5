"""The call context on a real worker's gRPC session: deadline, session id, cancellation seen by
a running tool, progress replies before the result, and calls into Node answered by the test."""
import time

import pytest

from snakepit_bridge import codec
from snakepit_bridge import wire as pb


@pytest.fixture(params=["process", "thread"])
def worker(request, spawn):
    adapter = "context_adapters.Contextual" if request.param == "process" else "context_adapters.ThreadedContextual"
    return spawn(adapter, profile=request.param, threads=4)


def call(session, tool, args=None, **fields):
    cid = session._next_id
    session._next_id += 1
    j, blobs = codec.encode(args or {})
    session._q.put(pb.ClientFrame(calls=[pb.Call(id=cid, tool=tool, args=pb.Value(json=j, blobs=blobs), **fields)]))
    return cid


def result_of(replies):
    final = replies[-1]
    assert final.WhichOneof("outcome") == "result", final
    return codec.decode(final.result.json, final.result.blobs)


def test_deadline_and_session_reach_the_tool(worker):
    s = worker.session()
    got = result_of(s.wait_final(call(s, "whoami", timeout_ms=5000, session_id="chat-1")))
    assert got["session_id"] == "chat-1" and got["cancelled"] is False and 4 < got["remaining"] <= 5
    assert result_of(s.wait_final(call(s, "whoami"))) == {"session_id": None, "remaining": None, "cancelled": False}


def test_a_cancel_reaches_a_running_tool(worker):
    s = worker.session()
    cid = call(s, "cooperative", {"seconds": 10, "label": "x"})
    time.sleep(0.3)
    started = time.monotonic()
    s.cancel(cid)
    assert result_of(s.wait_final(cid)) == "stopped"
    assert time.monotonic() - started < 2


def test_a_passed_deadline_reads_as_cancelled(worker):
    s = worker.session()
    assert result_of(s.wait_final(call(s, "cooperative", {"seconds": 10, "label": "d"}, timeout_ms=200))) == "stopped"


def test_progress_comes_before_the_result(worker):
    s = worker.session()
    replies = s.wait_final(call(s, "report", {"n": 3}))
    kinds = [r.WhichOneof("outcome") for r in replies]
    assert kinds == ["progress"] * 4 + ["result"]
    assert [codec.decode(r.progress.json, []) for r in replies[:3]] == [
        {"done": i, "total": 3, "message": f"step {i}"} for i in (1, 2, 3)]


def test_a_host_call_waits_for_nodes_reply(worker):
    s = worker.session()
    cid = call(s, "ask_node_catching", {"name": "add", "a": 1})
    host = None
    deadline = time.monotonic() + 10
    while host is None and time.monotonic() < deadline:
        host = worker_host_call(s)
    assert host is not None and host.name == "add" and host.call_id == cid
    assert codec.decode(host.args.json, host.args.blobs) == {"a": 1}
    j, blobs = codec.encode(41)
    s._q.put(pb.ClientFrame(host_replies=[pb.HostReply(id=host.id, result=pb.Value(json=j, blobs=blobs))]))
    assert result_of(s.wait_final(cid)) == {"ok": 41}
    cid = call(s, "ask_node_catching", {"name": "boom"})
    host = None
    while host is None and time.monotonic() < deadline + 10:
        host = worker_host_call(s)
    s._q.put(pb.ClientFrame(host_replies=[pb.HostReply(id=host.id, error=pb.CallError(code="NODE_ERROR", type="RangeError", message="bad"))]))
    assert result_of(s.wait_final(cid)) == {"error": "bad", "code": "NODE_ERROR", "type": "RangeError"}


def worker_host_call(s):
    try:
        return s.host_calls.get(timeout=0.1)
    except Exception:  # noqa: BLE001 - queue.Empty
        return None


def test_a_stream_runs_only_as_far_as_its_credit(worker, tmp_path):
    s = worker.session()
    progress = tmp_path / "produced"
    cid = call(s, "counter", {"n": 1000, "progress_file": str(progress)}, stream=True, window=3)

    def chunks_after(seconds):
        time.sleep(seconds)
        while not s._out.empty():
            r = s._out.get()
            s.replies.setdefault(r.id, []).append(r)
        return [codec.decode(r.chunk.json, []) for r in s.replies.get(cid, [])]

    assert chunks_after(0.5) == [0, 1, 2]
    assert progress.read_text() == "3"
    s._q.put(pb.ClientFrame(credits=[pb.Credit(id=cid, chunks=5)]))
    assert chunks_after(0.5) == list(range(8))
    s.cancel(cid)
    assert s.wait_final(cid)[-1].error.code == "CANCELLED"


def test_a_tool_waiting_on_node_is_released_when_the_session_ends():
    import threading

    from snakepit_bridge import NodeError
    from snakepit_bridge.context import HostCalls

    sent = []
    host = HostCalls(sent.append, 1 << 20)
    outcome = []

    def tool():
        try:
            host.call(1, "lookup", {"k": 1})
        except NodeError as e:
            outcome.append(e.code)

    t = threading.Thread(target=tool)
    t.start()
    while not sent:
        time.sleep(0.01)
    host.close()
    t.join(5)
    assert outcome == ["DISCONNECTED"]
    with pytest.raises(NodeError, match="has ended"):
        host.call(2, "lookup", {})
