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
processes behind the same port (relay.py), for adapters that are not thread-safe or hold the GIL.
Every RPC on --listen needs the token (--token-file, else SNAKEPIT_TOKEN), checked before a
request is read (admission.py); --health-listen serves only health, without one. Open Sessions,
Watches, connections and streams per connection are capped (flags below). On SIGTERM it drains,
as Kubernetes expects of a pod: readiness turns NOT_SERVING, every open Session is told
`draining`, calls not started yet are answered DRAINING (the client runs them elsewhere),
calls running finish, then it exits 0 — or at --drain-timeout, whatever still runs. The same
drain, then exit status 3, when a process-profile worker that died cannot boot again (its
restarts fail five times in a row, over ≈ 11 s: relay.py).
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
from .admission import UNARY_THREADS, Slots, TokenGate
from .health import HealthStatus, register_health
from .session import decode_client_frame
from .warnonce import install as install_warn_once
from .worker import DEFAULT_MAX_MESSAGE, FRAME_OVERHEAD, check_thread_safe, gil_enabled, load_adapter_class, python_version, register

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
# A process-profile worker that cannot boot again after it died (relay.py's RESTART_DELAYS_S).
WORKER_BOOT_ERROR = 3
# The least a drain lasts: calls a client sent before it heard `draining` still arrive, and are
# answered DRAINING rather than lost with the session.
DRAIN_LINGER_S = 1.0
# How long drained sessions get to send their last replies and close before the server stops.
SESSION_END_S = 5.0


class ServeError(Exception):
    """A command line the server refuses, with what to do instead."""


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
            raise ServeError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.profile == "thread":
        if args.workers is not None or args.worker_heartbeat_timeout is not None:
            raise ServeError("--workers and --worker-heartbeat-timeout are for --profile process; the thread profile takes --threads")
        args.threads = DEFAULT_THREADS if args.threads is None else args.threads
        if args.threads < 1:
            raise ServeError("--threads must be at least 1")
    else:
        if args.threads is not None:
            raise ServeError("--threads is for the thread profile; --profile process takes --workers")
        if args.thread_safety_checks:
            raise ServeError("--thread-safety-checks is for the thread profile: a process worker runs one call at a time")
        if args.worker_heartbeat_timeout is not None and args.worker_heartbeat_timeout <= 0:
            raise ServeError("--worker-heartbeat-timeout must be more than 0 seconds")
        args.workers = DEFAULT_WORKERS if args.workers is None else args.workers
        if args.workers < 1:
            raise ServeError("--workers must be at least 1")
    if args.drain_timeout < 0:
        raise ServeError("--drain-timeout must be 0 or more seconds")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ServeError("give --tls-cert and --tls-key together")
    if args.tls_client_ca and not args.tls_cert:
        raise ServeError("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
    host = split_host(args.listen)
    if not args.tls_cert and host not in LOOPBACK and not args.insecure:
        raise ServeError(
            f"--listen {args.listen}: a non-loopback address needs TLS (--tls-cert, --tls-key) so the token and "
            "calls are not sent in clear; pass --insecure to serve plaintext anyway (e.g. inside a service mesh)"
        )
    return args


def split_host(address: str) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ServeError(f"--listen {address!r}: expected HOST:PORT")
    return host


def read_token(path: str | None) -> bytes:
    token = os.environ.pop("SNAKEPIT_TOKEN", None)  # tools and their subprocesses never see it
    if path:
        try:
            with open(path, "rb") as f:
                token = f.read().decode().strip()
        except OSError as e:
            raise ServeError(f"--token-file {path}: {e.strerror}") from None
    if not token:
        raise ServeError("no token: give --token-file FILE or set SNAKEPIT_TOKEN; clients send it with every call")
    return token.encode()


def read_file(path: str, flag: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ServeError(f"{flag} {path}: {e.strerror}") from None


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
        check_thread_safe(cls)
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
    """The profile's call runner, started; ServeError if the adapter cannot be served."""
    if args.profile == "thread":
        return ThreadCalls(args)
    from .relay import DEFAULT_HEARTBEAT_TIMEOUT_S, Relay
    from .relay_worker import WorkerStartError

    timeout = args.worker_heartbeat_timeout or DEFAULT_HEARTBEAT_TIMEOUT_S
    relay = Relay(args.adapter, args.workers, args.max_message_bytes, timeout)
    try:
        relay.start()
    except WorkerStartError as e:
        raise ServeError(f"--adapter {args.adapter}: a worker process failed to start: {e}") from None
    return relay


def make_servicer(calls, sessions: Slots, drain: Drain, hello: dict):
    """The Worker service; the token was checked before any of it runs (TokenGate)."""
    from . import wire

    pid, gil, capacity = os.getpid(), gil_enabled(), hello["capacity"]

    class Servicer:
        def Session(self, request_iterator, context):
            sessions.take(context)
            session = calls.session()
            drain.open(session)
            context.add_callback(lambda: drain.close(session))
            return session.serve(request_iterator, context)

        def Heartbeat(self, request, context):
            return wire.HeartbeatReply(seq=request.seq, pid=pid, in_flight=calls.in_flight(), gil_enabled=gil,
                                     capacity=capacity, draining=drain.active)

        def Hello(self, request, context):
            return wire.HelloReply(draining=drain.active, **hello)

    return Servicer()


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
    return [(CONNECTION_CAP_OPTION, args.max_connections),
            ("grpc.max_concurrent_streams", args.max_streams_per_connection), ("grpc.so_reuseport", 0)]


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
    limit = args.max_message_bytes + FRAME_OVERHEAD
    sessions = Slots(args.max_sessions, "sessions", "--max-sessions")
    watches = Slots(args.max_watches, "health watches", "--max-watches")
    server = grpc.server(
        ThreadPoolExecutor(max_workers=sessions.size + watches.size + UNARY_THREADS, thread_name_prefix="snakepit-grpc"),
        interceptors=(TokenGate(token),),
        options=[("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit),
                 *connection_limits(args)],
    )
    register(server, make_servicer(calls, sessions, drain, hello), with_hello=True, request_deserializer=decode_client_frame)
    register_health(server, health, watches)
    try:
        port = server.add_secure_port(args.listen, credentials) if credentials else server.add_insecure_port(args.listen)
    except RuntimeError as e:
        raise ServeError(f"cannot listen on {args.listen}: {e}") from None
    if not port:
        raise ServeError(f"cannot listen on {args.listen}")
    probes = None
    if args.health_listen:
        probe_watches = Slots(args.max_watches, "health watches", "--max-watches")
        probes = grpc.server(
            ThreadPoolExecutor(max_workers=probe_watches.size + UNARY_THREADS, thread_name_prefix="snakepit-health"),
            options=[("grpc.max_send_message_length", HEALTH_MESSAGE_BYTES),
                     ("grpc.max_receive_message_length", HEALTH_MESSAGE_BYTES), *connection_limits(args)],
        )
        register_health(probes, health, probe_watches)
        if not probes.add_insecure_port(args.health_listen):
            raise ServeError(f"cannot listen on --health-listen {args.health_listen}")
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
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass
    try:
        code = serve(parse_args(argv))
    except ServeError as e:
        print(f"snakepit-bridge: {e}", file=sys.stderr, flush=True)
        code = USAGE_ERROR
    sys.stdout.flush()
    # Tool threads still running past the drain timeout must not hold the exit.
    os._exit(code)
