"""A pool's preloading fork server (pool option `preload`).

    python -c <WORKER_MAIN> --fork-server --adapter pkg.mod.Class --transport T --run-id RID

It imports the adapter's module once, runs the class's `preload()` hook if it has one, and then
forks each of the pool's workers from itself: what the import loaded (a model) is shared with
every worker copy-on-write, and a worker's start skips the import. The command line is a
worker's (WORKER_MAIN, `--run-id`), and so is every fork's: the run registry finds them all.

Only a process with one thread forks safely: a fork keeps just the forking thread, and locks
the others held stay locked in the child forever. So the server refuses, and exits, if the
import left another thread running (OpenMP, PyTorch's pools, a gRPC channel, a timer): Node
then spawns the pool's workers as usual.

Its control fd (SNAKEPIT_CONTROL_FD, a pipe from Node) carries one JSON object a line:
  Node → server:  {"type": "fork", "key": K, "link": PATH, "argv": [worker arguments]}
  server → Node:  {"type": "preloaded", "pid": N}            ready to fork
                  {"type": "refused", "message": M}           threads at import: no forks
                  {"type": "startup_error", ...}              the module does not load
                  {"type": "forked", "key": K, "pid": N}
                  {"type": "exited", "pid": N, "exit_code": C, "signal": S}
A fork connects to Node's link socket at PATH three times (its control channel, stdout and
stderr), each connection opening with the line `K control|stdout|stderr`; from there on it is
the worker of worker.py's main(), token, watchdog and all. End-of-file on the control fd (Node
is gone) ends the server and the forks it still has.
"""
from __future__ import annotations

import collections
import ctypes  # imported once here, not by every fork (make_environ_unique)
import gc
import json
import os
import select
import socket
import sys
import threading
import time

import _signal as signal

from . import control, reaper, worker

LINK_STREAMS = ("control", "stdout", "stderr")


class Refused(Exception):
    """The server cannot fork safely: the message says why and what to change."""


def main(argv: list[str]) -> None:
    ctl = control.Control.from_env()
    if ctl.fd is None:
        raise SystemExit("snakepit fork server: no control fd (it is started by Node only)")
    try:
        spec = _option(argv, "--adapter")
        _load(spec, _option(argv, "--transport"))
        check_one_thread(spec)
    except Refused as e:
        ctl.send({"type": "refused", "message": str(e)})
        os._exit(1)
    except BaseException as e:  # noqa: BLE001 - reported as the spawned worker would
        import traceback

        ctl.send({"type": "startup_error", "error_type": type(e).__name__, "message": str(e), "traceback": traceback.format_exc()})
        os._exit(1)
    ForkServer(ctl, spec).serve()


def _option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def _load(spec: str, transport: str) -> None:
    """Everything a forked worker would import before it is ready, and the adapter's shared state."""
    from . import adapter, runner, session  # noqa: F401
    if transport == "local":
        from . import frames, lane, lanethreads, started  # noqa: F401
    else:
        import concurrent.futures  # noqa: F401

        os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")  # as worker.main() does before gRPC loads
        import grpc  # noqa: F401

        from . import grpcserver, grpcsession, started, wire  # noqa: F401
    from .gil import GilWatch

    with GilWatch() as gil_watch:  # as a spawned worker watches its import (worker.serve)
        cls = worker.load_adapter_class(spec)
        hook = worker.preload_hook(cls)
        if hook is not None:
            worker.PRELOADED[spec] = hook()
    if gil_watch.module is not None:
        worker.PRELOAD_ENABLED_GIL[spec] = gil_watch.module


def other_threads() -> list[str]:
    """Threads of this process besides the main one: Python's by name, the OS's by comm."""
    main = threading.main_thread()
    names = [t.name for t in threading.enumerate() if t is not main]
    me = str(os.getpid())
    try:
        tasks = [tid for tid in os.listdir("/proc/self/task") if tid != me]
    except OSError:
        tasks = []
    if len(tasks) > len(names):  # threads native code started, which Python does not know of
        for tid in tasks[: len(tasks) - len(names)]:
            try:
                with open(f"/proc/self/task/{tid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            names.append(f"{comm} (native)")
    return names


# A thread that has just ended can stay in /proc/self/task a moment after join() returns (on
# Python 3.8/3.9 join returns before the OS thread is gone): looked at again before refusing.
SETTLE_S = 0.2


def check_one_thread(spec: str) -> None:
    threads = other_threads()
    settle_by = time.monotonic() + SETTLE_S
    while threads and time.monotonic() < settle_by:
        time.sleep(0.005)
        threads = other_threads()
    if threads:
        raise Refused(
            f"preload: importing adapter {spec} left {len(threads)} other thread(s) running "
            f"({', '.join(threads[:8])}), and a process with threads cannot fork safely. Start threads in the "
            "adapter's __init__ (it runs in each worker, after the fork) rather than at import or in preload(); "
            "native pools (OpenMP, OpenBLAS, MKL) start none at import with OMP_NUM_THREADS, OPENBLAS_NUM_THREADS "
            "and MKL_NUM_THREADS at 1 in the pool's adapterEnv (the process profile's default); or set preload: false. "
            "The pool spawns its workers without preloading."
        )


class ForkServer:
    def __init__(self, ctl: control.Control, spec: str):
        self.ctl = ctl
        self.spec = spec
        self.forks: set[int] = set()
        # Requests read and not yet handled, and the start of the next: another fork's key lets
        # whoever holds it take that fork's links (and its token), so a fork drops them first.
        self.requests: collections.deque[dict] = collections.deque()
        self.unread = b""
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
            os.set_inheritable(fd, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake select() through wake_w
        signal.signal(signal.SIGTERM, self._end)
        # What the import made lives as long as the server: kept out of every collection, so
        # that no fork writes to those pages merely by counting references (gc.freeze()).
        gc.freeze()

    def serve(self) -> None:
        self.ctl.send({"type": "preloaded", "pid": os.getpid()})
        while True:
            try:
                ready, _, _ = select.select([self.ctl.fd, self.wake_r], [], [])
            except InterruptedError:
                continue
            if self.wake_r in ready:
                self._drain_wake()
                self._reap()
            if self.ctl.fd in ready:
                self._read_requests()
                while self.requests:
                    self._handle(self.requests.popleft())

    def _read_requests(self) -> None:
        """Reads what Node sent into `requests`: no local of the frames a fork is made in holds one."""
        chunk = os.read(self.ctl.fd, 65536)
        if not chunk:
            self._end()
        *lines, self.unread = (self.unread + chunk).split(b"\n")
        self.requests.extend(json.loads(line) for line in lines)

    def _drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while self.forks:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.forks.discard(pid)
            signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            self.ctl.send({"type": "exited", "pid": pid, "exit_code": code, "signal": signum})

    def _handle(self, request: dict) -> None:
        if request.get("type") != "fork":
            return
        try:
            check_one_thread(self.spec)  # nothing of ours starts one; a stray library might
        except Refused as e:
            # No more forks from here; those made serve on, linked to Node, not to us.
            self.ctl.send({"type": "refused", "message": str(e)})
            os._exit(1)
        gc.freeze()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # or the child would write our buffered output again
        pid = os.fork()
        if pid == 0:
            self._become_worker(request)
        self.forks.add(pid)
        self.ctl.send({"type": "forked", "key": request["key"], "pid": pid})

    def _become_worker(self, request: dict) -> None:
        """The forked child's whole life: it never returns to the server's loop."""
        code = 1
        self.requests.clear()
        self.unread = b""
        try:
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            for fd in (self.ctl.fd, self.wake_r, self.wake_w):
                os.close(fd)
            os.setsid()  # its own process group, as a spawned worker's: Node signals the group
            make_environ_unique()
            links = [connect_link(request["link"], request["key"], stream) for stream in LINK_STREAMS]
            for fd, std in ((links[1], 1), (links[2], 2)):
                os.dup2(fd, std)
                os.close(fd)
            os.environ["SNAKEPIT_CONTROL_FD"] = str(links[0])
            control.forked_by_fork_server()
            sys.argv[1:] = request["argv"]
            worker.main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001 - the child must never return into the server
            import traceback

            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def _end(self, *_args) -> None:
        """Node is gone or asked us to go: the forks go first (a stopped one hears nothing), then
        our own group, with what the import or preload() started and a fork not yet in its own."""
        for pid in self.forks:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.killpg(0, signal.SIGKILL)
        finally:
            os._exit(0)


def connect_link(path: str, key: str, stream: str) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    sock.sendall(f"{key} {stream}\n".encode())
    if stream != "control":
        sock.shutdown(socket.SHUT_RD)
    return sock.detach()


def make_environ_unique() -> None:
    """Gives this fork its own nonce in the environment block /proc/<pid>/environ shows.

    Every fork starts with the server's block, and a worker's watchdog ends the processes that
    share its worker's block (reaper.py): without a nonce of its own, a worker's death would
    take its siblings along. The block's bytes are rewritten where the kernel reads them.
    """
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    env_start = int(fields[47])  # env_start: field 50 of stat
    with open("/proc/self/environ", "rb") as f:
        block = f.read()
    entries = b"\0" + block  # so that the first entry, too, follows a NUL
    at = entries.find(b"\0" + reaper.NONCE_IN_ENV)
    if at < 0:
        raise RuntimeError(f"the fork server's environment has no {reaper.NONCE_ENV}")
    start = at + len(reaper.NONCE_IN_ENV)  # in `block`: the NUL put in front and the one found cancel out
    old = block[start:block.index(b"\0", start)]
    new = os.urandom(len(old) // 2 + 1).hex()[: len(old)].encode()
    ctypes.memmove(env_start + start, new, len(new))
    with open("/proc/self/environ", "rb") as f:
        if f.read()[start:start + len(new)] != new:
            raise RuntimeError("could not give this worker's environment block its own nonce")
