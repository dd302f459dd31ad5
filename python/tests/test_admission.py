"""Authentication before resources on a bridge server: clients without the token, and streams
that are held open, cannot take the threads or the memory that serve calls.

The attack's size is bounded for the suite; SNAKEPIT_ADMISSION_FULL=1 runs it at the figures of
the issue (500 Watch streams, 20 requests of 200 MiB) and prints what it measured."""
from __future__ import annotations

import os
import threading
import time

import grpc
import pytest

from conftest import WorkerStub
from snakepit_bridge import wire as pb
from snakepit_bridge.serve import DEFAULT_MAX_WATCHES, grpc_caps_connections
from test_serve import Server, free_port, health_check, meta

FULL = os.environ.get("SNAKEPIT_ADMISSION_FULL") == "1"
WATCHES = 500 if FULL else 100  # above the old 64 handler threads
LARGE_REQUESTS = 20 if FULL else 4
LARGE_BYTES = (200 if FULL else 64) << 20
RSS_BUDGET_MB = 100
WATCH = "/grpc.health.v1.Health/Watch"
UNLIMITED = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(*extra: str) -> Server:
        server = Server(*extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    raise AssertionError(f"no VmRSS for {pid}")


class Watches:
    """`count` health Watch streams over several connections, held open until close()."""

    def __init__(self, address: str, count: int, metadata=None, service: bytes = b"") -> None:
        self.channels = [grpc.insecure_channel(address) for _ in range(10)]
        self.calls = []
        for i in range(count):
            watch = self.channels[i % len(self.channels)].unary_stream(WATCH, request_serializer=lambda b: b)
            self.calls.append(watch(service, metadata=metadata, timeout=120))
        self.refused: list[grpc.StatusCode] = []
        self._lock = threading.Lock()
        for call in self.calls:
            call.add_done_callback(self._done)

    def _done(self, call) -> None:
        with self._lock:
            self.refused.append(call.code())

    def settled(self, refused: int, within: float = 30.0) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.refused) >= refused:
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        for call in self.calls:
            call.cancel()
        for channel in self.channels:
            channel.close()


def send_large(address: str, method: str, count: int, size: int) -> list[threading.Thread]:
    """`count` tokenless requests of `size` bytes to `method`, each on its own connection."""
    payload = b"\0" * size

    def one() -> None:
        with grpc.insecure_channel(address, options=UNLIMITED) as channel:
            try:
                channel.unary_unary(method, request_serializer=lambda b: b)(payload, timeout=120)
            except grpc.RpcError:
                pass

    threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    return threads


def timed_hello(stub) -> float:
    started = time.monotonic()
    stub.Hello(pb.HelloRequest(), metadata=meta(), timeout=20)
    return time.monotonic() - started


def test_tokenless_watches_and_large_requests_do_not_keep_an_authenticated_call_waiting_or_fill_memory(servers):
    server = servers()
    address = f"127.0.0.1:{server.port}"
    stub = WorkerStub(server.channel())
    timed_hello(stub)
    idle = rss_mb(server.proc.pid)
    watches = Watches(address, WATCHES)
    half = LARGE_REQUESTS // 2
    large = send_large(address, "/snakepit.v1.Worker/Hello", half, LARGE_BYTES)
    large += send_large(address, "/grpc.health.v1.Health/Check", LARGE_REQUESTS - half, LARGE_BYTES)
    peak, hellos = idle, []
    try:
        while any(t.is_alive() for t in large) or len(hellos) < 5:
            peak = max(peak, rss_mb(server.proc.pid))
            hellos.append(timed_hello(stub))
            peak = max(peak, rss_mb(server.proc.pid))
            time.sleep(0.1)
        assert watches.settled(WATCHES), f"{len(watches.refused)} of {WATCHES} tokenless Watches were refused"
        assert set(watches.refused) == {grpc.StatusCode.UNAUTHENTICATED}
    finally:
        watches.close()
    print(f"admission: {WATCHES} tokenless Watches, {len(large)} tokenless requests up to {LARGE_BYTES >> 20} MiB: "
          f"authenticated Hello slowest {max(hellos) * 1000:.0f} ms of {len(hellos)}, RSS idle {idle} MB, peak {peak} MB, "
          f"after {rss_mb(server.proc.pid)} MB")
    assert max(hellos) < 1.0, f"an authenticated Hello took {max(hellos):.2f} s"
    assert peak - idle < RSS_BUDGET_MB, f"RSS went from {idle} MB to {peak} MB"


def test_watches_on_the_health_port_are_capped_and_the_liveness_check_is_still_answered(servers):
    probe_port = free_port()
    server = servers("--health-listen", f"127.0.0.1:{probe_port}")  # the default cap, DEFAULT_MAX_WATCHES
    probes = grpc.insecure_channel(f"127.0.0.1:{probe_port}")
    watches = Watches(f"127.0.0.1:{probe_port}", 40)
    try:
        assert watches.settled(40 - DEFAULT_MAX_WATCHES), f"{len(watches.refused)} of 40 Watches ended"
        assert set(watches.refused) == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        started = time.monotonic()
        assert health_check(probes, "liveness") == 1
        assert time.monotonic() - started < 1.0
    finally:
        watches.close()
    # The slots come back once those streams end.
    again = Watches(f"127.0.0.1:{probe_port}", DEFAULT_MAX_WATCHES)
    try:
        time.sleep(1.0)
        assert again.refused == [], again.refused
    finally:
        again.close()
    probes.close()
    assert server.proc.poll() is None


def test_authenticated_watches_and_sessions_are_capped_and_leave_hello_its_threads(servers):
    server = servers("--max-watches", "2", "--max-sessions", "2")
    address = f"127.0.0.1:{server.port}"
    watches = Watches(address, 10, metadata=meta())
    stub = WorkerStub(server.channel())
    quiet = threading.Event()
    sessions = [stub.Session(_until(quiet), metadata=meta(), timeout=60) for _ in range(3)]
    try:
        assert watches.settled(8)
        assert set(watches.refused) == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        with pytest.raises(grpc.RpcError) as third:
            next(sessions[2])
        assert third.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max-sessions" in third.value.details()
        assert timed_hello(stub) < 1.0
    finally:
        watches.close()
        quiet.set()
        for session in sessions:
            session.cancel()


def _until(done: threading.Event):
    """A Session's requests: none, until `done`."""
    done.wait(60)
    yield from ()


def test_limits_must_be_positive(servers):
    for flag in ("--max-sessions", "--max-watches", "--max-connections", "--max-streams-per-connection"):
        bad = Server(flag, "0", wait=False)
        try:
            assert bad.proc.wait(60) == 2, flag
            assert f"{flag} must be at least 1" in bad.proc.stderr.read(), flag
        finally:
            bad.kill()


def test_connections_over_the_cap_are_refused_or_the_server_says_it_cannot_cap_them(servers):
    server = servers("--max-connections", "2")
    capped = grpc_caps_connections()
    # Distinct options: gRPC would otherwise share one connection between these channels.
    channels = [grpc.insecure_channel(f"127.0.0.1:{server.port}", options=[("grpc.primary_user_agent", f"c{i}")]) for i in range(3)]
    try:
        for channel in channels[:2]:
            WorkerStub(channel).Hello(pb.HelloRequest(), metadata=meta(), timeout=10)
        if capped:
            with pytest.raises(grpc.RpcError) as third:
                WorkerStub(channels[2]).Hello(pb.HelloRequest(), metadata=meta(), timeout=5)
            assert third.value.code() == grpc.StatusCode.UNAVAILABLE
        else:  # the probe is right that this grpcio lets the third in, and the server said so
            WorkerStub(channels[2]).Hello(pb.HelloRequest(), metadata=meta(), timeout=10)
            server.kill()
            assert "--max-connections is not enforced: grpcio" in server.proc.stderr.read()
    finally:
        for channel in channels:
            channel.close()
