"""The Session RPC over gRPC: calls in, replies out, one long-lived bidi stream per worker.

A reader thread applies the client's frames (session.py's FrameHandling) and feeds calls to a
thread pool — of one thread for the process profile, which so runs calls one at a time in the
order sent — and replies go onto a queue that the response generator sends, whatever has piled
up as one frame. Progress and host calls (context.py) go out on the same queue. The thread
session below serves a thread worker or a thread-profile bridge server; the relay's
(relay_session.py) is the other.
"""
from __future__ import annotations

import queue
import threading

from . import frames
from .context import HostCalls
from .credit import Credits
from .parts import PartialCalls
from .runner import CallRunner, error_reply
from .session import FrameHandling, InFlight, fatal, with_context
from .started import StartedCalls, Unrecorded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor
    from typing import Any, Callable, Iterator

DONE = object()  # ends a response stream once what is queued before it is sent


def read_frames(request_iterator, on_frame: Callable[[Any], None], where: str) -> None:
    """Feeds each client frame to `on_frame` until the client goes away (a normal end)."""
    it = iter(request_iterator)
    while True:
        try:
            frame = next(it)
        except Exception:  # noqa: BLE001 - StopIteration or the RPC ending: the client is gone
            return
        try:
            on_frame(frame)
        except BaseException:  # noqa: BLE001
            fatal(where)


def outgoing_frames(out: queue.SimpleQueue) -> Iterator[bytes]:
    """The response stream: whatever replies have piled up on `out`, as one frame each time,
    until DONE."""
    while True:
        item = out.get()
        if item is DONE:
            return
        batch = [item]
        try:
            while True:
                item = out.get_nowait()
                if item is DONE:
                    yield frames.frame(batch)
                    return
                batch.append(item)
        except queue.Empty:
            pass
        yield frames.frame(batch)


class StreamSession(FrameHandling):
    """A Session RPC over gRPC: a reader thread applies the client's frames, and the replies go
    out as the response stream, which ends once the client is done and every call is answered
    (or the RPC itself ends). The thread session below and the relay's (relay_session.py) are two."""

    reader_name = "the session reader"

    def __init__(self) -> None:
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._reading = True
        self._closed = False  # the RPC itself ended (client cancelled or went away)

    def _all_answered(self) -> bool:
        """Every call taken has had its final reply; called holding self._lock."""
        raise NotImplementedError

    def _rpc_ended(self) -> None:
        """The RPC itself ended: nobody reads the replies any more."""

    def _reader_ended(self) -> None:
        """The client sent its last frame (replies may still be awaited)."""

    def announce(self, field: bytes) -> None:
        """Sends a frame field of the server's own (frames.DRAINING) on this session."""
        if not self._closed:
            self._out.put(field)

    def end(self) -> None:
        """Ends the response stream once everything already queued is sent (a drained server)."""
        self._out.put(DONE)

    def serve(self, request_iterator, context) -> Iterator[Any]:
        context.add_callback(self._on_rpc_done)
        threading.Thread(target=self._read, args=(request_iterator,), name="snakepit-session-reader", daemon=True).start()
        return outgoing_frames(self._out)

    def _on_rpc_done(self) -> None:
        self._closed = True
        self._rpc_ended()
        self._out.put(DONE)

    def _read(self, request_iterator) -> None:
        try:
            read_frames(request_iterator, self._take, self.reader_name)
        finally:
            self._reader_ended()
            with self._lock:
                self._reading = False
                done = self._all_answered()
            if done:
                self._out.put(DONE)


class ThreadSession(StreamSession):
    # Per-call states, guarded by self._lock.
    QUEUED, RUNNING, CANCELLED = 0, 1, 2

    def __init__(self, runner: CallRunner, pool: ThreadPoolExecutor, in_flight: InFlight,
                 started: StartedCalls | Unrecorded = Unrecorded()):
        super().__init__()
        self.runner = runner
        self.started = started  # kept only when calls run one at a time (the process profile)
        self.pool = pool
        self.in_flight = in_flight
        self._reply = self._send = self._out.put  # where replies go: the response stream
        self._calls: dict[int, int] = {}  # id -> state, for calls without a final reply yet
        self.partial = PartialCalls(runner.max_message)  # touched by the reader thread only
        self.host = HostCalls(self._out.put, runner.max_message)
        self.credits = Credits()

    def _all_answered(self) -> bool:
        return not self._calls

    def _rpc_ended(self) -> None:
        self.host.close()

    def _reader_ended(self) -> None:
        self.host.close()  # no reply can come any more: tools waiting on Node raise
        self.credits.release()  # nor credit: streams stop waiting for it

    def _accept(self, ready: list) -> None:
        for call, args, deadline in ready:
            tool, kwargs = self.runner.prepare(call, args)
            if tool is None:
                self._out.put(kwargs)
                continue
            cid = call.id
            with self._lock:
                self._calls[cid] = self.QUEUED
            self.in_flight.add(1)
            if tool.wants_ctx:
                with_context(kwargs, tool, call, deadline, lambda cid=cid: self._cancelled(cid), self._reply, self.host)
            self.pool.submit(self._run, cid, tool, kwargs, call.stream, call.window)

    def _cancelled(self, cid: int) -> bool:
        return self._closed or self._calls.get(cid) == self.CANCELLED

    def _drop_unstarted(self, cid: int, cancel: bool) -> bool:
        # Runs on the reader thread, so the stream cannot end here: no DONE to send.
        with self._lock:
            state = self._calls.get(cid)
            if state == self.QUEUED:
                del self._calls[cid]
                return True
            if cancel and state == self.RUNNING:
                self._calls[cid] = self.CANCELLED  # a running stream notices and answers; a unary call just finishes
            return False

    def _run(self, cid: int, tool, kwargs: dict, stream: bool, window: int) -> None:
        try:
            with self._lock:
                if self._calls.get(cid) != self.QUEUED:
                    return  # cancelled while queued; already answered
                self._calls[cid] = self.RUNNING
                self.started.started(cid)
            if self._closed:
                self._finish(cid)
                return
            if stream:
                room = self.credits.open(cid, window)
                try:
                    for reply in self.runner.run_stream(cid, tool, kwargs, lambda: self._cancelled(cid), room):
                        self._reply(reply)
                finally:
                    self.credits.close(cid)
            else:
                self._reply(self.runner.run_unary(cid, tool, kwargs))
            self._finish(cid)
        except BaseException as e:  # noqa: BLE001 - the tool's own failures are replies already
            # Our own code failed around this call: answer it anyway, and serve on.
            self._reply(error_reply(cid, "PYTHON_ERROR", type(e).__name__, f"the bridge failed while handling this call ({type(e).__name__})"))
            self._finish(cid)
        finally:
            self.in_flight.add(-1)

    def _finish(self, cid: int) -> None:
        with self._lock:
            self._calls.pop(cid, None)
            done = not self._reading and not self._calls
        if done:
            self._out.put(DONE)
