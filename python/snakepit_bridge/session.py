"""What every session does with Node's frames, and how a session's own failure ends the worker.

Node sends calls ahead (`prefetch`); a cancel of one still queued is answered at once. Every
call id gets exactly one final reply (result, error or end). Large calls' arguments arrive in
parts (parts.py) and run once complete. A failure in this code itself, never a tool's, would
leave the worker deaf to its calls: it ends the process instead (`fatal`), so the supervisor
replaces the worker. So does a client frame that does not decode (`client_frame_or_exit`):
after one, nothing else on that stream can be trusted. The sessions themselves: the local
lane's (lane.py, lanethreads.py), gRPC's (grpcsession.py) and the relay's (relay_session.py).
"""
from __future__ import annotations

import sys
import threading
import time

from . import wire
from .context import Context, deadline_of
from .control import exit_now
from .runner import cancelled_reply, error_reply, unstarted_reply
from .parts import PartialCalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from .context import HostCalls

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
    lanethreads.py), the gRPC session of a thread worker or a thread-profile server
    (grpcsession.py), and a process-profile server's relay session (relay_session.py). How a
    call runs and where a reply goes differ; how a frame is applied, and in what order, is the
    same: pings, Node's answers to host calls, stream credits, cancels, reclaims, then the new
    calls — refused while a server drains, answered CANCELLED when the frame that brought them
    also gave them up.
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
