"""The standalone bridge server (`python -m snakepit_bridge serve`): what it refuses to start
with, Hello and the token, the health service, and draining on SIGTERM. Real server processes
on loopback; Node's remote pools are tested against the same servers in test/remote.test.ts."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import grpc
import pytest

from conftest import ADAPTERS, PYTHON_DIR, WorkerStub
from snakepit_bridge import frames
from snakepit_bridge import messages as pb
from snakepit_bridge.health import NOT_SERVING, SERVING, decode_request, encode_response

TOKEN = "serve-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *extra: str, token: str | None = TOKEN, wait: bool = True):
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PYTHON_DIR), str(ADAPTERS)])}
        env.pop("SNAKEPIT_TOKEN", None)
        if token is not None:
            env["SNAKEPIT_TOKEN"] = token
        args = ["--adapter", "sample_adapters.Threaded", "--listen", f"127.0.0.1:{self.port}", *extra]
        self.proc = subprocess.Popen([sys.executable, "-m", "snakepit_bridge", "serve", *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True)
        self.first_line = self.proc.stdout.readline() if wait else ""

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(f"127.0.0.1:{self.port}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(*extra: str, **kw) -> Server:
        server = Server(*extra, **kw)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def meta(token: str = TOKEN):
    return (("x-snakepit-token", token),)


def health_check(channel: grpc.Channel, service: str) -> int:
    check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda s: (b"\x0a" + bytes((len(s),)) + s.encode()) if s else b"",
                                response_deserializer=lambda b: b[1] if b else 0)
    return check(service, timeout=10)


def call_frame(call_id: int, tool: str, args_json: bytes) -> object:
    return pb.ClientFrame(calls=[pb.Call(id=call_id, tool=tool, args=pb.Value(json=args_json))])


def test_refuses_a_public_address_without_tls_and_a_missing_token(servers):
    public = servers("--listen", "0.0.0.0:0", wait=False)
    assert public.proc.wait(30) == 2
    assert "needs TLS" in public.proc.stderr.read()
    no_token = servers(token=None, wait=False)
    assert no_token.proc.wait(30) == 2
    assert "no token" in no_token.proc.stderr.read()
    half_tls = servers("--tls-cert", "x.pem", wait=False)
    assert half_tls.proc.wait(30) == 2
    assert "--tls-cert and --tls-key together" in half_tls.proc.stderr.read()
    insecure = servers("--listen", "0.0.0.0:0", "--insecure")
    assert "serving sample_adapters.Threaded" in insecure.first_line


def test_hello_states_capacity_and_tools_and_needs_the_token(servers):
    server = servers("--threads", "3")
    assert "capacity 3" in server.first_line
    stub = WorkerStub(server.channel())
    hello = stub.Hello(pb.HelloRequest(), metadata=meta(), timeout=10)
    assert (hello.protocol, hello.profile, hello.capacity, hello.draining) == (frames.PROTOCOL_VERSION, "thread", 3, False)
    assert "sleep" in hello.tools and hello.pid == server.proc.pid
    with pytest.raises(grpc.RpcError) as refused:
        stub.Hello(pb.HelloRequest(), metadata=meta("wrong"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    beat = stub.Heartbeat(pb.HeartbeatRequest(seq=7), metadata=meta(), timeout=10)
    assert (beat.seq, beat.capacity, beat.draining) == (7, 3, False)


def test_health_needs_no_token_and_readiness_turns_off_on_sigterm_while_a_call_runs(servers):
    probe_port = free_port()
    server = servers("--health-listen", f"127.0.0.1:{probe_port}")
    probes = grpc.insecure_channel(f"127.0.0.1:{probe_port}")
    for channel in (server.channel(), probes):
        assert health_check(channel, "") == SERVING
        assert health_check(channel, "readiness") == SERVING
        assert health_check(channel, "liveness") == SERVING
    with pytest.raises(grpc.RpcError) as unknown:
        health_check(server.channel(), "nope")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    # A session with a 2 s call running, then SIGTERM.
    stub = WorkerStub(server.channel())
    outgoing = [call_frame(1, "sleep", b'{"seconds": 2}')]
    late = pb.ClientFrame(calls=[pb.Call(id=2, tool="pid", args=pb.Value(json=b"{}"))])

    def requests():
        yield outgoing[0]
        time.sleep(1.0)  # by now SIGTERM was sent: this call comes in while the server drains
        yield late
        time.sleep(3.0)

    replies = stub.Session(requests(), metadata=meta(), timeout=30)
    time.sleep(0.5)
    server.proc.send_signal(15)
    time.sleep(0.3)
    assert health_check(probes, "readiness") == NOT_SERVING
    assert health_check(probes, "liveness") == SERVING
    seen: dict[int, str] = {}
    draining_seen = False
    try:
        for frame in replies:
            draining_seen = draining_seen or frame.draining
            for reply in frame.replies:
                seen[reply.id] = reply.WhichOneof("outcome") if reply.WhichOneof("outcome") != "error" else reply.error.code
    except grpc.RpcError:
        pass  # the server ended the stream once drained
    assert draining_seen, "the session was told the server drains"
    assert seen == {1: "result", 2: "DRAINING"}, "the running call finished; the late one was handed back"
    assert server.proc.wait(30) == 0


def test_drain_timeout_cuts_off_a_call_that_runs_too_long(servers):
    server = servers("--drain-timeout", "1")
    stub = WorkerStub(server.channel())

    def requests():
        yield call_frame(1, "sleep", b'{"seconds": 30}')
        time.sleep(30)

    replies = stub.Session(requests(), metadata=meta(), timeout=60)
    time.sleep(0.5)
    started = time.monotonic()
    server.proc.send_signal(15)
    assert server.proc.wait(30) == 0
    assert time.monotonic() - started < 15, "it exits about --drain-timeout after SIGTERM"
    replies.cancel()


def test_health_messages_by_hand():
    assert decode_request(b"") == ""
    assert decode_request(b"\x0a\x09readiness") == "readiness"
    assert decode_request(b"\x10\x05\x0a\x01x") == "x"  # unknown fields are skipped
    with pytest.raises(ValueError):
        decode_request(b"\x0a\x09read")
    assert encode_response(SERVING) == b"\x08\x01"
