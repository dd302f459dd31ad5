"""How a worker waits for its next frame: polling the socket, or sleeping in recv.

Polling (recv with MSG_DONTWAIT, yielding the core between tries) reads a frame the moment it
lands, without the sleep and wake-up of a blocking recv. On a quiet virtual machine that wake-up
is most of a tiny call's round trip and polling halves it; on a host kept busy by other
processes wake-ups are cheap and a polling worker only takes a core that Node needs. So the
worker measures both: it waits the way whose recent waits were shorter, and every
EXPLORE_EVERY-th wait the other way, to notice when the host changes. It never polls after a
wait longer than the window (the caller paused), so an idle worker sleeps.
"""
from __future__ import annotations

# A wait longer than this is a caller pausing, not a round trip: it says nothing about either way.
COUNTED_WAIT_S = 0.001
EXPLORE_EVERY = 16
SMOOTHING = 1 / 16  # weight of the newest wait in a way's running average


class IdleWait:
    def __init__(self, window_s: float):
        self.window_s = window_s
        self.short = False  # the last wait was within the window
        self.average: list[float | None] = [None, None]  # seconds per wait: [sleeping, polling]
        self._waits = 0

    def should_poll(self) -> bool:
        if not self.short:
            return False
        self._waits += 1
        sleeping, polling = self.average
        if polling is None or sleeping is None:
            best = polling is None  # try each way once
        else:
            best = polling <= sleeping
        return best if self._waits % EXPLORE_EVERY else not best

    def waited(self, polled: bool, seconds: float) -> None:
        self.short = seconds < self.window_s
        if seconds < COUNTED_WAIT_S:
            average = self.average[polled]
            self.average[polled] = seconds if average is None else average + (seconds - average) * SMOOTHING
