"""The control channel: an inherited fd shared with the Node parent.

The worker reports JSON lines here (ready, startup_error, thread-safety warnings) instead of
on stdout, so nothing a tool prints can be mistaken for the handshake. The same fd tells us
when the parent is gone: reading it returns EOF the moment the parent dies, even by SIGKILL.
The parent's first line on it is the worker's token: passed so, it is in no environment
(`/proc/<pid>/environ` keeps the one a process started with, whatever os.environ says later).

This module also holds how the worker ends: whichever way it goes (SIGTERM, its parent's
death, an exit of ours, a normal return), every process it started goes first
(guard_descendants, reaper.py). A forked child is not the worker: it gets default signal
handling back and none of the worker's links.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
import time

import _signal as signal  # as in reaper.py: `signal` builds enums, milliseconds of every start

from . import reaper
from .codec import line_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ADOPTED_REAP_INTERVAL_S = 2.0
TOKEN_LINE_BYTES = 4096

_worker_pid: int | None = None  # set by guard_descendants(); a forked child is never the worker
_watchdog: int | None = None  # the pid of the reaper's watchdog, spared by our own sweeps
_child_must_close: list[int] = []  # fds a forked child must not hold: the parent link, the watchdog pipe
_parent_is_node = True  # false in a worker forked by a pool's fork server (forkserver.py)


class Control:
    def __init__(self, fd: int | None):
        self.fd = fd
        self._lock = threading.Lock()  # lines from several threads must not interleave
        if fd is not None:
            os.set_inheritable(fd, False)  # tools' subprocesses must not hold the parent link open
            _child_must_close.append(fd)  # nor may a forked child (os.fork keeps every fd)

    @classmethod
    def from_env(cls) -> "Control":
        raw = os.environ.pop("SNAKEPIT_CONTROL_FD", None)
        if not raw:
            return cls(None)
        try:
            fd = int(raw)
            os.fstat(fd)
        except (ValueError, OSError) as e:
            print(f"snakepit: SNAKEPIT_CONTROL_FD={raw!r} is not an open fd ({e}); control lines go to stderr", file=sys.stderr)
            return cls(None)
        return cls(fd)

    def read_token(self) -> str | None:
        """The first line the parent writes on the channel; None if it closes it first."""
        line = b""
        while self.fd is not None and b"\n" not in line and len(line) < TOKEN_LINE_BYTES:
            try:
                chunk = os.read(self.fd, TOKEN_LINE_BYTES - len(line))
            except InterruptedError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            line += chunk
        return line.split(b"\n", 1)[0].decode(errors="replace").strip() or None

    def send(self, msg: dict[str, Any]) -> None:
        data = (line_text(msg) + "\n").encode()
        with self._lock:
            if self.fd is None:
                # Run by hand without a parent: show the lines on stderr.
                sys.stderr.write("snakepit-control " + data.decode())
                sys.stderr.flush()
                return
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.fd, view)
                except InterruptedError:
                    continue
                except OSError:
                    return  # parent gone; the watcher thread handles that
                view = view[n:]

    def watch_parent(self) -> None:
        """Exit (with our whole process group) once the parent closes the channel or dies."""
        _set_parent_death_signal()
        if self.fd is None:
            return
        threading.Thread(target=self._watch, name="snakepit-parent-watch", daemon=True).start()

    def _watch(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 4096)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                break
            # The parent sends nothing we act on yet; reading keeps EOF detection working.
        _die_with_group()


def _flush() -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass


def _die_with_group() -> None:
    end_descendants()
    _flush()
    try:
        # Node spawns workers detached (own process group): killing the group also takes
        # down anything a tool started, so no grandchild outlives the pool.
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    except OSError:
        pass
    os._exit(1)


def forked_by_fork_server() -> None:
    """This process is a worker forked by a pool's fork server: its parent is that server, whose
    death it outlives (Node's ends it through the control channel), and the server's fds are not its own."""
    global _parent_is_node
    _parent_is_node = False
    _child_must_close.clear()


def _on_parent_death(_signum, _frame) -> None:
    _die_with_group()


def _set_parent_death_signal() -> None:
    # A second line of defence on Linux: the kernel signals us when the parent dies. SIGHUP,
    # not SIGKILL: its handler takes the whole process group down, as the EOF watcher does,
    # whereas a bare SIGKILL of the leader would leave the tools' children running.
    if not sys.platform.startswith("linux") or not _parent_is_node:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        signal.signal(signal.SIGHUP, _on_parent_death)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGHUP, 0, 0, 0)
    except Exception:
        pass


# -- the worker's descendants ---------------------------------------------------------------
def guard_descendants() -> None:
    """Nothing this worker starts may outlive it. Call first in main(), before any tool code.

    - the worker becomes a child subreaper, so orphaned grandchildren stay its descendants;
    - every exec'd descendant inherits a mark in its environment, and a watchdog outside the
      process group ends the marked ones if the worker dies without running our code (SIGKILL);
    - SIGTERM, the parent's death, exit_now() and a normal interpreter exit end all
      descendants before the worker goes;
    - orphans it adopts are reaped once they die, so they do not pile up as zombies.
    """
    global _worker_pid, _watchdog
    if _worker_pid == os.getpid():
        return
    _worker_pid = os.getpid()
    adopts_orphans = reaper.become_subreaper()
    os.environ.pop(reaper.NONCE_ENV, None)  # it makes our own environment block unique, not our children's
    os.environ[reaper.MARK_ENV] = os.urandom(16).hex()  # not `secrets`: it costs a worker's start ≈ 2 ms
    started = reaper.start_watchdog(os.environ[reaper.MARK_ENV], fresh=not _parent_is_node)
    if started is not None:
        _watchdog, pipe_fd = started
        _child_must_close.append(pipe_fd)
    os.register_at_fork(after_in_child=_forked_child_is_not_the_worker)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Before Python waits for tool threads at exit: ending their children often unblocks them.
    register_thread_atexit = getattr(threading, "_register_atexit", None)
    if register_thread_atexit is not None:
        register_thread_atexit(end_descendants)
    atexit.register(end_descendants)
    if adopts_orphans:
        threading.Thread(target=_reap_adopted_orphans, name="snakepit-orphan-reaper", daemon=True).start()


def end_descendants() -> int:
    """Kills every process the worker started; returns how many. A no-op outside the worker."""
    if _worker_pid is None or os.getpid() != _worker_pid:
        return 0
    spare = frozenset({_watchdog}) if _watchdog is not None else frozenset()
    try:
        return reaper.descendants_of_self(spare)
    except Exception as e:  # ending must go on: the watchdog is still there behind us
        print(f"snakepit worker: could not end all descendants: {e!r}", file=sys.stderr)
        return 0


def exit_now(code: int) -> None:
    """os._exit, after ending every descendant."""
    end_descendants()
    _flush()
    os._exit(code)


def _on_sigterm(_signum, _frame) -> None:
    end_descendants()
    _flush()
    # Die by SIGTERM itself, as without this handler: the parent sees the same exit.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1)  # the signal ends us before this returns; the exit below is a last resort
    os._exit(128 + signal.SIGTERM)


def _forked_child_is_not_the_worker() -> None:
    global _worker_pid, _watchdog
    _worker_pid = None
    _watchdog = None
    for signum, handler in ((signal.SIGTERM, _on_sigterm), (signal.SIGHUP, _on_parent_death)):
        if signal.getsignal(signum) is handler:
            signal.signal(signum, signal.SIG_DFL)
    for fd in _child_must_close:
        try:
            os.close(fd)
        except OSError:
            pass
    _child_must_close.clear()


def _reap_adopted_orphans() -> None:
    claimed: set[tuple[int, int]] = set()
    while True:
        time.sleep(ADOPTED_REAP_INTERVAL_S)
        try:
            reaper.reap_adopted_orphans(claimed)
        except Exception:
            pass  # a failed pass leaves zombies for the next one
