"""The bridge as a standalone server (a pod), for Node's remote pools.

    python -m snakepit_bridge serve --adapter pkg.mod.Class --listen HOST:PORT
        [--threads N | --profile process --workers N]
        [--tls-cert F --tls-key F [--tls-client-ca F]] [--token-file F] [--insecure]
        [--health-listen HOST:PORT] [--drain-timeout S] [--max-message-bytes N]
        [--max-sessions N] [--max-watches N] [--max-connections N] [--max-streams-per-connection N]

It serves the same Worker service as a local gRPC worker, to any number of clients at once,
plus Hello (what it is: capacity, tools, protocol) and the standard grpc.health.v1 service
(health.py). The thread profile runs every client's calls on one pool of N threads (so the
adapter must be thread-safe); the process profile runs each call alone in one of N worker
processes behind the same port (relay_arbiter.py), for adapters that are not thread-safe or
hold the GIL.
Every RPC on --listen needs the token (--token-file, else SNAKEPIT_TOKEN), checked before a
request is read (admission.py); --health-listen serves only health, without one. Open Sessions,
Watches, connections and streams per connection are capped (flags below). On SIGTERM it drains,
as Kubernetes expects of a pod: readiness turns NOT_SERVING, every open Session is told
`draining`, calls not started yet are answered DRAINING (the client runs them elsewhere),
calls running finish, then it exits 0 — or at --drain-timeout, whatever still runs. The same
drain, then exit status 3, when a process-profile worker that died cannot boot again (its
restarts fail five times in a row, over ≈ 11 s: relay_arbiter.py).
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import frames
from .frames import PROTOCOL_VERSION
from .admission import UNARY_THREADS, Slots
from .gil import gil_enabled
from .grpcserver import add_worker_service, listen, new_server
from .health import HealthStatus, register_health
from .session import decode_client_frame
from .startup import (DEFAULT_MAX_MESSAGE, StartupError, check_thread_safe, frame_limit, line_buffered_output, load_adapter_class,
                      python_version)
from .warnonce import install as install_warn_once

DEFAULT_THREADS = 4
DEFAULT_WORKERS = 2
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")
# Session streams and health Watches each hold a handler thread while open: each has its cap.
DEFAULT_MAX_SESSIONS = 64
DEFAULT_MAX_WATCHES = 8
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_MAX_STREAMS_PER_CONNECTION = 100
# The health port reads nothing larger: a HealthCheckRequest is a service name.
HEALTH_MESSAGE_BYTES = 4096
USAGE_ERROR = 2
# A process-profile worker that cannot boot again after it died (relay_arbiter.py's RESTART_DELAYS_S).
WORKER_BOOT_ERROR = 3
# The least a drain lasts: calls a client sent before it heard `draining` still arrive, and are
# answered DRAINING rather than lost with the session.
DRAIN_LINGER_S = 1.0
# How long drained sessions get to send their last replies and close before the server stops.
SESSION_END_S = 5.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m snakepit_bridge serve", description="Serve an adapter to Snakepit remote pools")
    p.add_argument("--adapter", required=True, help="module.Class of the adapter to serve (thread-safe)")
    p.add_argument("--listen", required=True, help="HOST:PORT to listen on (PORT 0: any free port)")
    p.add_argument("--profile", choices=("thread", "process"), default="thread",
                   help="thread: calls on N threads of this process; process: each call alone in one of N worker processes")
    p.add_argument("--threads", type=int, help=f"thread profile: calls run at once (default {DEFAULT_THREADS})")
    p.add_argument("--workers", type=int, help=f"process profile: worker processes (default {DEFAULT_WORKERS})")
    p.add_argument("--worker-heartbeat-timeout", type=float,
                   help="process profile: seconds a worker may leave pings unanswered before it is killed and "
                        "replaced (default 10)")
    p.add_argument("--tls-cert", help="PEM certificate chain of this server")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument("--tls-client-ca", help="PEM CA that client certificates must chain to (mutual TLS)")
    p.add_argument("--token-file", help="file holding the token clients must send (else $SNAKEPIT_TOKEN)")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback address without TLS")
    p.add_argument("--health-listen", help="HOST:PORT of a plaintext port serving only grpc.health.v1 (kubelet probes)")
    p.add_argument("--drain-timeout", type=float, default=25.0, help="seconds running calls get after SIGTERM")
    p.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE)
    p.add_argument("--thread-safety-checks", action="store_true")
    p.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS,
                   help=f"Session streams open at once, from all clients (default {DEFAULT_MAX_SESSIONS}); more are refused")
    p.add_argument("--max-watches", type=int, default=DEFAULT_MAX_WATCHES,
                   help=f"health Watch streams open at once, on each port (default {DEFAULT_MAX_WATCHES}); more are refused")
    p.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS,
                   help=f"client connections open at once, on each port (default {DEFAULT_MAX_CONNECTIONS})")
    p.add_argument("--max-streams-per-connection", type=int, default=DEFAULT_MAX_STREAMS_PER_CONNECTION,
                   help=f"RPCs one connection may have open at once (default {DEFAULT_MAX_STREAMS_PER_CONNECTION}); "
                        "more wait in the client")
    args = p.parse_args(argv)
    for flag in ("max_sessions", "max_watches", "max_connections", "max_streams_per_connection"):
        if getattr(args, flag) < 1:
            raise StartupError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.profile == "thread":
        if args.workers is not None or args.worker_heartbeat_timeout is not None:
            raise StartupError("--workers and --worker-heartbeat-timeout are for --profile process; the thread profile takes --threads")
        args.threads = DEFAULT_THREADS if args.threads is None else args.threads
        if args.threads < 1:
            raise StartupError("--threads must be at least 1")
    else:
        if args.threads is not None:
            raise StartupError("--threads is for the thread profile; --profile process takes --workers")
        if args.thread_safety_checks:
            raise StartupError("--thread-safety-checks is for the thread profile: a process worker runs one call at a time")
        if args.worker_heartbeat_timeout is not None and args.worker_heartbeat_timeout <= 0:
            raise StartupError("--worker-heartbeat-timeout must be more than 0 seconds")
        args.workers = DEFAULT_WORKERS if args.workers is None else args.workers
        if args.workers < 1:
            raise StartupError("--workers must be at least 1")
    if args.drain_timeout < 0:
        raise StartupError("--drain-timeout must be 0 or more seconds")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise StartupError("give --tls-cert and --tls-key together")
    if args.tls_client_ca and not args.tls_cert:
        raise StartupError("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
    host = split_host(args.listen)
    if not args.tls_cert and host not in LOOPBACK and not args.insecure:
        raise StartupError(
            f"--listen {args.listen}: a non-loopback address needs TLS (--tls-cert, --tls-key) so the token and "
            "calls are not sent in clear; pass --insecure to serve plaintext anyway (e.g. inside a service mesh)"
        )
    return args


def split_host(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise StartupError(f"--listen {address!r}: expected HOST:PORT")
    return host


def read_token(path: str | None) -> bytes:
    token = os.environ.pop("SNAKEPIT_TOKEN", None)  # tools and their subprocesses never see it
    if path:
        try:
            with open(path, "rb") as f:
                token = f.read().decode().strip()
        except OSError as e:
            raise StartupError(f"--token-file {path}: {e.strerror}") from None
    if not token:
        raise StartupError("no token: give --token-file FILE or set SNAKEPIT_TOKEN; clients send it with every call")
    return token.encode()


def read_file(path: str, flag: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise StartupError(f"{flag} {path}: {e.strerror}") from None


class Drain:
    """The server's open sessions, and whether it drains (then every session refuses new calls)."""

    def __init__(self) -> None:
        self.active = False
        self._sessions: set = set()
        self._lock = threading.Lock()

    def open(self, session) -> None:
        session.refusing = lambda: self.active
        with self._lock:
            self._sessions.add(session)
            if self.active:
                session.announce(frames.DRAINING)

    def close(self, session) -> None:
        with self._lock:
            self._sessions.discard(session)

    def start(self) -> None:
        with self._lock:
            self.active = True
            sessions = list(self._sessions)
        for session in sessions:
            session.announce(frames.DRAINING)

    def end_sessions(self, timeout: float) -> None:
        """Ends every session after the replies it still has to send, and waits for them to close:
        a client then sees each stream end normally, with every answer in it."""
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.end()
        waited = 0.0
        while waited < timeout:
            with self._lock:
                if not self._sessions:
                    return
            time.sleep(0.05)
            waited += 0.05


class ThreadCalls:
    """The thread profile: every session's calls on one pool of threads in this process."""

    profile = "thread"
    halted = None  # nothing to boot again: the tools run in this process

    def __init__(self, args) -> None:
        from .adapter import discover_tools
        from .runner import CallRunner
        from .session import InFlight

        cls = load_adapter_class(args.adapter)
        check_thread_safe(cls, "--profile process")
        tools = discover_tools(cls())
        checker = None
        if args.thread_safety_checks:
            from .safety import SafetyChecker

            checker = SafetyChecker(lambda message: print(f"snakepit-bridge: {message}", file=sys.stderr, flush=True))
        self.tools = list(tools)
        self.capacity = args.threads
        self._runner = CallRunner(tools, checker, args.max_message_bytes)
        self._pool = ThreadPoolExecutor(max_workers=args.threads, thread_name_prefix="snakepit-tool")
        self._in_flight = InFlight()

    def session(self):
        from .grpcsession import ThreadSession

        return ThreadSession(self._runner, self._pool, self._in_flight)

    def in_flight(self) -> int:
        return max(self._in_flight.value, 0)

    def can_serve(self) -> bool:
        return True

    def stop(self) -> None:
        """Tool threads still running are left to the process's exit."""


def start_calls(args):
    """The profile's call runner, started; StartupError if the adapter cannot be served."""
    if args.profile == "thread":
        return ThreadCalls(args)
    from .relay_arbiter import DEFAULT_HEARTBEAT_TIMEOUT_S, Arbiter
    from .relay_worker import WorkerStartError

    timeout = args.worker_heartbeat_timeout or DEFAULT_HEARTBEAT_TIMEOUT_S
    arbiter = Arbiter(args.adapter, args.workers, args.max_message_bytes, timeout)
    try:
        arbiter.start()
    except WorkerStartError as e:
        raise StartupError(f"--adapter {args.adapter}: a worker process failed to start: {e}") from None
    return arbiter


def add_service(server, calls, sessions: Slots, drain: Drain, hello: dict) -> None:
    """The Worker service with Hello; the token was checked before any of it runs (TokenGate)."""
    capacity = hello["capacity"]

    def open_session(context):
        sessions.take(context)
        session = calls.session()
        drain.open(session)
        context.add_callback(lambda: drain.close(session))
        return session

    add_worker_service(server, open_session,
                       heartbeat=lambda: {"in_flight": calls.in_flight(), "capacity": capacity, "draining": drain.active},
                       hello=lambda: {**hello, "draining": drain.active}, request_deserializer=decode_client_frame)


CONNECTION_CAP_OPTION = "grpc.max_allowed_incoming_connections"


def grpc_caps_connections() -> bool:
    """Whether this grpcio enforces CONNECTION_CAP_OPTION. gRPC core ignores server options it
    does not know, and it learned this one only in 2024 (Debian 12's grpcio 1.51 predates it);
    the option's name is in the core's binary exactly when the core reads it."""
    import mmap
    from grpc._cython import cygrpc

    with open(cygrpc.__file__, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as core:
        return core.find(CONNECTION_CAP_OPTION.encode()) >= 0


def connection_limits(args) -> list[tuple[str, int]]:
    return [(CONNECTION_CAP_OPTION, args.max_connections), ("grpc.max_concurrent_streams", args.max_streams_per_connection)]


def serve(args) -> int:
    import grpc

    token = read_token(args.token_file)
    credentials = None
    if args.tls_cert:
        client_ca = read_file(args.tls_client_ca, "--tls-client-ca") if args.tls_client_ca else None
        pair = (read_file(args.tls_key, "--tls-key"), read_file(args.tls_cert, "--tls-cert"))
        credentials = grpc.ssl_server_credentials([pair], root_certificates=client_ca, require_client_auth=client_ca is not None)
    calls = start_calls(args)
    drain = Drain()
    health = HealthStatus(calls.can_serve)
    if calls.profile == "process":
        calls.on_change = health.changed  # worker processes go and come back
    hello = {
        "protocol": PROTOCOL_VERSION, "pid": os.getpid(), "python": python_version(), "gil_enabled": gil_enabled(),
        "profile": calls.profile, "capacity": calls.capacity, "tools": calls.tools, "server_id": f"{socket.gethostname()}:{os.getpid()}",
    }
    sessions = Slots(args.max_sessions, "sessions", "--max-sessions")
    watches = Slots(args.max_watches, "health watches", "--max-watches")
    server = new_server(sessions.size + watches.size + UNARY_THREADS, "snakepit-grpc", frame_limit(args.max_message_bytes), token,
                        connection_limits(args))
    add_service(server, calls, sessions, drain, hello)
    register_health(server, health, watches)
    port = listen(server, "--listen", args.listen, credentials)
    probes = None
    if args.health_listen:
        probe_watches = Slots(args.max_watches, "health watches", "--max-watches")
        probes = new_server(probe_watches.size + UNARY_THREADS, "snakepit-health", HEALTH_MESSAGE_BYTES, None, connection_limits(args))
        register_health(probes, health, probe_watches)
        listen(probes, "--health-listen", args.health_listen)
        probes.start()
    install_warn_once()  # a thread-profile server runs tools here: each warning location shown once
    server.start()
    health.set_serving(True)
    if not grpc_caps_connections():
        print(f"snakepit-bridge: warning: --max-connections is not enforced: grpcio {grpc.__version__} predates gRPC's "
              "connection cap; install a newer grpcio (pip install -U grpcio) to cap connections", file=sys.stderr, flush=True)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    calls.on_halt = stop.set
    host = args.listen.rpartition(":")[0]
    print(
        f"snakepit-bridge serving {args.adapter} on {host}:{port} (profile {calls.profile}, capacity {calls.capacity}, "
        f"tls {'on' if credentials else 'off'}, mtls {'on' if args.tls_client_ca else 'off'}, tools: {', '.join(calls.tools)})",
        flush=True,
    )
    while not stop.wait(0.5):
        pass

    # Drain: no new calls anywhere, the running ones get --drain-timeout to finish.
    health.set_serving(False)
    drain.start()
    waited = 0.0
    while (calls.in_flight() > 0 or waited < DRAIN_LINGER_S) and waited < args.drain_timeout:
        time.sleep(0.05)
        waited += 0.05
    left = calls.in_flight()
    drain.end_sessions(timeout=SESSION_END_S)
    print(f"snakepit-bridge drained ({left} call(s) still running were cut off)" if left else "snakepit-bridge drained", flush=True)
    server.stop(grace=1.0).wait()
    calls.stop()
    if probes is not None:
        probes.stop(grace=None)
    return WORKER_BOOT_ERROR if calls.halted else 0


def main(argv: list[str]) -> None:
    line_buffered_output()
    try:
        code = serve(parse_args(argv))
    except StartupError as e:
        print(f"snakepit-bridge: {e}", file=sys.stderr, flush=True)
        code = USAGE_ERROR
    sys.stdout.flush()
    # Tool threads still running past the drain timeout must not hold the exit.
    os._exit(code)
