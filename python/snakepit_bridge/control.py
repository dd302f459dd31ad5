"""The control channel: an inherited fd shared with the Node parent.

The worker reports JSON lines here (ready, startup_error, thread-safety warnings) instead of
on stdout, so nothing a tool prints can be mistaken for the handshake. The same fd tells us
when the parent is gone: reading it returns EOF the moment the parent dies, even by SIGKILL.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any


class Control:
    def __init__(self, fd: int | None):
        self.fd = fd
        self._lock = threading.Lock()  # lines from several threads must not interleave
        if fd is not None:
            os.set_inheritable(fd, False)  # tools' subprocesses must not hold the parent link open

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

    def send(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg, separators=(",", ":"), default=str) + "\n").encode()
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


def _die_with_group() -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    try:
        # Node spawns workers detached (own process group): killing the group also takes
        # down anything a tool started, so no grandchild outlives the pool.
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    except OSError:
        pass
    os._exit(1)


def _set_parent_death_signal() -> None:
    # A second line of defence on Linux: the kernel signals us when the parent dies. SIGHUP,
    # not SIGKILL: its handler takes the whole process group down, as the EOF watcher does,
    # whereas a bare SIGKILL of the leader would leave the tools' children running.
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        signal.signal(signal.SIGHUP, lambda *_: _die_with_group())
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGHUP, 0, 0, 0)
    except Exception:
        pass
