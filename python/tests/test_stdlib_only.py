"""The local lane needs only the standard library: a worker whose imports of grpc and protobuf
fail serves a call of every kind, in both profiles."""
from __future__ import annotations

import json
import textwrap

import pytest

from conftest import ADAPTERS, PYTHON_DIR
from snakepit_bridge import wire
from test_lane import Lane

BLOCKER = textwrap.dedent('''\
    import sys

    class _Blocked:
        """Fails every import of grpc and protobuf, as on a Python where neither is installed."""

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("grpc", "google"):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, _Blocked())
''')


def value(obj) -> wire.Value:
    return wire.Value(json=json.dumps(obj).encode())


@pytest.fixture
def blocked_path(tmp_path) -> list[str]:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    return [str(tmp_path), str(PYTHON_DIR), str(ADAPTERS)]


@pytest.mark.parametrize("profile, adapter", [("process", "stdlib_adapters.Everything"), ("thread", "stdlib_adapters.ThreadedEverything")])
def test_a_worker_without_grpc_or_protobuf_serves_a_call_of_every_kind(spawn, blocked_path, profile, adapter):
    w = spawn(adapter, "--transport", "local", profile=profile, threads=4, pythonpath=blocked_path)
    node = Lane(w, token=w.token.encode())

    node.send(wire.ClientFrame(calls=[wire.Call(id=1, tool="blocked_loaded"), wire.Call(id=100, tool="heavy_loaded")], pings=[5]))
    events = {(kind, ident): reply for kind, ident, reply in node.events(3)}
    assert json.loads(events[("result", 1)].result.json) == []  # grpc and protobuf were never loaded
    assert json.loads(events[("result", 100)].result.json) == []  # nor what would slow the start
    assert ("pong", 5) in events

    # A stream, one chunk at a time: window 1, a credit after each chunk; progress on the way.
    node.send(wire.ClientFrame(calls=[wire.Call(id=2, tool="report_stream", args=value({"n": 3}), stream=True, window=1)]))
    chunks, progress = [], 0
    while True:
        [(kind, ident, reply)] = node.events(1)
        assert ident == 2, (kind, ident)
        if kind == "chunk":
            chunks.append(json.loads(reply.chunk.json))
            node.send(wire.ClientFrame(credits=[wire.Credit(id=2, chunks=1)]))
        elif kind == "progress":
            progress += 1
        else:
            assert kind == "end", kind
            break
    assert chunks == [0, 1, 2] and progress == 3

    # A call into Node and its answer.
    node.send(wire.ClientFrame(calls=[wire.Call(id=3, tool="ask_node", args=value({"name": "double", "x": 21}))]))
    frame = node.read()
    [host_call] = frame.host_calls
    assert (host_call.call_id, host_call.name) == (3, "double")
    node.send(wire.ClientFrame(host_replies=[wire.HostReply(id=host_call.id, result=value(42))]))
    [(kind, ident, reply)] = node.events(1)
    assert (kind, ident, json.loads(reply.result.json)) == ("result", 3, 42)

    # A large call whose arguments (JSON and a blob) arrive in parts.
    text, blob = "x" * 300_000, bytes(range(256)) * 4096
    args = wire.Value(json=json.dumps({"text": text, "data": {"$bytes": 0}}).encode(), blobs=[blob]).SerializeToString()
    node.send(wire.ClientFrame(calls=[wire.Call(id=4, tool="sizes", args_size=len(args))]))
    for at in range(0, len(args), 256 * 1024):
        node.send(wire.ClientFrame(parts=[wire.ArgsPart(id=4, data=args[at:at + 256 * 1024])]))
    [(kind, ident, reply)] = node.events(1)
    assert (kind, ident, json.loads(reply.result.json)) == ("result", 4, [len(text), len(blob)])

    # A cancel of a running call, and a Python error.
    node.send(wire.ClientFrame(calls=[wire.Call(id=6, tool="cooperative", args=value({"seconds": 60, "label": "c"}))]))
    node.send(wire.ClientFrame(cancels=[6], calls=[wire.Call(id=7, tool="fail", args=value({"message": "on purpose"}))]))
    events = {(kind, ident): reply for kind, ident, reply in node.events(2)}
    # The tool saw the cancel: it returned early (the process profile hands its value back), or
    # the call was answered CANCELLED (the thread profile drops what a cancelled call returns).
    stopped = events.get(("result", 6))
    assert events[("error", 6)].error.code == "CANCELLED" if stopped is None else json.loads(stopped.result.json) == "stopped"
    assert events[("error", 7)].error.code == "PYTHON_ERROR" and events[("error", 7)].error.message == "on purpose"
