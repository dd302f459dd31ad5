"""The process profile of a bridge server: N one-call worker processes behind one port.

`serve --profile process --workers N` starts N ordinary local-lane workers (`python -m
snakepit_bridge --transport local --profile process`, as Node starts them on one machine) and
relays: every call from any client's Session waits in one FIFO queue until a worker is free,
runs there alone, and its replies, progress, chunks and calls into Node go back to the Session
that sent it, under that Session's own call id. Cancels, stream credits and Node's answers to
host calls follow the call to its worker. A worker that dies fails the call it ran
(WORKER_CRASHED) and is started again; so does one that stops answering pings (frozen, or
stuck in native code without releasing the GIL) for longer than the heartbeat timeout. The
workers end with the server (they watch its control socket, as they watch Node's).
"""
from __future__ import annotations

import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque

from . import frames
from . import wire
from .runner import error_reply
from .parts import PartialCalls
from .relay_worker import Worker, kill_group
from .grpcsession import DONE, StreamSession

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

# The waits before each restart of a worker that died. One whose restarts all fail in a row
# cannot boot (its adapter's import or __init__ keeps failing): the relay halts, and the server
# fails its health and exits WORKER_BOOT_ERROR (serve.py) instead of retrying forever.
RESTART_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 4.0)
PING_INTERVAL_S = 1.0
DEFAULT_HEARTBEAT_TIMEOUT_S = 10.0
FINAL = ("result", "error", "end")


class Job:
    """One call from a Session: waiting in the queue, then running on a worker."""

    __slots__ = ("session", "node_id", "call", "args", "deadline", "worker", "worker_id")

    def __init__(self, session: "RelaySession", call, args, deadline: float | None):
        self.session = session
        self.node_id = call.id
        self.call = call
        self.args = args
        self.deadline = deadline
        self.worker: Worker | None = None
        self.worker_id = 0


class Relay:
    """The workers, the queue of calls waiting for one, and the calls running on them."""

    profile = "process"

    def __init__(self, adapter: str, workers: int, max_message: int, heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT_S):
        self.adapter = adapter
        self.max_message = max_message
        self.heartbeat_timeout = heartbeat_timeout
        self.socket_dir = tempfile.mkdtemp(prefix="snakepit-relay-")
        self.lock = threading.Lock()
        self.queue: deque[Job] = deque()
        self.workers = [Worker(self, i + 1) for i in range(workers)]
        self.idle: deque[Worker] = deque()
        self.running: dict[tuple[int, int], Job] = {}  # (worker index, worker's call id) → job
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
                self.idle.append(worker)
        except BaseException:
            self.stop()
            raise
        self.tools = self.workers[0].tools
        threading.Thread(target=self._restarter, name="snakepit-relay-restarts", daemon=True).start()
        threading.Thread(target=self._heartbeats, name="snakepit-relay-heartbeats", daemon=True).start()

    def session(self) -> "RelaySession":
        return RelaySession(self)

    def can_serve(self) -> bool:
        """A worker process is up: calls can run now or once one frees."""
        return any(worker.fs is not None for worker in self.workers)

    def in_flight(self) -> int:
        """Calls held: waiting for a worker or running on one."""
        with self.lock:
            return len(self.queue) + len(self.running)

    def submit(self, job: Job) -> None:
        with self.lock:
            if self.halted is None:
                self.queue.append(job)
                job = None
        if job is not None:
            job.session.finish(_draining(job.node_id))
        self._pump()

    def _find_running(self, session: "RelaySession", node_id: int) -> Job | None:
        return next((j for j in self.running.values() if j.session is session and j.node_id == node_id), None)

    def drop_unstarted(self, session: "RelaySession", node_id: int, cancel: bool) -> bool:
        """Drops a Session's call still waiting for a worker (True); with `cancel`, one running is
        cancelled on its worker instead."""
        with self.lock:
            queued = next((j for j in self.queue if j.session is session and j.node_id == node_id), None)
            if queued is not None:
                self.queue.remove(queued)
                return True
            running = self._find_running(session, node_id)
        if cancel and running is not None:
            running.worker.send(wire.ClientFrame(cancels=[running.worker_id]))
        return False

    def to_running(self, session: "RelaySession", node_id: int, frame_of: Callable[[int], Any]) -> None:
        """Sends `frame_of(worker's call id)` to the worker running this Session's call, if one does."""
        with self.lock:
            job = self._find_running(session, node_id)
        if job is not None:
            job.worker.send(frame_of(job.worker_id))

    def session_ended(self, session: "RelaySession") -> None:
        """Drops the Session's waiting calls and cancels its running ones: nobody hears them now."""
        with self.lock:
            self.queue = deque(j for j in self.queue if j.session is not session)
            running = [j for j in self.running.values() if j.session is session]
        for job in running:
            job.worker.send(wire.ClientFrame(cancels=[job.worker_id]))

    def _pump(self) -> None:
        while True:
            with self.lock:
                if not self.queue or not self.idle:
                    return
                job = self.queue.popleft()
                worker = self.idle.popleft()
                job.worker, job.worker_id = worker, worker.next_id
                worker.next_id += 1
                worker.job = job
                self.running[(worker.index, job.worker_id)] = job
            worker.send(wire.ClientFrame(calls=[_forwarded(job)]))

    def from_worker(self, worker: Worker, frame) -> None:
        for reply in frame.replies:
            key = (worker.index, reply.id)
            with self.lock:
                job = self.running.get(key)
                final = job is not None and reply.WhichOneof("outcome") in FINAL
                if final:
                    del self.running[key]
                    worker.job = None
                    self.idle.append(worker)
            if job is None:
                continue
            reply.id = job.node_id
            if final:
                job.session.finish(reply.SerializeToString())
                self._pump()
            else:
                job.session.put(reply.SerializeToString())
        for host_call in frame.host_calls:
            with self.lock:
                job = self.running.get((worker.index, host_call.call_id))
            if job is not None:
                job.session.forward_host_call(worker, host_call, job.node_id)

    def worker_gone(self, worker: Worker) -> None:
        with self.lock:
            job, worker.job, worker.fs = worker.job, None, None
            if worker in self.idle:
                self.idle.remove(worker)
            if job is not None:
                self.running.pop((worker.index, job.worker_id), None)
            stopping = self.stopping
        if worker.proc.poll() is None:
            worker.proc.kill()
        status = worker.proc.wait()
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
                with self.lock:
                    self.halted = f"worker {worker.index} failed to boot {len(RESTART_DELAYS_S)} times in a row"
                    waiting, self.queue = list(self.queue), deque()
                print(f"snakepit-bridge: {self.halted}; stopping", file=sys.stderr, flush=True)
                for job in waiting:  # never started: the client runs them elsewhere
                    job.session.finish(_draining(job.node_id))
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
                if worker.proc.poll() is None:
                    worker.proc.kill()
                worker.proc.wait()
                continue
            with self.lock:
                self.idle.append(worker)
            self.on_change()
            self._pump()
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


def _draining(node_id: int):
    return error_reply(node_id, "DRAINING", "Draining", "the bridge server is stopping: a worker cannot boot")


def _forwarded(job: Job):
    """The call as its worker gets it: its own id, inline arguments, and the time its caller has left."""
    call = job.call
    timeout_ms = call.timeout_ms if job.deadline is None else max(1, int((job.deadline - time.monotonic()) * 1000))
    args = call.args if job.args is None else wire.Value(json=bytes(job.args.json), blobs=[bytes(blob) for blob in job.args.blobs])
    return wire.Call(id=job.worker_id, tool=call.tool, args=args, stream=call.stream, timeout_ms=timeout_ms,
                     session_id=call.session_id, window=call.window)


class RelaySession(StreamSession):
    """One client's Session on a process-profile server: frames in, replies out, as grpcsession.py's
    ThreadSession, but its calls run on the relay's workers."""

    reader_name = "the relay session reader"

    def __init__(self, relay: Relay):
        super().__init__()
        self.relay = relay
        self.partial = PartialCalls(relay.max_message)  # touched by the reader thread only
        self._host_ids: dict[int, tuple[Worker, int]] = {}  # our host call id → (worker, its id)
        self._next_host_id = 1
        self._host_lock = threading.Lock()
        self._unanswered = 0  # calls given to the relay without a final reply yet

    def _all_answered(self) -> bool:
        return not self._unanswered

    def put(self, item) -> None:
        if not self._closed:
            self._out.put(item)

    _send = put

    def finish(self, reply) -> None:
        """Sends a call's final reply; the stream ends after the last one once the client is done."""
        self.put(reply)
        with self._lock:
            self._unanswered -= 1
            done = not self._reading and not self._unanswered
        if done:
            self._out.put(DONE)

    def forward_host_call(self, worker: Worker, host_call, node_call_id: int) -> None:
        with self._host_lock:
            ours = self._next_host_id
            self._next_host_id += 1
            self._host_ids[ours] = (worker, host_call.id)
        self.put(frames.host_call(ours, node_call_id, host_call.name, host_call.args.json, host_call.args.blobs))

    def _rpc_ended(self) -> None:
        self.relay.session_ended(self)  # nobody hears this Session's calls now

    def _deliver(self, answer) -> None:
        """Node's answer to a worker's call into Node goes back to that worker, under its own id."""
        with self._host_lock:
            target = self._host_ids.pop(answer.id, None)
        if target is not None:
            worker, their_id = target
            answer.id = their_id
            worker.send(wire.ClientFrame(host_replies=[answer]))

    def _grant(self, credit) -> None:
        self.relay.to_running(self, credit.id, lambda wid: wire.ClientFrame(credits=[wire.Credit(id=wid, chunks=credit.chunks)]))

    def _drop_unstarted(self, cid: int, cancel: bool) -> bool:
        if not self.relay.drop_unstarted(self, cid, cancel):
            return False
        with self._lock:
            self._unanswered -= 1  # the caller answers it; the reader still reads, so the stream goes on
        return True

    def _accept(self, ready: list) -> None:
        for call, args, deadline in ready:
            with self._lock:
                self._unanswered += 1
            self.relay.submit(Job(self, call, args, deadline))
