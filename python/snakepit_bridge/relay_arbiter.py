"""The process profile of a bridge server: N one-call worker processes behind one port, and the
arbiter that keeps them.

`serve --profile process --workers N` starts N ordinary local-lane workers (`python -m
snakepit_bridge --transport local --profile process`, as Node starts them on one machine,
relay_worker.py) and relays: every call from any client's Session (relay_session.py) waits in
one FIFO queue until a worker is free, runs there alone, and its replies go back to the Session
that sent it (relay_queue.py). A worker that dies fails the call it ran (WORKER_CRASHED) and is
started again; so does one that stops answering pings (frozen, or stuck in native code without
releasing the GIL) for longer than the heartbeat timeout. The workers end with the server (they
watch its control socket, as they watch Node's).
"""
from __future__ import annotations

import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from . import wire
from .relay_queue import CallQueue
from .relay_session import RelaySession
from .relay_worker import Worker, kill_group
from .runner import error_reply

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

# The waits before each restart of a worker that died. One whose restarts all fail in a row
# cannot boot (its adapter's import or __init__ keeps failing): the arbiter halts, and the server
# fails its health and exits WORKER_BOOT_ERROR (serve.py) instead of retrying forever.
RESTART_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 4.0)
PING_INTERVAL_S = 1.0
DEFAULT_HEARTBEAT_TIMEOUT_S = 10.0


class Arbiter:
    """Starts the workers, pings them, starts again one that dies or goes silent, halts when one
    cannot boot, and ends them all with the server. Their calls go through `calls`."""

    profile = "process"

    def __init__(self, adapter: str, workers: int, max_message: int, heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT_S):
        self.adapter = adapter
        self.max_message = max_message
        self.heartbeat_timeout = heartbeat_timeout
        self.socket_dir = tempfile.mkdtemp(prefix="snakepit-relay-")
        self.calls = CallQueue()
        self.workers = [Worker(self, self.calls, i + 1) for i in range(workers)]
        self.stopping = False
        self.tools: list[str] = []
        # Restarts happen on this one long-lived thread: Linux sends a worker its parent-death
        # signal when the *thread* that spawned it ends, so a short-lived thread would kill it.
        self._restarts: queue.SimpleQueue = queue.SimpleQueue()
        self.on_change: Callable[[], None] = lambda: None  # a worker went or came (readiness)
        self.halted: str | None = None  # why the server must stop: a worker that cannot boot
        self.on_halt: Callable[[], None] = lambda: None

    @property
    def capacity(self) -> int:
        return len(self.workers)

    def start(self) -> None:
        """Starts every worker at once and waits for all; WorkerStartError if one fails."""
        try:
            for worker in self.workers:
                worker.spawn()
            for worker in self.workers:
                worker.connect()
                self.calls.add_worker(worker)
        except BaseException:
            self.stop()
            raise
        self.tools = self.workers[0].tools
        threading.Thread(target=self._restarter, name="snakepit-relay-restarts", daemon=True).start()
        threading.Thread(target=self._heartbeats, name="snakepit-relay-heartbeats", daemon=True).start()

    def session(self) -> RelaySession:
        return RelaySession(self.calls, self.max_message)

    def can_serve(self) -> bool:
        """A worker process is up: calls can run now or once one frees."""
        return any(worker.fs is not None for worker in self.workers)

    def in_flight(self) -> int:
        return self.calls.in_flight()

    def worker_gone(self, worker: Worker) -> None:
        """A worker's connection ended: its call fails, and it is started again."""
        job = self.calls.worker_gone(worker)
        stopping = self.stopping
        status = worker.end()
        if job is not None:
            job.session.finish(error_reply(
                job.node_id, "WORKER_CRASHED", "WorkerCrashed",
                f"the worker process running this call on the bridge server died (status {status}); "
                "retry the call if it is safe to repeat"))
        self.on_change()
        if not stopping:
            self._restarts.put(worker)

    def _restarter(self) -> None:
        while not self.stopping:
            worker = self._restarts.get()
            if not self._restart(worker) and not self.stopping:
                self.halted = f"worker {worker.index} failed to boot {len(RESTART_DELAYS_S)} times in a row"
                print(f"snakepit-bridge: {self.halted}; stopping", file=sys.stderr, flush=True)
                self.calls.close()
                self.on_halt()
                return

    def _restart(self, worker: Worker) -> bool:
        """Starts a worker again, after each of RESTART_DELAYS_S until one start succeeds."""
        for delay in RESTART_DELAYS_S:
            time.sleep(delay)
            if self.stopping:
                return True
            try:
                worker.spawn()
                worker.connect()
            except Exception as e:  # noqa: BLE001 - try again after the next delay
                print(f"snakepit-bridge: restarting worker {worker.index} failed: {e}", file=sys.stderr, flush=True)
                worker.end()
                continue
            self.calls.add_worker(worker)
            self.on_change()
            self.calls.pump()
            return True
        return False

    def _heartbeats(self) -> None:
        """Pings every connected worker; one silent past the timeout is killed (its reader then
        fails its call and the restarter starts it again)."""
        seq = 0
        while not self.stopping:
            time.sleep(PING_INTERVAL_S)
            seq += 1
            for worker in self.workers:
                if worker.fs is None:
                    continue
                silent = time.monotonic() - worker.last_pong
                if silent > self.heartbeat_timeout:
                    print(f"snakepit-bridge: worker {worker.index} (pid {worker.proc.pid}) answered no ping for {silent:.1f} s; "
                          "killing it", file=sys.stderr, flush=True)
                    kill_group(worker.proc)
                else:
                    worker.send(wire.ClientFrame(pings=[seq]))

    def stop(self) -> None:
        """Ends every worker (each takes its process group with it when its control socket closes)."""
        self.stopping = True
        for worker in self.workers:
            if worker.link is not None:
                worker.link.close()
        for worker in self.workers:
            if worker.proc is not None:
                try:
                    worker.proc.wait(5)
                except subprocess.TimeoutExpired:
                    worker.proc.kill()
                    worker.proc.wait()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
