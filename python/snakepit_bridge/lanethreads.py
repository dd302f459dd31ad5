"""The thread profile on the local lane: leader/follower threads, so a call is not handed over.

A worker with `threads` slots keeps one thread more. One of them at a time, the leader, reads
the socket: it answers pings, applies cancels, reclaims, credits and Node's answers to host
calls (ctx.call), and queues the calls it reads. When a call is queued and a slot is free, the
leader gives the reader's role to an idle thread (waking it) and runs the call itself, writing
its replies straight to the socket: the call never waits for another thread to wake, and a
sequential caller pays one wake-up per call, as on a process worker. A thread that finishes a
call takes the next queued one, else the reader's role if nobody holds it, else waits. With at
most `threads` calls running, one thread is always left to read, so heartbeats are answered and
ctx.call replies are delivered while every slot runs a long call.

Every call id gets exactly one final reply: a queued call cancelled or reclaimed is answered by
the leader and never runs; a running one answers itself. What threads share — the queue, each
call's state, the count of running calls, the roles — is guarded by one lock (`_turn`'s), so the
session is correct without the GIL; the frame socket's reads and `partial` belong to the leader.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable

from .context import HostCalls
from .credit import Credits
from .dispatch import Dispatcher, cancelled_reply, error_reply, unstarted_reply
from .framesocket import FrameError, FrameSocket, Gone, frame_error_exit
from .parts import PartialCalls
from .session import InFlight, fatal, runnable_calls, with_context

# A call's state until its final reply is written.
QUEUED, RUNNING, CANCELLED = 0, 1, 2


class LaneThreadSession:
    """Thread profile on the local lane; see the module's note."""

    def __init__(self, fs: FrameSocket, dispatcher: Dispatcher, slots: int, in_flight: InFlight, pong: Callable[[int], bytes]):
        self.fs = fs
        self.dispatcher = dispatcher
        self.slots = slots
        self.in_flight = in_flight
        self.pong = pong
        self.partial = PartialCalls(dispatcher.max_message)  # the leader's only
        fs.part_sink = self.partial
        self.reply = fs.reply_or_drop
        self.host = HostCalls(self._send_field, dispatcher.max_message)
        self.credits = Credits()
        self._turn = threading.Condition(threading.Lock())  # its lock guards everything below
        self._queue: deque = deque()  # (call, args, deadline) read but not started, in order
        self._calls: dict[int, int] = {}  # id -> state, for calls without a final reply yet
        self._running = 0
        self._leading = False  # a thread holds the reader's role
        self._ended = False  # Node left: queued calls are dropped, running ones see a cancel
        self._done = threading.Event()

    def serve(self, first) -> None:
        """Serves until Node leaves; the calling thread waits meanwhile."""
        self._take(first)
        for i in range(self.slots + 1):
            threading.Thread(target=self._work, name=f"snakepit-tool-{i}", daemon=True).start()
        self._done.wait()

    def _send_field(self, field: bytes) -> None:
        """A host call from a tool's thread; once Node is gone it is dropped, and the session's
        end wakes its caller with DISCONNECTED."""
        try:
            self.fs.write(field)
        except Gone:
            pass

    # -- the threads ----------------------------------------------------------------------
    def _work(self) -> None:
        turn = self._turn
        try:
            with turn:
                while not self._ended:
                    if self._queue and self._running < self.slots:
                        entry = self._queue.popleft()
                        self._calls[entry[0].id] = RUNNING
                        self._running += 1
                        if not self._leading:
                            # Someone must read while this call runs. It takes the next queued call
                            # first, if any, and wakes another: one wake per call started, never more.
                            turn.notify()
                        turn.release()
                        try:
                            self._run(*entry)
                        finally:
                            turn.acquire()
                            self._running -= 1
                            del self._calls[entry[0].id]
                            self.in_flight.add(-1)
                    elif not self._leading:
                        self._leading = True
                        turn.release()
                        try:
                            self._lead()
                        finally:
                            turn.acquire()
                            self._leading = False
                    else:
                        turn.wait()
        except BaseException:  # noqa: BLE001
            fatal("the local lane's thread session")

    def _lead(self) -> None:
        """Reads frames until a call can start (this thread then runs it) or Node leaves."""
        turn = self._turn
        try:
            while True:
                frame = self.fs.next_frame()
                if frame is None:
                    break
                self._take(frame)
                with turn:
                    if self._queue and self._running < self.slots:
                        return
        except Gone:
            pass
        except FrameError as e:
            frame_error_exit(str(e))
        self._end()

    def _end(self) -> None:
        with self._turn:
            self._ended = True
            dropped = len(self._queue)
            self._queue.clear()
            self._turn.notify_all()
        self.in_flight.add(-dropped)
        self.host.close()  # no answer can come any more: tools waiting on Node raise
        self.credits.release()  # nor credit: streams stop waiting for it
        self._done.set()

    # -- the leader's part ----------------------------------------------------------------
    def _take(self, frame) -> None:
        """Applies one frame: pings, Node's answers, credits, cancels and reclaims, then queues its calls."""
        write, reply = self.fs.write, self.reply
        for seq in frame.pings:
            write(self.pong(seq))
        for answer in frame.host_replies:
            self.host.deliver(answer)
        for credit in frame.credits:
            self.credits.grant(credit.id, credit.chunks)
        cancels = frame.cancels
        for cid in cancels:
            if self.partial.drop(cid) or self._drop_queued(cid, cancel=True):
                reply(cancelled_reply(cid))  # it never started: answered now, so Node frees the slot
        for cid in frame.reclaims:
            if self.partial.drop(cid) or self._drop_queued(cid, cancel=False):
                reply(unstarted_reply(cid))
        ready, refused = runnable_calls(frame, self.partial)
        for r in refused:
            reply(r)
        if not ready:
            return
        if cancels:
            for entry in [e for e in ready if e[0].id in cancels]:
                ready.remove(entry)  # given up in the frame that brought it
                reply(cancelled_reply(entry[0].id))
        with self._turn:
            for entry in ready:
                self._calls[entry[0].id] = QUEUED
            self._queue.extend(ready)
        self.in_flight.add(len(ready))

    def _drop_queued(self, cid: int, cancel: bool) -> bool:
        """Drops a call that has not started (True); a running one is marked cancelled if `cancel`."""
        with self._turn:
            state = self._calls.get(cid)
            if state != QUEUED:
                if cancel and state == RUNNING:
                    self._calls[cid] = CANCELLED  # a stream notices and answers; a unary call just finishes
                return False
            del self._calls[cid]
            self._queue.remove(next(e for e in self._queue if e[0].id == cid))
        self.in_flight.add(-1)
        return True

    # -- a call ---------------------------------------------------------------------------
    def _cancelled(self, cid: int) -> bool:
        with self._turn:
            return self._ended or self._calls.get(cid) == CANCELLED

    def _run(self, call, args, deadline: float | None) -> None:
        d, reply, cid = self.dispatcher, self.reply, call.id
        try:
            tool, kwargs = d.prepare(call, args)
            if tool is None:
                reply(kwargs)
                return
            cancelled = lambda: self._cancelled(cid)  # noqa: E731
            if tool.wants_ctx:
                with_context(kwargs, tool, call, deadline, cancelled, reply, self.host)
            if call.stream:
                room = self.credits.open(cid, call.window)
                try:
                    for out in d.run_stream(cid, tool, kwargs, cancelled, room):
                        reply(out)
                finally:
                    self.credits.close(cid)
            else:
                reply(d.run_unary(cid, tool, kwargs))
        except BaseException as e:  # noqa: BLE001 - the tool's own failures are replies already
            # Our own code failed around this call: answer it anyway, and serve on.
            reply(error_reply(cid, "PYTHON_ERROR", type(e).__name__, f"the bridge failed while handling this call ({type(e).__name__})"))
