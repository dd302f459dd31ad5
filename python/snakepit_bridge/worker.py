"""The worker process: load the adapter, serve it, report on the control channel.

    python -m snakepit_bridge --adapter pkg.mod.Class --address unix:/abs/path.sock
        [--transport grpc|local] [--profile process|thread] [--threads N]
        [--thread-safety-checks] [--worker-id ID] [--run-id RID] [--max-message-bytes N]

`--transport local` serves the Session frames over the socket itself (lane.py) and never
imports grpcio; `grpc` serves the Worker service of proto/snakepit.proto.

Environment: SNAKEPIT_CONTROL_FD (the inherited control fd, normally 3), whose first line is
the worker's token (control.py); SNAKEPIT_WORKER_NONCE (reaper.py). Run by hand without a
control fd, the token comes from SNAKEPIT_TOKEN instead.
"""
from __future__ import annotations

import os
import sys
import types

from .control import Control, end_descendants, exit_now, guard_descendants
from .frames import PROTOCOL_VERSION
from .gil import GilWatch, gil_enabled
from .startup import DEFAULT_MAX_MESSAGE, StartupError, check_thread_safe, frame_limit, line_buffered_output, load_adapter_class, python_version

HANDLER_THREADS = 8  # Session and Heartbeat RPCs; tool threads are separate
# What an adapter class's `preload()` returned in the fork server this worker was forked from,
# by adapter spec (forkserver.py); a spawned worker runs the hook itself. And the module whose
# import there enabled the GIL on a free-threaded build, which a fork's own watch cannot see.
PRELOADED: dict = {}
PRELOAD_ENABLED_GIL: dict = {}


# The worker's options: (flag, type, default, choices, help); a switch's type is None. Node writes
# them, so a plain reading of this table serves every start; argparse, with the gettext and locale
# it loads (≈ 6 ms of a worker's start), only reads what that cannot (--help, a mistake).
_OPTIONS = (
    ("--adapter", str, None, None, "module.Class of the adapter to serve"),
    ("--address", str, None, None, "unix:/abs/path.sock or 127.0.0.1:PORT (0 = any free port)"),
    ("--transport", str, "grpc", ("grpc", "local"), None),
    ("--profile", str, "process", ("process", "thread"), None),
    ("--threads", int, 1, None, "concurrent calls in the thread profile"),
    ("--thread-safety-checks", None, False, None, None),
    ("--idle-poll-us", int, 0, None,
     "process profile, local lane: the longest to poll for the next call before sleeping, "
     "when polling has been the quicker way to wait (idlePollMicros; 0: never)"),
    ("--started-file", str, None, None, "process profile: an 8-byte file Node reads after the worker's death (started.py)"),
    ("--worker-id", str, "", None, None),
    ("--run-id", str, "", None, None),
    ("--max-message-bytes", int, DEFAULT_MAX_MESSAGE, None, "largest arguments or result of one call, in bytes (maxMessageBytes)"),
)
_REQUIRED = ("--adapter", "--address")


def _dest(flag: str) -> str:
    return flag[2:].replace("-", "_")


def _read_plainly(argv) -> types.SimpleNamespace | None:
    """`--flag value` and switches as the table says; None for anything else."""
    by_flag = {option[0]: option for option in _OPTIONS}
    values = {_dest(flag): default for flag, _kind, default, _choices, _help in _OPTIONS}
    given = set()
    i = 0
    while i < len(argv):
        option = by_flag.get(argv[i])
        if option is None:
            return None
        flag, kind, _default, choices, _help = option
        given.add(flag)
        if kind is None:
            values[_dest(flag)] = True
            i += 1
            continue
        if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
            return None  # argparse decides whether that is a value or a flag
        try:
            value = kind(argv[i + 1])
        except ValueError:
            return None
        if choices is not None and value not in choices:
            return None
        values[_dest(flag)] = value
        i += 2
    return types.SimpleNamespace(**values) if given.issuperset(_REQUIRED) else None


def _read_with_argparse(argv) -> types.SimpleNamespace:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):  # report through startup_error instead of exiting with usage
            raise StartupError(f"bad worker arguments: {message}")

    class Formatter(argparse.HelpFormatter):
        """A fixed width: the default asks shutil for the terminal's."""

        def __init__(self, prog: str) -> None:
            super().__init__(prog, width=100)

    p = Parser(prog="python -m snakepit_bridge", description="Snakepit Python worker", formatter_class=Formatter)
    for flag, kind, default, choices, text in _OPTIONS:
        if kind is None:
            p.add_argument(flag, action="store_true", help=text)
        else:
            p.add_argument(flag, type=kind, default=default, choices=choices, required=flag in _REQUIRED, help=text)
    return types.SimpleNamespace(**vars(p.parse_args(argv)))


def parse_args(argv):
    args = _read_plainly(argv) or _read_with_argparse(argv)
    if args.threads < 1:
        raise StartupError("--threads must be at least 1")
    if not 0 <= args.idle_poll_us <= 10_000:
        raise StartupError("--idle-poll-us must be between 0 and 10000")
    if args.max_message_bytes < 1:
        raise StartupError("--max-message-bytes must be at least 1")
    return args


def check_address(address: str) -> None:
    """Only a unix socket or loopback: a worker must never listen on a public interface."""
    if address.startswith("unix:"):
        path = address[len("unix:"):]
        if path.startswith("//"):
            path = path[2:]
        if not os.path.isabs(path):
            raise StartupError(f"--address {address!r}: the unix socket path must be absolute")
        return
    host = address.rsplit(":", 1)[0] if ":" in address else ""
    if host not in ("127.0.0.1", "localhost", "[::1]"):
        raise StartupError(f"--address {address!r}: only unix:/path or a loopback host (127.0.0.1, [::1], localhost) is allowed")


def preload_hook(cls):
    """The class's `preload` classmethod (or staticmethod), if it defines one."""
    for klass in cls.__mro__:
        found = klass.__dict__.get("preload")
        if found is not None:
            return getattr(cls, "preload") if isinstance(found, (classmethod, staticmethod)) else None
    return None


def make_adapter(cls, spec: str):
    """`cls()`; a class with a `preload()` hook gets what it returned as `preloaded=`: from the fork
    server this worker was forked from, or run here by a spawned worker."""
    hook = preload_hook(cls)
    if hook is None:
        return cls()
    return cls(preloaded=PRELOADED[spec] if spec in PRELOADED else hook())


def serve(args, control: Control, token: bytes):
    """Start serving; returns the started server once `ready` is sent."""
    from .adapter import discover_tools
    from .runner import CallRunner
    from .session import InFlight

    check_address(args.address)
    if args.transport == "local" and not args.address.startswith("unix:"):
        raise StartupError(f"--address {args.address!r}: the local transport listens on a unix socket only")
    with GilWatch() as gil_watch:
        cls = load_adapter_class(args.adapter)
        if args.profile == "thread":
            check_thread_safe(cls, "workerProfile 'process'")
        adapter = make_adapter(cls, args.adapter)
    tools = discover_tools(adapter)

    checker = None
    if args.thread_safety_checks:
        from .safety import SafetyChecker

        checker = SafetyChecker(control.send)
    runner = CallRunner(tools, checker, args.max_message_bytes)
    in_flight = InFlight()
    if args.transport == "local":
        server, address = serve_lane(args, token, runner, in_flight)
    else:
        pool = None
        if args.profile == "thread":
            from concurrent.futures import ThreadPoolExecutor  # not for the process profile: ~10 ms at start

            pool = ThreadPoolExecutor(max_workers=args.threads, thread_name_prefix="snakepit-tool")
        server, address = serve_grpc(args, token, runner, pool, in_flight)

    control.send({
        "type": "ready",
        "protocol": PROTOCOL_VERSION,
        "pid": os.getpid(),
        "address": address,
        "python": python_version(),
        "gil_enabled": gil_enabled(),
        "profile": args.profile,
        "threads": args.threads if args.profile == "thread" else 1,
        "tools": list(tools),
        "worker_id": args.worker_id,
        "run_id": args.run_id,
    })
    gil_module = gil_watch.module or PRELOAD_ENABLED_GIL.get(args.adapter)
    if gil_module is not None and args.profile == "thread":
        control.send(gil_warning(args, gil_module))
    from .warnonce import install

    install()  # after ready: importing `warnings` would cost every start
    return server


def gil_warning(args, module: str) -> dict:
    """The thread_safety_warning of a thread worker whose adapter's import enabled the GIL."""
    return {
        "type": "thread_safety_warning", "kind": "gil_enabled", "library": module, "tool": None, "thread_ids": [],
        "message": (
            f"importing adapter {args.adapter} loaded {module}, which has not declared that it can run without "
            f"the GIL, so Python enabled the GIL: this worker's {args.threads} threads run Python one at a time. "
            f"Use a build of {module} with free-threading support, or workerProfile 'process' "
            "(PYTHON_GIL=0 keeps the GIL off at your own risk)"
        ),
    }


def serve_lane(args, token: bytes, runner, in_flight):
    from . import frames
    from .lane import LaneProcessSession, LaneServer
    from .started import started_calls

    pid, gil = os.getpid(), gil_enabled()
    pong = lambda seq: frames.pong(seq, pid, in_flight.value, gil)  # noqa: E731
    if args.profile == "thread":
        from .lanethreads import LaneThreadSession

        make_session = lambda fs: LaneThreadSession(fs, runner, args.threads, in_flight, pong)  # noqa: E731
    else:
        started = started_calls(args.started_file)
        make_session = lambda fs: LaneProcessSession(fs, runner, in_flight, pong, args.idle_poll_us / 1e6, started)  # noqa: E731
    path = args.address[len("unix:"):]
    if path.startswith("//"):
        path = path[2:]
    try:
        server = LaneServer(path, token, frame_limit(args.max_message_bytes), make_session)
    except OSError as e:
        raise StartupError(f"cannot listen on --address {args.address}: {e}") from None
    return server, args.address


def serve_grpc(args, token: bytes, runner, pool, in_flight):
    from concurrent.futures import ThreadPoolExecutor

    # Imported here, grpc with it, so a missing grpcio is reported as a startup_error.
    from .grpcserver import add_worker_service, listen, new_server
    from .grpcsession import ThreadSession
    from .started import Unrecorded, started_calls

    # The process profile runs its calls on one thread, one at a time in the order sent.
    calls = pool or ThreadPoolExecutor(max_workers=1, thread_name_prefix="snakepit-tool")
    started = started_calls(args.started_file) if pool is None else Unrecorded()

    server = new_server(HANDLER_THREADS, "snakepit-grpc", frame_limit(args.max_message_bytes), token)
    add_worker_service(server, lambda _context: ThreadSession(runner, calls, in_flight, started=started),
                       lambda: {"in_flight": max(in_flight.value, 0)})
    port = listen(server, "--address", args.address)
    address = args.address
    if not address.startswith("unix:") and address.endswith(":0"):
        address = f"{address[:-2]}:{port}"
    server.start()
    return server, address


def main(argv=None) -> None:
    if argv is None and sys.argv[1:2] == ["--fork-server"]:  # a pool's preloading fork server
        from .forkserver import main as serve_forks

        return serve_forks(sys.argv[2:])
    line_buffered_output()  # Node sees each log line as it is written
    control = Control.from_env()
    by_hand = os.environ.pop("SNAKEPIT_TOKEN", None)  # tools and their subprocesses never see it
    try:
        guard_descendants()  # first: its watchdog is a fork of this process, made before the token is read
        token = control.read_token() if control.fd is not None else by_hand
        # Before gRPC loads: with its fork handlers on, a tool's forked child (os.fork,
        # multiprocessing "fork") can die of SIGSEGV while it runs.
        os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
        control.watch_parent()
        args = parse_args(sys.argv[1:] if argv is None else argv)
        if not token:
            raise StartupError("no token: the parent sends it as the first line on the control fd "
                               "(SNAKEPIT_TOKEN when run by hand); the worker refuses to serve without one")
        server = serve(args, control, token.encode())
    except KeyboardInterrupt:
        exit_now(130)
    except BaseException as e:  # noqa: BLE001 - anything before ready is a startup_error
        if isinstance(e, SystemExit) and e.code in (0, None) and {"-h", "--help"} & set(sys.argv):
            raise  # --help printed usage
        import traceback

        tb = "" if isinstance(e, StartupError) else traceback.format_exc()
        error_type = "StartupError" if isinstance(e, StartupError) else type(e).__name__
        message = str(e) if not isinstance(e, SystemExit) else f"the adapter called sys.exit({e.code!r}) during startup"
        print(f"snakepit worker failed to start: {error_type}: {message}", file=sys.stderr)
        if tb:
            print(tb, file=sys.stderr, end="")
        control.send({"type": "startup_error", "error_type": error_type, "message": message, "traceback": tb})
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            exit_now(1)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(0)
    # Ended here, before Python's exit joins tool threads and runs atexit handlers, multiprocessing's
    # join of its children among them: Python 3.8 has no hook that runs before those (control.py).
    end_descendants()
