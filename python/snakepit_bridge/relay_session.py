"""One client's Session on a process-profile bridge server: frames in, replies out, as
grpcsession.py's ThreadSession, but its calls wait in the relay's CallQueue (relay_queue.py) and
run on its workers. A worker's calls into Node go out under this Session's own ids; Node's
answers go back to that worker under its id.
"""
from __future__ import annotations

import threading

from . import frames
from . import wire
from .grpcsession import DONE, StreamSession
from .parts import PartialCalls
from .relay_queue import Job

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .relay_queue import CallQueue
    from .relay_worker import Worker


class RelaySession(StreamSession):
    """A Session whose calls run on the relay's workers."""

    reader_name = "the relay session reader"

    def __init__(self, calls: CallQueue, max_message: int):
        super().__init__()
        self.calls = calls
        self.partial = PartialCalls(max_message)  # touched by the reader thread only
        self._host_ids: dict[int, tuple[Worker, int]] = {}  # our host call id → (worker, its id)
        self._next_host_id = 1
        self._host_lock = threading.Lock()
        self._unanswered = 0  # calls given to the queue without a final reply yet

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
        self.calls.session_ended(self)  # nobody hears this Session's calls now

    def _deliver(self, answer) -> None:
        """Node's answer to a worker's call into Node goes back to that worker, under its own id."""
        with self._host_lock:
            target = self._host_ids.pop(answer.id, None)
        if target is not None:
            worker, their_id = target
            answer.id = their_id
            worker.send(wire.ClientFrame(host_replies=[answer]))

    def _grant(self, credit) -> None:
        self.calls.to_running(self, credit.id, lambda wid: wire.ClientFrame(credits=[wire.Credit(id=wid, chunks=credit.chunks)]))

    def _drop_unstarted(self, cid: int, cancel: bool) -> bool:
        if not self.calls.drop_unstarted(self, cid, cancel):
            return False
        with self._lock:
            self._unanswered -= 1  # the caller answers it; the reader still reads, so the stream goes on
        return True

    def _accept(self, ready: list) -> None:
        for call, args, deadline in ready:
            with self._lock:
                self._unanswered += 1
            self.calls.submit(Job(self, call, args, deadline))
