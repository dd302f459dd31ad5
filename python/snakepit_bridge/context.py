"""What a running call can know and do: the `ctx` a tool receives when it declares a parameter
of that name.

`ctx.cancelled` turns true once Node gives up on the call (its deadline passed or its caller
aborted): a long tool should check it and return early; one that does not is replaced after
the pool's `cancelGraceMs`. `ctx.progress()` reports progress to the caller before the result,
and `ctx.call()` calls a function the Node side exposed with `pit.expose()`.
"""
from __future__ import annotations

import threading
import time

from . import codec, frames
from .textbudget import cut_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


class NodeError(Exception):
    """A function called with `ctx.call` failed in Node (it threw, or no function has that name).

    `code` is NODE_ERROR for a function that threw, NOT_EXPOSED for an unknown name,
    DISCONNECTED when the connection to Node ended while waiting, and MESSAGE_TOO_LARGE when the
    arguments (never sent) or the function's result exceed the pool's maxMessageBytes.
    """

    def __init__(self, message: str, code: str = "NODE_ERROR", type_: str = "Error"):
        super().__init__(message)
        self.code = code
        self.type = type_


class HostCalls:
    """Calls from tools into Node on one session: each is sent, and its caller waits for the reply.

    `send` writes a host call's bytes (frames.host_call) to Node; `wake`, if given, is called
    after each send so that whoever reads the session's frames reads now. Arguments over
    `max_message` bytes are refused here: a frame that large would end the worker.
    """

    def __init__(self, send: Callable[[Any], None], max_message: int, wake: Callable[[], None] | None = None):
        self._send = send
        self._max_message = max_message
        self._wake = wake
        self._lock = threading.Lock()
        self._next = 1
        self._waiting: dict[int, list] = {}  # id -> [Event, reply]
        self._closed = False

    def call(self, call_id: int, name: str, kwargs: dict) -> Any:
        if not isinstance(name, str) or not name:
            raise TypeError(f"ctx.call needs the exposed function's name as a non-empty string, got {name!r}")
        data, blobs = codec.encode(kwargs)
        size = len(data) + sum(map(len, blobs))
        if size > self._max_message:
            raise NodeError(
                f"cannot call {name!r}: its arguments take {size} bytes, over the pool's maxMessageBytes ({self._max_message}); "
                "send less per call", "MESSAGE_TOO_LARGE", "MessageTooLarge",
            )
        waiter: list = [threading.Event(), None]
        with self._lock:
            if self._closed:
                raise NodeError(f"cannot call {name!r}: the connection to Node has ended", "DISCONNECTED")
            host_id = self._next
            self._next += 1
            self._waiting[host_id] = waiter
        self._send(frames.host_call(host_id, call_id, name, data, blobs))
        if self._wake is not None:
            self._wake()
        waiter[0].wait()
        reply = waiter[1]
        if reply is None:
            raise NodeError(f"{name!r} got no answer: the connection to Node ended", "DISCONNECTED")
        if reply.WhichOneof("outcome") == "result":
            return codec.decode(reply.result.json, reply.result.blobs)
        error = reply.error
        raise NodeError(error.message, error.code or "NODE_ERROR", error.type or "Error")

    def deliver(self, reply: Any) -> None:
        """A HostReply from Node: wakes the tool waiting for it."""
        with self._lock:
            waiter = self._waiting.pop(reply.id, None)
        if waiter is not None:
            waiter[1] = reply
            waiter[0].set()

    def close(self) -> None:
        """The session ended: every waiting tool gets a NodeError instead of waiting for ever."""
        with self._lock:
            self._closed = True
            waiting = list(self._waiting.values())
            self._waiting.clear()
        for waiter in waiting:
            waiter[0].set()


class Context:
    """The running call as its tool sees it; see the module's note."""

    __slots__ = ("call_id", "session_id", "_deadline", "_is_cancelled", "_emit", "_host")

    def __init__(self, call_id: int, session_id: str | None, deadline: float | None,
                 is_cancelled: Callable[[], bool], emit: Callable[[Any], None], host: HostCalls):
        self.call_id = call_id
        self.session_id = session_id
        self._deadline = deadline
        self._is_cancelled = is_cancelled
        self._emit = emit
        self._host = host

    @property
    def cancelled(self) -> bool:
        """True once the caller gave up: its deadline passed or it aborted the call."""
        if self._is_cancelled():
            return True
        return self._deadline is not None and time.monotonic() >= self._deadline

    def time_remaining(self) -> float | None:
        """Seconds until the caller's deadline (0.0 once past), or None without one."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Reports progress to the caller (`onProgress`, `request:progress`), in order, before the
        result; a message over its budget (textbudget.py) arrives cut, with a marker."""
        for name, value, optional in (("done", done, False), ("total", total, True)):
            if (value is None and optional) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
                continue
            raise TypeError(f"ctx.progress: {name} must be a number, got {type(value).__name__}")
        if message is not None and not isinstance(message, str):
            raise TypeError(f"ctx.progress: message must be a string or None, got {type(message).__name__}")
        if message is not None:
            message = cut_text(message)
        data, _ = codec.encode({"done": done, "total": total, "message": message})
        self._emit(frames.progress(self.call_id, data))

    def call(self, name: str, **kwargs: Any) -> Any:
        """Calls the function Node exposed as `name` with these keyword arguments as its one
        argument object, and returns its result; raises NodeError if it throws in Node."""
        return self._host.call(self.call_id, name, kwargs)


def deadline_of(call: Any, received: float) -> float | None:
    """When the caller gives up on `call`, on this process's monotonic clock."""
    return received + call.timeout_ms / 1000 if call.timeout_ms else None
