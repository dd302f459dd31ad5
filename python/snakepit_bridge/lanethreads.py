"""The thread profile on the local lane: the thread that reads a call runs it, and hands the
reading over only when the call takes long.

A worker with `threads` slots keeps `threads + 1` call threads and one watcher. One call thread
at a time, the leader, reads the socket: it answers pings, applies cancels, reclaims, credits
and Node's answers to host calls (ctx.call), queues the calls it reads, and then runs the queued
calls itself, one after another, writing their replies straight to the socket — as a process
worker does, so a short call costs no thread hand-off and no wake-up. While the leader runs a
call nobody reads, so the watcher looks every WATCH_S while calls run: a call still running at
its next look (WATCH_S..2 × WATCH_S) loses the reader's role to an idle thread, which reads on
and runs what comes next, and calls queued behind the leader's go to idle threads as well. A
tool that calls Node (ctx.call) or waits for stream credit hands the reading over at once, so
the answer is read while it waits. With at most `threads` calls running, one call thread is
always left to read, so heartbeats are answered while every slot runs a long call.

Every call id gets exactly one final reply: a queued call cancelled or reclaimed is answered by
the leader and never runs; a running one answers itself. What threads share — the queue, each
call's state, the running count, the roles — is guarded by one lock (shared by `_turn` and
`_watch`), so the session is correct without the GIL; the socket's reads and `partial` belong to
the leader.
"""
from __future__ import annotations

import threading
import time
from collections import deque

from .context import HostCalls
from .credit import Credits
from .runner import CallRunner, error_reply
from .framesocket import FrameError, FrameSocket, Gone
from .parts import PartialCalls
from .session import FrameHandling, InFlight, exit_to_be_replaced, fatal, with_context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

# How often the watcher looks while calls run. A call that reaches a second look has run at least
# this long, so the hand-off (≈ 0.1 ms of wake-ups) costs it little; a call arriving meanwhile
# waits at most about twice this.
WATCH_S = 0.0005
# After this long without a call running, the watcher sleeps until the next call starts.
WATCH_LINGER_S = 0.05
# A call's state until its final reply is written.
QUEUED, RUNNING, CANCELLED = 0, 1, 2


class LaneThreadSession(FrameHandling):
    """Thread profile on the local lane; see the module's note."""

    def __init__(self, fs: FrameSocket, runner: CallRunner, slots: int, in_flight: InFlight, pong: Callable[[int], bytes]):
        self.fs = fs
        self.runner = runner
        self.slots = slots
        self.in_flight = in_flight
        self.pong = pong
        self.partial = PartialCalls(runner.max_message)  # the leader's only
        fs.part_sink = self.partial
        self.reply = fs.reply_or_drop
        self.host = HostCalls(self._send_field, runner.max_message, self._read_now)
        self.credits = Credits(self._read_now)
        lock = threading.Lock()  # guards everything below
        self._turn = threading.Condition(lock)  # idle call threads wait here
        self._watch = threading.Condition(lock)  # the watcher sleeps here while no call runs
        self._queue: deque = deque()  # (call, args, deadline) read but not started, in order
        self._calls: dict[int, int] = {}  # id -> state, for calls without a final reply yet
        self._running = 0
        self._leading = False  # a call thread holds the reader's role
        self._started = 0  # calls started so far
        self._inline = 0  # the number (in that count) of the call the leader runs, 0 while it reads
        self._watcher_asleep = False
        self._ended = False  # Node left: queued calls are dropped, running ones see a cancel
        self._done = threading.Event()

    def serve(self, first) -> None:
        """Serves until Node leaves; the calling thread waits meanwhile."""
        self._take(first)
        threading.Thread(target=self._watcher, name="snakepit-lane-watcher", daemon=True).start()
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

    # -- roles ----------------------------------------------------------------------------
    def _work(self) -> None:
        """A call thread: leads when nobody does, else runs a call handed over, else waits."""
        turn = self._turn
        try:
            with turn:
                while not self._ended:
                    if not self._leading:
                        self._leading = True
                        self._lead()
                    elif self._queue and self._running < self.slots:
                        self._run_locked()
                    else:
                        turn.wait()
        except BaseException:  # noqa: BLE001
            fatal("the local lane's thread session")

    def _lead(self) -> None:
        """Reads frames and runs their calls until the watcher hands the reading to another
        thread or Node leaves. Called and returns holding the lock."""
        while not self._ended:
            while self._queue and self._running < self.slots:
                self._inline = serial = self._started + 1
                if self._watcher_asleep:
                    self._watch.notify()
                self._run_locked()
                if self._inline != serial:
                    return  # the reading was handed over while the call ran
                self._inline = 0
            self._turn.release()
            try:
                self._read()
            finally:
                self._turn.acquire()
        self._leading = False

    def _read(self) -> None:
        """Reads and applies one frame; at Node's end, ends the session."""
        try:
            frame = self.fs.next_frame()
            if frame is not None:
                self._take(frame)
                return
        except Gone:
            pass
        except FrameError as e:
            exit_to_be_replaced(str(e))
        self._end()

    def _hand_over_locked(self) -> None:
        """The leader's call runs on; an idle thread takes over reading."""
        self._inline = 0
        self._leading = False
        self._turn.notify()

    def _read_now(self) -> None:
        """A tool waits for Node (a host call's answer, stream credit): someone must be reading."""
        with self._turn:
            if self._inline:
                self._hand_over_locked()

    def _watcher(self) -> None:
        turn, clock = self._turn, time.monotonic
        try:
            busy_at = clock()
            while not self._ended:
                # Unlocked reads, as hints only: what the watcher acts on it checks again under
                # the lock. Taking the lock at every look would make the leader wait for it, and
                # on free-threaded builds a lock wait first spins, yielding the core dozens of times.
                inline, started = self._inline, self._started
                if inline or self._waiting():
                    busy_at = clock()
                elif clock() - busy_at >= WATCH_LINGER_S:
                    with turn:
                        if not self._inline and not self._waiting() and not self._ended:
                            self._watcher_asleep = True
                            self._watch.wait()
                            self._watcher_asleep = False
                    busy_at = clock()
                    continue
                time.sleep(WATCH_S)
                if (inline and self._inline == inline) or (self._waiting() and self._started == started):
                    with turn:
                        if inline and self._inline == inline:
                            self._hand_over_locked()
                        if self._waiting() and self._started == started:
                            # Calls queued behind running ones for a whole look: idle threads take them.
                            turn.notify(min(len(self._queue), self.slots - self._running))
        except BaseException:  # noqa: BLE001
            fatal("the local lane's watcher")

    def _waiting(self) -> bool:
        """Calls are queued while a slot is free."""
        return bool(self._queue) and self._running < self.slots

    def _end(self) -> None:
        with self._turn:
            self._ended = True
            dropped = len(self._queue)
            self._queue.clear()
            self._turn.notify_all()
            self._watch.notify_all()
        self.in_flight.add(-dropped)
        self.host.close()  # no answer can come any more: tools waiting on Node raise
        self.credits.release()  # nor credit: streams stop waiting for it
        self._done.set()

    # -- the leader's part ----------------------------------------------------------------
    # FrameHandling's _take applies a frame; the leader calls it.
    def _send(self, reply) -> None:
        self.reply(reply)

    def _pong(self, seq: int) -> None:
        self.fs.write(self.pong(seq))

    def _accept(self, ready: list) -> None:
        self.in_flight.add(len(ready))
        with self._turn:
            for entry in ready:
                self._calls[entry[0].id] = QUEUED
            self._queue.extend(ready)

    def _drop_unstarted(self, cid: int, cancel: bool) -> bool:
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

    def _run_locked(self) -> None:
        """Takes the first queued call and runs it; called and returns holding the lock."""
        entry = self._queue.popleft()
        cid = entry[0].id
        self._calls[cid] = RUNNING
        self._running += 1
        self._started += 1
        self._turn.release()
        try:
            self._run(*entry)
        finally:
            self._turn.acquire()
            self._running -= 1
            del self._calls[cid]
            self.in_flight.add(-1)

    def _run(self, call, args, deadline: float | None) -> None:
        d, reply, cid = self.runner, self.reply, call.id
        try:
            tool, kwargs = d.prepare(call, args)
            if tool is None:
                reply(kwargs)
                return
            if tool.wants_ctx or call.stream:
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
