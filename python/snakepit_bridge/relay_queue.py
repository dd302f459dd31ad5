"""The calls of a process-profile bridge server (relay_arbiter.py): one FIFO queue of calls that
wait for a free worker, whichever client's Session sent them, and the calls running on workers.
A call runs on its worker under the worker's own id; its replies and calls into Node go back to
the Session that sent it, under that Session's id. Cancels and stream credits follow it to its
worker. One lock guards the queue, the free workers and the running calls.
"""
from __future__ import annotations

import threading
import time
from collections import deque

from . import wire
from .runner import error_reply

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from .relay_session import RelaySession
    from .relay_worker import Worker

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


class CallQueue:
    """Calls waiting for a free worker, the free workers, and the calls running on workers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: deque[Job] = deque()
        self.idle: deque[Worker] = deque()
        self.running: dict[tuple[int, int], Job] = {}  # (worker index, worker's call id) → job
        self.closed = False  # a worker cannot boot: no call waits for one now

    def in_flight(self) -> int:
        """Calls held: waiting for a worker or running on one."""
        with self.lock:
            return len(self.waiting) + len(self.running)

    def submit(self, job: Job) -> None:
        with self.lock:
            if not self.closed:
                self.waiting.append(job)
                job = None
        if job is not None:
            job.session.finish(_draining(job.node_id))
        self.pump()

    def close(self) -> None:
        """Takes no more calls: those waiting and those submitted from now on are answered
        DRAINING (never started, the client runs them elsewhere)."""
        with self.lock:
            self.closed = True
            waiting, self.waiting = list(self.waiting), deque()
        for job in waiting:
            job.session.finish(_draining(job.node_id))

    def _find_running(self, session: "RelaySession", node_id: int) -> Job | None:
        return next((j for j in self.running.values() if j.session is session and j.node_id == node_id), None)

    def drop_unstarted(self, session: "RelaySession", node_id: int, cancel: bool) -> bool:
        """Drops a Session's call still waiting for a worker (True); with `cancel`, one running is
        cancelled on its worker instead."""
        with self.lock:
            queued = next((j for j in self.waiting if j.session is session and j.node_id == node_id), None)
            if queued is not None:
                self.waiting.remove(queued)
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
            self.waiting = deque(j for j in self.waiting if j.session is not session)
            running = [j for j in self.running.values() if j.session is session]
        for job in running:
            job.worker.send(wire.ClientFrame(cancels=[job.worker_id]))

    def add_worker(self, worker: Worker) -> None:
        """A worker started and connected: free for the next call (pump gives it one)."""
        with self.lock:
            self.idle.append(worker)

    def pump(self) -> None:
        """Gives waiting calls to free workers, oldest call first."""
        while True:
            with self.lock:
                if not self.waiting or not self.idle:
                    return
                job = self.waiting.popleft()
                worker = self.idle.popleft()
                job.worker, job.worker_id = worker, worker.next_id
                worker.next_id += 1
                worker.job = job
                self.running[(worker.index, job.worker_id)] = job
            worker.send(wire.ClientFrame(calls=[_forwarded(job)]))

    def from_worker(self, worker: Worker, frame) -> None:
        """A worker's frame: replies and calls into Node to the Sessions of the calls they belong to;
        a final reply frees the worker for the next call."""
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
                self.pump()
            else:
                job.session.put(reply.SerializeToString())
        for host_call in frame.host_calls:
            with self.lock:
                job = self.running.get((worker.index, host_call.call_id))
            if job is not None:
                job.session.forward_host_call(worker, host_call, job.node_id)

    def worker_gone(self, worker: Worker) -> Job | None:
        """A worker that died gets no more calls and shows as down (no connection) at the same
        moment; the call it ran, if any, no longer runs and is returned."""
        with self.lock:
            job, worker.job, worker.fs = worker.job, None, None
            if worker in self.idle:
                self.idle.remove(worker)
            if job is not None:
                self.running.pop((worker.index, job.worker_id), None)
        return job


def _draining(node_id: int):
    return error_reply(node_id, "DRAINING", "Draining", "the bridge server is stopping: a worker cannot boot")


def _forwarded(job: Job):
    """The call as its worker gets it: its own id, inline arguments, and the time its caller has left."""
    call = job.call
    timeout_ms = call.timeout_ms if job.deadline is None else max(1, int((job.deadline - time.monotonic()) * 1000))
    args = call.args if job.args is None else wire.Value(json=bytes(job.args.json), blobs=[bytes(blob) for blob in job.args.blobs])
    return wire.Call(id=job.worker_id, tool=call.tool, args=args, stream=call.stream, timeout_ms=timeout_ms,
                     session_id=call.session_id, window=call.window)
