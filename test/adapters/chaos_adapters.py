"""Tools for the fault harness (test/chaos.test.ts): every call notes its start in a journal
before it does anything else, so the test can count how often each call started, in whichever
worker process. One line per start, `<key> <pid>`, written with a single write to a file opened
O_APPEND: lines from concurrent workers never interleave, and a kill -9 loses no line once the
write has returned."""
import os
import time

from snakepit_bridge import BaseAdapter, ThreadSafeAdapter, tool


def _note_start(journal, key):
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, f"{key} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def _work(seconds, obey, ctx):
    """Works for `seconds`, stopping early when cancelled unless it does not `obey`."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0 or (obey and ctx.cancelled):
            return
        time.sleep(min(left, 0.005))


class _Tools:
    @tool
    def run(self, journal, key, seconds=0, obey=True, ctx=None):
        _note_start(journal, key)
        _work(seconds, obey, ctx)
        return {"key": key, "pid": os.getpid()}

    @tool
    def chain(self, journal, key, child, seconds=0, ctx=None):
        """Calls Node's `chaos_nested`, which runs `child` as a call of its own."""
        _note_start(journal, key)
        nested = ctx.call("chaos_nested", key=child, seconds=seconds)
        return {"key": key, "pid": os.getpid(), "nested": nested}

    @tool
    def chunks(self, journal, key, n, seconds=0, ctx=None):
        """Yields 0..n-1, working `seconds` before each."""
        _note_start(journal, key)
        for i in range(n):
            _work(seconds, True, ctx)
            yield i


class Chaos(_Tools, BaseAdapter):
    pass


class ThreadedChaos(_Tools, ThreadSafeAdapter):
    pass
