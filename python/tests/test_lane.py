"""The local lane end to end: a real worker with --transport local, spoken to over its socket."""
import json
import socket
import struct
import time

import pytest

from snakepit_bridge import wire as pb
from snakepit_bridge.session import BRIDGE_FAILURE_EXIT

HEADER = struct.Struct(">I")


class Lane:
    """A raw connection to a worker's local-lane socket."""

    def __init__(self, worker, token: bytes | None = None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(15)
        self.sock.connect(worker.address[len("unix:"):])
        self.buf = b""
        if token is not None:
            self.send(pb.ClientFrame(token=token))

    def send(self, frame) -> None:
        data = frame.SerializeToString()
        self.sock.sendall(HEADER.pack(len(data)) + data)

    def call(self, cid: int, tool: str, args=None) -> "pb.Call":
        return pb.Call(id=cid, tool=tool, args=pb.Value(json=json.dumps(args or {}).encode()))

    def read(self):
        """The next ServerFrame; None once the worker closed the connection."""
        while True:
            if len(self.buf) >= 4:
                (size,) = HEADER.unpack_from(self.buf)
                if len(self.buf) >= 4 + size:
                    frame = pb.ServerFrame.FromString(self.buf[4:4 + size])
                    self.buf = self.buf[4 + size:]
                    return frame
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None  # closed by the worker with our frames unread
            if not chunk:
                return None
            self.buf += chunk

    def events(self, count: int) -> list:
        """The next `count` replies and pongs, in arrival order, as (kind, id or seq, message)."""
        out = []
        while len(out) < count:
            frame = self.read()
            assert frame is not None, "the worker closed the connection"
            out += [("pong", p.seq, p) for p in frame.pongs] + [(r.WhichOneof("outcome"), r.id, r) for r in frame.replies]
        return out


def local(spawn, adapter="sample_adapters.Calc", **kw):
    return spawn(adapter, "--transport", "local", **kw)


def test_a_connection_without_the_token_is_closed_then_nodes_is_served_and_no_other(spawn):
    w = local(spawn)
    intruder = Lane(w)
    intruder.send(pb.ClientFrame(calls=[intruder.call(1, "pid")]))  # no token
    assert intruder.read() is None
    wrong = Lane(w, token=b"not-the-token")
    try:
        wrong.send(pb.ClientFrame(calls=[wrong.call(1, "pid")]))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the worker already closed it on the wrong token: what this checks
    assert wrong.read() is None

    node = Lane(w, token=w.token.encode())
    node.send(pb.ClientFrame(calls=[node.call(1, "add", {"a": 2, "b": 40})]))
    [(kind, cid, reply)] = node.events(1)
    assert (kind, cid, json.loads(reply.result.json)) == ("result", 1, 42)
    with pytest.raises(OSError):  # the socket stopped listening, its path is gone
        Lane(w)


def test_pings_are_answered_while_a_process_call_runs_and_cancels_reach_queued_calls(spawn):
    w = local(spawn)
    node = Lane(w, token=w.token.encode())
    started = time.monotonic()
    node.send(pb.ClientFrame(calls=[node.call(1, "sleep", {"seconds": 1.5}), node.call(2, "pid")]))
    time.sleep(0.2)
    node.send(pb.ClientFrame(pings=[7], cancels=[2]))
    events = node.events(3)
    kinds = [(kind, ident) for kind, ident, _ in events]
    assert set(kinds[:2]) == {("pong", 7), ("error", 2)}, kinds  # both while call 1 still runs
    assert kinds[2] == ("result", 1)
    pong = events[kinds.index(("pong", 7))][2]
    assert pong.pid == w.proc.pid and pong.in_flight == 1
    assert events[kinds.index(("error", 2))][2].error.code == "CANCELLED"
    assert time.monotonic() - started >= 1.5
    node.send(pb.ClientFrame(calls=[node.call(3, "pid")], pings=[8]))  # idle: answered inline
    assert {(k, i) for k, i, _ in node.events(2)} == {("pong", 8), ("result", 3)}


def test_thread_profile_serves_calls_at_once_and_answers_pings(spawn):
    w = local(spawn, "sample_adapters.Threaded", profile="thread", threads=4)
    node = Lane(w, token=w.token.encode())
    node.send(pb.ClientFrame(calls=[node.call(i, "sleep", {"seconds": 1}) for i in (1, 2, 3)], pings=[1]))
    started = time.monotonic()
    events = node.events(4)
    assert events[0][:2] == ("pong", 1)
    assert sorted(i for k, i, _ in events[1:]) == [1, 2, 3]
    assert time.monotonic() - started < 2.5  # concurrently, not one after another


@pytest.mark.parametrize("busy", [False, True])
def test_a_length_over_the_limit_ends_the_worker_with_status_70(spawn, busy):
    w = local(spawn)
    node = Lane(w, token=w.token.encode())
    if busy:
        node.send(pb.ClientFrame(calls=[node.call(1, "sleep", {"seconds": 30})]))
        time.sleep(0.3)
    node.sock.sendall(HEADER.pack(0xFFFFFFF0))
    assert w.proc.wait(15) == BRIDGE_FAILURE_EXIT
    assert "a frame of 4294967280 bytes from Node is over the limit" in w.stderr_text()


def test_bytes_that_do_not_decode_end_the_worker_with_status_70(spawn):
    w = local(spawn)
    node = Lane(w, token=w.token.encode())
    node.sock.sendall(HEADER.pack(4) + b"\x0a\x7f\x08\x01")
    assert w.proc.wait(15) == BRIDGE_FAILURE_EXIT
    assert "a ClientFrame of 4 bytes from Node does not decode" in w.stderr_text()
