"""Credit-based flow control of streaming calls: a generator is resumed only while Node has room.

Node gives each streaming call a window (Call.window, the consumer's highWaterMark) and, as its
consumer takes chunks, grants more (ClientFrame.credits). A generator that gets ahead of its
consumer by the window waits here, not in Node's memory or ours.
"""
from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

# While waiting for credit, how often to look whether the call was cancelled.
CANCEL_CHECK_S = 0.05
UNLIMITED = 1 << 62


class Credit:
    """Chunks one streaming call may send: its window plus what Node granted since."""

    __slots__ = ("_allowed", "_sent", "_cond", "_wake")

    def __init__(self, window: int, wake: Callable[[], None] | None = None):
        self._allowed = window
        self._sent = 0
        self._cond = threading.Condition()
        self._wake = wake  # makes whoever reads the session read now, so the grant arrives

    def grant(self, chunks: int) -> None:
        with self._cond:
            self._allowed += chunks
            self._cond.notify_all()

    def take(self, cancelled: Callable[[], bool]) -> bool:
        """Waits for room for one more chunk and counts it; False if the call was cancelled first."""
        with self._cond:
            while self._sent >= self._allowed:
                if cancelled():
                    return False
                if self._wake is not None:
                    self._wake()
                self._cond.wait(CANCEL_CHECK_S)
            self._sent += 1
            return True


class Credits:
    """The Credit of each streaming call of a session that has a window, by call id."""

    def __init__(self, wake: Callable[[], None] | None = None):
        self._wake = wake
        self._by_call: dict[int, Credit] = {}
        self._lock = threading.Lock()
        self._released = False

    def open(self, call_id: int, window: int) -> Callable[[Callable[[], bool]], bool] | None:
        """The `take` of a new call's Credit, or None for a call without a window."""
        with self._lock:
            if not window or self._released:
                return None
            credit = Credit(window, self._wake)
            self._by_call[call_id] = credit
        return credit.take

    def release(self) -> None:
        """Node sends no more frames (it half-closed or left): no credit can come, so no stream
        waits for one; they run on as without a window, ended by a cancel or the session's end."""
        with self._lock:
            self._released = True
            credits = list(self._by_call.values())
        for credit in credits:
            credit.grant(UNLIMITED)

    def grant(self, call_id: int, chunks: int) -> None:
        with self._lock:
            credit = self._by_call.get(call_id)
        if credit is not None:
            credit.grant(chunks)

    def close(self, call_id: int) -> None:
        with self._lock:
            self._by_call.pop(call_id, None)
