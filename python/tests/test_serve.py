"""The standalone bridge server (`python -m snakepit_bridge serve`): what it refuses to start
with, Hello and the token, the health service, and draining on SIGTERM. Real server processes
on loopback; Node's remote pools are tested against the same servers in test/remote.test.ts."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from conftest import ADAPTERS, PYTHON_DIR, WorkerStub
from snakepit_bridge import frames
from snakepit_bridge import wire as pb
from snakepit_bridge.health import NOT_SERVING, SERVING, decode_request, encode_response

TOKEN = "serve-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *extra: str, token: str | None = TOKEN, wait: bool = True, env: dict | None = None):
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PYTHON_DIR), str(ADAPTERS)]), **(env or {})}
        env.pop("SNAKEPIT_TOKEN", None)
        if token is not None:
            env["SNAKEPIT_TOKEN"] = token
        args = ["--adapter", "sample_adapters.Threaded", "--listen", f"127.0.0.1:{self.port}", *extra]
        self.proc = subprocess.Popen([sys.executable, "-m", "snakepit_bridge", "serve", *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True)
        self.first_line = self.proc.stdout.readline() if wait else ""

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(f"127.0.0.1:{self.port}")

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return sorted(int(pid) for pid in out.split())

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


PROCESS_PROFILE = ("--profile", "process", "--workers", "2")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def gone(pids: list[int], within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def replies_of(stub, frames_out, seconds: float = 30) -> dict[int, list]:
    """Every reply of one Session, by call id, in order."""
    seen: dict[int, list] = {}
    for frame in stub.Session(frames_out, metadata=meta(), timeout=seconds):
        for reply in frame.replies:
            seen.setdefault(reply.id, []).append(reply)
    return seen


def meta(token: str = TOKEN):
    return (("x-snakepit-token", token),)


def health_check(channel: grpc.Channel, service: str, metadata=None) -> int:
    check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda s: (b"\x0a" + bytes((len(s),)) + s.encode()) if s else b"",
                                response_deserializer=lambda b: b[1] if b else 0)
    return check(service, metadata=metadata, timeout=10)


def readiness_becomes(channel: grpc.Channel, status: int, metadata=None) -> None:
    deadline = time.monotonic() + 20
    while health_check(channel, "readiness", metadata) != status:
        assert time.monotonic() < deadline, f"readiness did not turn {status}"
        time.sleep(0.1)


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


def test_refuses_an_adapter_not_declared_thread_safe_in_the_thread_profile_and_names_the_process_profile(servers):
    unsafe = servers("--adapter", "sample_adapters.NotThreadSafe", wait=False)
    assert unsafe.proc.wait(30) == 2
    said = unsafe.proc.stderr.read()
    assert "NotThreadSafe is not declared thread-safe" in said and "--profile process" in said and "Traceback" not in said


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


@pytest.mark.parametrize("profile", [(), PROCESS_PROFILE], ids=["thread", "process"])
def test_health_port_needs_no_token_and_readiness_turns_off_on_sigterm_while_a_call_runs(servers, profile):
    probe_port = free_port()
    server = servers("--health-listen", f"127.0.0.1:{probe_port}", *profile)
    workers = server.children()
    probes = grpc.insecure_channel(f"127.0.0.1:{probe_port}")
    for channel, metadata in ((server.channel(), meta()), (probes, None)):
        assert health_check(channel, "", metadata) == SERVING
        assert health_check(channel, "readiness", metadata) == SERVING
        assert health_check(channel, "liveness", metadata) == SERVING
    with pytest.raises(grpc.RpcError) as unknown:
        health_check(server.channel(), "nope", meta())
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as tokenless:
        health_check(server.channel(), "liveness")
    assert tokenless.value.code() == grpc.StatusCode.UNAUTHENTICATED, "the serving port answers only with the token"

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
    assert gone(workers), "the process profile's workers end with the server"


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


def test_process_profile_runs_each_call_alone_on_one_of_its_workers(servers):
    server = servers("--profile", "process", "--workers", "3")
    assert "profile process, capacity 3" in server.first_line
    workers = server.children()
    assert len(workers) == 3
    stub = WorkerStub(server.channel())
    hello = stub.Hello(pb.HelloRequest(), metadata=meta(), timeout=10)
    assert (hello.profile, hello.capacity, hello.pid) == ("process", 3, server.proc.pid)
    assert "sleep" in hello.tools

    def client(first_id: int):
        def requests():
            for i in range(3):
                yield call_frame(first_id + i, "sleep", b'{"seconds": 0.5}')
            yield pb.ClientFrame(calls=[pb.Call(id=first_id + 3, tool="sleep", args=pb.Value(json=b'{"seconds": 5}'))])
            yield pb.ClientFrame(cancels=[first_id + 3])  # still queued: answered at once
        return requests()

    started = time.monotonic()
    with ThreadPoolExecutor(2) as both:
        a, b = both.map(lambda first: replies_of(stub, client(first)), (1, 11))
    took = time.monotonic() - started
    results = [json.loads(r[0].result.json) for seen in (a, b) for cid, r in seen.items() if cid % 10 != 4]
    assert {r["pid"] for r in results} == set(workers), "the calls ran on the server's worker processes"
    assert sorted(Counter(r["pid"] for r in results).values()) == [2, 2, 2], "one call at a time on each"
    assert 0.9 < took < 4.5, f"6 calls of 0.5 s on 3 workers take two rounds, not one or six ({took:.2f} s)"
    assert a[4][0].error.code == b[14][0].error.code == "CANCELLED"



def test_process_profile_a_reclaimed_call_still_waiting_for_a_worker_is_answered_unstarted(servers):
    server = servers("--profile", "process", "--workers", "1")
    stub = WorkerStub(server.channel())

    def requests():
        yield call_frame(1, "sleep", b'{"seconds": 3}')  # the one worker is busy with this
        yield call_frame(2, "sleep", b'{"seconds": 0}')
        yield pb.ClientFrame(reclaims=[2])  # still waiting: Node may run it elsewhere
        time.sleep(3.5)

    seen = replies_of(stub, requests())
    assert seen[2][0].error.code == "UNSTARTED", seen[2]
    assert seen[1][0].WhichOneof("outcome") == "result"


def test_process_profile_relays_a_stream_chunk_by_chunk_under_the_clients_call_id(servers):
    server = servers("--profile", "process", "--workers", "1", "--adapter", "sample_adapters.Calc")
    stub = WorkerStub(server.channel())
    call = pb.Call(id=41, tool="count", stream=True, window=64, args=pb.Value(json=b'{"n": 5}'))
    seen = replies_of(stub, iter([pb.ClientFrame(calls=[call])]))
    assert [r.WhichOneof("outcome") for r in seen[41]] == ["chunk"] * 5 + ["end"]
    assert [json.loads(r.chunk.json) for r in seen[41][:5]] == [0, 1, 2, 3, 4]


def signalled_mid_call(server: Server, victim: int, signum: int) -> list:
    """Two calls of 1.5 s on the server's two workers; `signum` to `victim` while they run.
    Each call's outcome: the pid that answered it, or its error code."""

    def requests():
        yield call_frame(1, "sleep", b'{"seconds": 1.5}')
        yield call_frame(2, "sleep", b'{"seconds": 1.5}')
        time.sleep(0.6)
        os.kill(victim, signum)

    seen = replies_of(WorkerStub(server.channel()), requests(), seconds=60)
    return sorted((r[0].error.code or json.loads(r[0].result.json)["pid"] for r in seen.values()), key=str)


def test_process_profile_a_killed_worker_fails_only_its_call_and_is_replaced(servers):
    server = servers("--profile", "process", "--workers", "2")
    victim, survivor = server.children()
    stub = WorkerStub(server.channel())
    assert signalled_mid_call(server, victim, 9) == sorted(["WORKER_CRASHED", survivor], key=str)
    deadline = time.monotonic() + 20
    while len(server.children()) < 2 or victim in server.children():
        assert time.monotonic() < deadline, "the killed worker is started again"
        time.sleep(0.1)
    pids = {json.loads(replies_of(stub, iter([call_frame(i, "pid", b"{}") for i in (1, 2)]))[1][0].result.json)}
    assert victim not in pids
    workers = server.children()
    server.kill()  # kill -9 of the server itself: its workers follow it
    assert gone(workers)


def test_process_profile_a_frozen_worker_is_killed_when_its_pings_go_unanswered(servers):
    server = servers("--profile", "process", "--workers", "2", "--worker-heartbeat-timeout", "2")
    frozen, other = server.children()
    started = time.monotonic()
    outcomes = signalled_mid_call(server, frozen, 19)  # SIGSTOP
    assert outcomes == sorted(["WORKER_CRASHED", other], key=str), "the frozen worker's call fails; the other completes"
    assert time.monotonic() - started < 30, "within about the heartbeat timeout, not never"
    assert gone([frozen])
    deadline = time.monotonic() + 20
    while len(server.children()) < 2:
        assert time.monotonic() < deadline, "the frozen worker is replaced"
        time.sleep(0.1)
    assert other in server.children()


def test_process_profile_a_busy_worker_answers_pings_and_is_left_alone(servers):
    server = servers("--profile", "process", "--workers", "1", "--worker-heartbeat-timeout", "1.5", "--adapter", "sample_adapters.Calc")
    [worker] = server.children()
    seen = replies_of(WorkerStub(server.channel()), iter([call_frame(1, "spin", b'{"seconds": 4}')]))
    assert seen[1][0].WhichOneof("outcome") == "result", "a 4 s CPU-bound call outlives a 1.5 s heartbeat timeout"
    assert server.children() == [worker]


def test_process_profile_readiness_is_off_while_no_worker_process_is_up(servers, tmp_path):
    flag = tmp_path / "fail"
    probe_port = free_port()
    server = servers("--profile", "process", "--workers", "1", "--adapter", "sample_adapters.FailsWhileFlagged",
                     "--health-listen", f"127.0.0.1:{probe_port}", env={"SNAKEPIT_TEST_FAIL_FLAG": str(flag)})
    probes = grpc.insecure_channel(f"127.0.0.1:{probe_port}")
    assert health_check(probes, "readiness") == SERVING
    flag.touch()  # restarts fail from now on
    [worker] = server.children()
    os.kill(worker, 9)

    readiness_becomes(probes, NOT_SERVING)
    assert health_check(probes, "liveness") == SERVING, "the server itself lives: Kubernetes must not restart it"
    flag.unlink()
    readiness_becomes(probes, SERVING)
    seen = replies_of(WorkerStub(server.channel()), iter([call_frame(1, "pid", b"{}")]))
    assert json.loads(seen[1][0].result.json) in server.children()


def test_process_profile_a_worker_that_cannot_boot_again_stops_the_server_with_status_3(servers, tmp_path):
    flag = tmp_path / "fail"
    server = servers("--profile", "process", "--workers", "2", "--adapter", "sample_adapters.FailsWhileFlagged",
                     env={"SNAKEPIT_TEST_FAIL_FLAG": str(flag)})
    workers = server.children()
    flag.touch()  # from now on every start fails, as when a model file went away
    os.kill(workers[0], 9)
    assert server.proc.wait(90) == 3, "the server gives up on a worker that fails to boot, and says so by its status"
    err = server.proc.stderr.read()
    assert err.count("restarting worker 1 failed") == 5 and "worker 1 failed to boot 5 times in a row; stopping" in err, err
    assert gone(workers), "the other worker ends with the server"


def test_process_profile_calls_waiting_for_a_worker_that_cannot_boot_are_answered_draining(servers, tmp_path):
    flag = tmp_path / "fail"
    server = servers("--profile", "process", "--workers", "1", "--adapter", "sample_adapters.FailsWhileFlagged",
                     env={"SNAKEPIT_TEST_FAIL_FLAG": str(flag)})
    [worker] = server.children()
    flag.touch()
    os.kill(worker, 9)
    # Sent before the server has seen its worker die, a call would go to it and fail WORKER_CRASHED.
    readiness_becomes(server.channel(), NOT_SERVING, meta())

    def calls():  # no worker to run them: they wait until the server gives up
        yield pb.ClientFrame(calls=[pb.Call(id=i, tool="pid") for i in range(1, 4)])
        time.sleep(60)

    seen = replies_of(WorkerStub(server.channel()), calls(), seconds=60)
    assert {cid: [r.error.code for r in replies] for cid, replies in seen.items()} == {i: ["DRAINING"] for i in range(1, 4)}, seen
    assert server.proc.wait(30) == 3


def test_a_frame_that_does_not_decode_ends_only_that_clients_session(servers):
    server = servers(*PROCESS_PROFILE)
    raw = server.channel().stream_stream(f"/{pb.WORKER_SERVICE}/Session", request_serializer=lambda b: b)
    with pytest.raises(grpc.RpcError):
        list(raw(iter([b"\x0a\xff\xff\xff"]), metadata=meta(), timeout=10))
    stub = WorkerStub(server.channel())
    seen = replies_of(stub, iter([call_frame(1, "pid", b"{}")]))
    assert seen[1][0].WhichOneof("outcome") == "result"
    assert server.proc.poll() is None


def test_process_profile_command_line_errors(servers):
    for extra, says in [
        (("--workers", "2"), "--workers and --worker-heartbeat-timeout are for --profile process"),
        (("--profile", "process", "--worker-heartbeat-timeout", "0"), "must be more than 0 seconds"),
        (("--profile", "process", "--threads", "2"), "--threads is for the thread profile"),
        (("--profile", "process", "--workers", "0"), "--workers must be at least 1"),
        (("--profile", "process", "--adapter", "sample_adapters.BrokenInit"), "a worker process failed to start"),
    ]:
        bad = servers(*extra, wait=False)
        assert bad.proc.wait(60) == 2, extra
        assert says in bad.proc.stderr.read(), extra
