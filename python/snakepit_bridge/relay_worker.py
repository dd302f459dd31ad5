"""One worker process of a process-profile bridge server, and the relay's connection to it: an
ordinary local-lane worker, started by the arbiter (relay_arbiter.py) with its own token and
control socket as Node starts one, whose frames go to the relay's CallQueue (relay_queue.py)."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time

from . import wire
from .framesocket import FrameSocket
from .reaper import NONCE_ENV
from .startup import frame_limit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .relay_arbiter import Arbiter
    from .relay_queue import CallQueue, Job

READY_TIMEOUT_S = 60.0


class WorkerStartError(Exception):
    """A relay worker that could not start (the adapter's error, from its startup_error line)."""


class Worker:
    """One local-lane worker process and the relay's connection to it."""

    def __init__(self, arbiter: Arbiter, calls: CallQueue, index: int):
        self.arbiter = arbiter
        self.calls = calls
        self.index = index
        self.proc: subprocess.Popen | None = None
        self.link: socket.socket | None = None  # its control socket: open while the server lives
        self.fs: FrameSocket | None = None
        self.next_id = 1
        self.job: Job | None = None
        self.tools: list[str] = []
        self._token = ""
        self.last_pong = 0.0  # monotonic; pings are answered by a thread a running call never holds

    @property
    def address(self) -> str:
        return f"{self.arbiter.socket_dir}/w{self.index}.sock"

    def spawn(self) -> None:
        arbiter = self.arbiter
        if self.link is not None:
            self.link.close()
        self._token = secrets.token_hex(16)
        ours, theirs = socket.socketpair()
        # The token goes down the control socket, never into the worker's environment.
        env = {**os.environ, "SNAKEPIT_CONTROL_FD": str(theirs.fileno()), NONCE_ENV: secrets.token_hex(8)}
        argv = [sys.executable, "-m", "snakepit_bridge", "--adapter", arbiter.adapter, "--address", f"unix:{self.address}",
                "--transport", "local", "--profile", "process", "--worker-id", f"relay-{self.index}",
                "--max-message-bytes", str(arbiter.max_message)]
        # No preexec_fn: Python code between fork and exec can deadlock while grpc threads run.
        self.proc = subprocess.Popen(argv, env=env, pass_fds=(theirs.fileno(),), start_new_session=True)
        theirs.close()
        self.link = ours
        try:
            ours.sendall(self._token.encode() + b"\n")
        except OSError:
            pass  # it died at once: connect() reports how

    def connect(self) -> None:
        """Waits for the worker's `ready` line, then connects and starts reading its frames."""
        ready = _await_ready(self.link, self.proc)
        self.tools = list(ready.get("tools", []))
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.address)
        # A worker frame may carry a reply as large as a call's arguments, plus its envelope.
        fs = FrameSocket(conn, frame_limit(self.arbiter.max_message))
        fs.write(wire.ClientFrame(token=self._token.encode()).SerializeToString())
        self.last_pong = time.monotonic()
        self.fs = fs
        threading.Thread(target=self._read, args=(fs,), name=f"snakepit-relay-{self.index}", daemon=True).start()

    def send(self, frame) -> None:
        fs = self.fs
        if fs is None:
            return
        try:
            fs.write(frame.SerializeToString())
        except Exception:  # noqa: BLE001 - a dead worker: its reader reports it
            pass

    def _read(self, fs: FrameSocket) -> None:
        while True:
            try:
                raw = fs.read()
                frame = None if raw is None else wire.ServerFrame.FromString(raw)
            except Exception:  # noqa: BLE001 - a worker that sends garbage is ended
                frame = None
            if frame is None:
                break
            if frame.pongs:
                self.last_pong = time.monotonic()
            self.calls.from_worker(self, frame)
        fs.sock.close()
        self.arbiter.worker_gone(self)

    def end(self) -> int:
        """Kills the process if it still runs; its exit status."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()


def _await_ready(link: socket.socket, proc: subprocess.Popen) -> dict:
    """The worker's `ready` line on its control socket; WorkerStartError if it failed to start."""
    link.settimeout(READY_TIMEOUT_S)
    buf = b""
    try:
        while True:
            try:
                data = link.recv(65536)
            except socket.timeout:
                proc.kill()
                raise WorkerStartError(f"a worker did not start within {READY_TIMEOUT_S:.0f} s") from None
            if not data:
                raise WorkerStartError(f"a worker exited during start-up (status {proc.wait()})")
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                message = json.loads(line)
                if message.get("type") == "ready":
                    return message
                if message.get("type") == "startup_error":
                    raise WorkerStartError(f"{message.get('error_type')}: {message.get('message')}")
    finally:
        link.settimeout(None)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL to the worker's process group (it leads one), so what its tools started goes too."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
