"""The Session stream: calls in, replies out, one long-lived bidi stream per worker.

Two variants:
- ProcessSession (process profile): one call at a time, run inline in the response
  generator. No thread hand-off, which is what keeps a tiny call close to a raw gRPC echo.
- ThreadSession (thread profile): a reader thread feeds calls to a thread pool; replies go
  onto a queue and the response generator sends whatever has piled up as one frame.
Either way every call id gets exactly one final reply (result, error or end).
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

from . import frames
from .dispatch import Dispatcher, cancelled_reply
_DONE = object()


class InFlight:
    """Calls running in this worker, for heartbeats."""

    __slots__ = ("value", "_lock")

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n


class ProcessSession:
    def __init__(self, dispatcher: Dispatcher, in_flight: InFlight, serial: threading.Lock):
        self.dispatcher = dispatcher
        self.in_flight = in_flight
        self.serial = serial  # shared with the Execute RPC: one call at a time per process

    def serve(self, request_iterator, context) -> Iterator[Any]:
        d = self.dispatcher
        in_flight = self.in_flight
        serial = self.serial
        next_frame = iter(request_iterator).__next__
        cancelled: set[int] = set()
        reader: _FrameReader | None = None
        while True:
            try:
                frame = next_frame()
            except StopIteration:
                return
            if frame.cancels:
                cancelled.update(frame.cancels)
            for call in frame.calls:
                cid = call.id
                if cancelled and cid in cancelled:
                    cancelled.discard(cid)
                    yield frames.single(cancelled_reply(cid))
                    continue
                tool, kwargs = d.prepare(call)
                if tool is None:
                    yield frames.single(kwargs)
                    continue
                in_flight.value += 1
                try:
                    if call.stream:
                        if reader is None:
                            # While a stream runs we cannot read the next frame inline, yet a
                            # cancel may arrive: from now on a thread reads frames for us.
                            reader = _FrameReader(request_iterator, cancelled)
                            next_frame = reader.next_frame
                        is_cancelled = lambda cid=cid: cid in cancelled  # noqa: E731
                        with serial:
                            for reply in d.run_stream(cid, tool, kwargs, is_cancelled):
                                yield frames.single(reply)
                        cancelled.discard(cid)
                    else:
                        with serial:
                            reply = d.run_unary(cid, tool, kwargs)
                        yield frames.single(reply)
                finally:
                    in_flight.value -= 1


class _FrameReader:
    """Reads client frames on a thread, applying cancels at once (for a running stream)."""

    def __init__(self, request_iterator, cancelled: set[int]):
        self._it = request_iterator
        self._cancelled = cancelled
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name="snakepit-session-reader", daemon=True).start()

    def _run(self) -> None:
        try:
            for frame in self._it:
                if frame.cancels:
                    self._cancelled.update(frame.cancels)
                self._q.put(frame)
        except Exception:
            pass  # the client went away; the response side ends too
        finally:
            self._q.put(_DONE)

    def next_frame(self) -> Any:
        frame = self._q.get()
        if frame is _DONE:
            self._q.put(_DONE)  # stay ended for any later call
            raise StopIteration
        return frame


class ThreadSession:
    # Per-call states, guarded by self._lock.
    QUEUED, RUNNING, CANCELLED = 0, 1, 2

    def __init__(self, dispatcher: Dispatcher, pool: ThreadPoolExecutor, in_flight: InFlight):
        self.dispatcher = dispatcher
        self.pool = pool
        self.in_flight = in_flight
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._calls: dict[int, int] = {}  # id -> state, for calls without a final reply yet
        self._reading = True
        self._closed = False  # the RPC itself ended (client cancelled or went away)

    def serve(self, request_iterator, context) -> Iterator[Any]:
        context.add_callback(self._on_rpc_done)
        threading.Thread(target=self._read, args=(request_iterator,), name="snakepit-session-reader", daemon=True).start()
        out = self._out
        while True:
            item = out.get()
            if item is _DONE:
                return
            batch = [item]
            try:
                while True:
                    item = out.get_nowait()
                    if item is _DONE:
                        yield frames.frame(batch)
                        return
                    batch.append(item)
            except queue.Empty:
                pass
            yield frames.frame(batch)

    def _on_rpc_done(self) -> None:
        self._closed = True
        self._out.put(_DONE)

    def _read(self, request_iterator) -> None:
        d = self.dispatcher
        try:
            for frame in request_iterator:
                for cid in frame.cancels:
                    self._cancel(cid)
                for call in frame.calls:
                    tool, kwargs = d.prepare(call)
                    if tool is None:
                        self._out.put(kwargs)
                        continue
                    with self._lock:
                        self._calls[call.id] = self.QUEUED
                    self.in_flight.add(1)
                    self.pool.submit(self._run, call.id, tool, kwargs, call.stream)
        except Exception:
            pass  # the client went away
        finally:
            with self._lock:
                self._reading = False
                idle = not self._calls
            if idle:
                self._out.put(_DONE)

    def _cancel(self, cid: int) -> None:
        with self._lock:
            state = self._calls.get(cid)
            if state is None or state == self.CANCELLED:
                return  # already answered, or unknown
            self._calls[cid] = self.CANCELLED
            if state == self.RUNNING:
                return  # a running stream notices and answers CANCELLED; a unary call just finishes
            del self._calls[cid]
            done = not self._reading and not self._calls
        self._out.put(cancelled_reply(cid))  # queued: answer now so Node frees the slot
        if done:
            self._out.put(_DONE)

    def _run(self, cid: int, tool, kwargs: dict, stream: bool) -> None:
        try:
            with self._lock:
                if self._calls.get(cid) != self.QUEUED:
                    return  # cancelled while queued; already answered
                self._calls[cid] = self.RUNNING
            if self._closed:
                self._finish(cid)
                return
            if stream:
                calls, out = self._calls, self._out
                is_cancelled = lambda: self._closed or calls.get(cid) == self.CANCELLED  # noqa: E731
                for reply in self.dispatcher.run_stream(cid, tool, kwargs, is_cancelled):
                    out.put(reply)
            else:
                self._out.put(self.dispatcher.run_unary(cid, tool, kwargs))
            self._finish(cid)
        finally:
            self.in_flight.add(-1)

    def _finish(self, cid: int) -> None:
        with self._lock:
            self._calls.pop(cid, None)
            done = not self._reading and not self._calls
        if done:
            self._out.put(_DONE)
