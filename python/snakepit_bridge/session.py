"""The Session stream: calls in, replies out, one long-lived bidi stream per worker.

On gRPC (and for bridge servers) a reader thread feeds calls to a thread
pool — of one thread for the process profile, which so runs calls one at a time in the order
sent — and replies go onto a queue that the response generator sends, whatever has piled up
as one frame. Node sends calls ahead (`prefetch`); a cancel of one still queued is answered at
once. Every call id gets exactly one final reply (result, error or end); progress and host
calls (context.py) go out on the same queue. Large calls' arguments arrive in parts (parts.py)
and run once complete. A failure in this code itself, never a tool's, would leave the worker
deaf to its calls: it ends the process instead (`fatal`), so the supervisor replaces the
worker. So does a client frame that does not decode (`client_frame_or_exit`): after one,
nothing else on that stream can be trusted.
"""
from __future__ import annotations

import queue
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

from . import frames
from . import wire
from .context import Context, HostCalls, deadline_of
from .control import exit_now
from .credit import Credits
from .runner import CallRunner, cancelled_reply, error_reply, unstarted_reply
from .started import StartedCalls, Unrecorded
from .parts import PartialCalls

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

DONE = object()  # ends a response stream once what is queued before it is sent

# Exit status of a worker whose own session code failed (EX_SOFTWARE).
BRIDGE_FAILURE_EXIT = 70


def exit_to_be_replaced(why: str, with_traceback: bool = False) -> None:
    """The stream from Node or our own code failed: nothing after it can be trusted. Says why on
    stderr and ends the process with BRIDGE_FAILURE_EXIT, to be replaced."""
    try:
        print(f"snakepit worker: {why}; exiting to be replaced", file=sys.stderr)
        if with_traceback:
            import traceback

            traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
    finally:
        exit_now(BRIDGE_FAILURE_EXIT)


def fatal(where: str) -> None:
    """Our own code failed: say where, with the traceback, and end the process."""
    exit_to_be_replaced(f"internal failure in {where}", with_traceback=True)


class BadFrame(ValueError):
    """Bytes on the Session stream that are not a ClientFrame."""


def decode_client_frame(data: bytes) -> Any:
    """The ClientFrame in `data`; BadFrame, saying what was wrong, if it does not decode."""
    try:
        return wire.ClientFrame.FromString(data)
    except wire.DecodeError as e:
        raise BadFrame(f"a ClientFrame of {len(data)} bytes from Node does not decode: {type(e).__name__}: {e}") from None


def client_frame_or_exit(data: bytes) -> Any:
    """The Session's request deserializer. gRPC would log a frame that does not decode and end
    the RPC; the worker must not serve on after a corrupt stream, so it says why and exits."""
    try:
        return decode_client_frame(data)
    except BadFrame as e:
        exit_to_be_replaced(str(e))


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


def runnable_calls(frame, partial: PartialCalls) -> tuple[list[tuple[Any, Any, float | None]], list[Any]]:
    """The frame's calls that can run now, as (call, args Value or None for inline args, the
    caller's deadline or None), and the error replies of calls refused on the way.

    Large calls start collecting their parts; those completed by this frame's parts join in.
    """
    ready: list[tuple[Any, Any, float | None]] = []
    refused: list[Any] = []
    received = time.monotonic()
    for call in frame.calls:
        if not call.args_size:
            ready.append((call, None, deadline_of(call, received)))
            continue
        reply = partial.start(call)
        if reply is not None:
            refused.append(reply)
    for part in frame.parts:
        try:
            done = partial.add(part)
        except Exception as e:  # noqa: BLE001 - parts that do not make a Value fail their call
            partial.drop(part.id)
            refused.append(error_reply(part.id, "INVALID_ARGUMENT", type(e).__name__, f"the arguments' parts do not decode: {e}"))
            continue
        if done is not None:
            ready.append((*done, deadline_of(done[0], received)))
    return ready, refused


def with_context(kwargs: dict, tool, call, deadline: float | None, is_cancelled: Callable[[], bool],
                 emit: Callable[[Any], None], host: HostCalls) -> dict:
    """`kwargs` with the call's Context added if the tool asks for one (a `ctx` parameter)."""
    if tool.wants_ctx:
        kwargs["ctx"] = Context(call.id, call.session_id or None, deadline, is_cancelled, emit, host)
    return kwargs


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


class InFlight:
    """Calls running in this worker, for heartbeats."""

    __slots__ = ("value", "_lock")

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n


class FrameHandling:
    """What every session does with a ClientFrame, whoever runs its calls.

    Four sessions read Node's frames: the local lane's process and thread sessions (lane.py,
    lanethreads.py), the gRPC session of a thread worker or a thread-profile server (below), and
    a process-profile server's relay session (relay.py). How a call runs and where a reply goes
    differ; how a frame is applied, and in what order, is the same: pings, Node's answers to
    host calls, stream credits, cancels, reclaims, then the new calls — refused while a server
    drains, answered CANCELLED when the frame that brought them also gave them up.
    """

    partial: PartialCalls
    # A bridge server that drains answers new calls DRAINING instead of running them (serve.py).
    refusing: Callable[[], bool] | None = None

    # -- what each session says how to do ---------------------------------------------------
    def _send(self, reply: Any) -> None:
        """One reply (a ServerFrame field) to Node."""
        raise NotImplementedError

    def _pong(self, seq: int) -> None:
        """Over gRPC a worker's liveness is the Heartbeat RPC's: a ping on the Session goes unanswered."""

    def _deliver(self, answer: Any) -> None:
        self.host.deliver(answer)  # type: ignore[attr-defined]

    def _grant(self, credit: Any) -> None:
        self.credits.grant(credit.id, credit.chunks)  # type: ignore[attr-defined]

    def _drop_unstarted(self, cid: int, cancel: bool) -> bool:
        """Drops the call if it has not started (True: the caller answers it); with `cancel`, a
        running one is told to stop instead (it answers itself)."""
        raise NotImplementedError

    def _accept(self, ready: list) -> None:
        """Runs (or queues) the frame's calls, as (call, args, deadline), in order."""
        raise NotImplementedError

    # -- the frame --------------------------------------------------------------------------
    def _take(self, frame: Any) -> None:
        if frame.pings or frame.host_replies or frame.credits or frame.cancels or frame.reclaims:  # most frames hold calls alone
            self._take_control(frame)
        ready, refused = runnable_calls(frame, self.partial)
        for reply in refused:
            self._send(reply)
        if not ready:
            return
        if self.refusing is not None and self.refusing():
            for call, _args, _deadline in ready:
                self._send(error_reply(call.id, "DRAINING", "Draining", "the bridge server is draining"))
            return
        if frame.cancels:
            given_up = [entry for entry in ready if entry[0].id in frame.cancels]
            for entry in given_up:
                ready.remove(entry)
                self._send(cancelled_reply(entry[0].id))  # given up in the frame that brought it
        if ready:
            self._accept(ready)

    def _take_control(self, frame: Any) -> None:
        for seq in frame.pings:
            self._pong(seq)
        for answer in frame.host_replies:
            self._deliver(answer)
        for credit in frame.credits:
            self._grant(credit)
        for cid in frame.cancels:
            # Not started (its arguments still arriving, or queued): answered now, so Node frees the slot.
            if self.partial.drop(cid) or self._drop_unstarted(cid, cancel=True):
                self._send(cancelled_reply(cid))
        for cid in frame.reclaims:
            if self.partial.drop(cid) or self._drop_unstarted(cid, cancel=False):
                self._send(unstarted_reply(cid))


class StreamSession(FrameHandling):
    """A Session RPC over gRPC: a reader thread applies the client's frames, and the replies go
    out as the response stream, which ends once the client is done and every call is answered
    (or the RPC itself ends). The thread session below and the relay's (relay.py) are two."""

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
