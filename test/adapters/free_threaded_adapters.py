"""Adapters for the free-threaded (3.13t) tests: the seed's three safety patterns under threads
that really run at once, and a bridge hammer that records which calls ran."""
import sys
import threading

from snakepit_bridge import ThreadSafeAdapter, thread_safe_method, tool


def _spin(n):
    """Pure-Python work: with the GIL off, two threads doing it overlap."""
    total = 0
    for k in range(n):
        total += k * k
    return total


class Patterns(ThreadSafeAdapter):
    """Shared read-only state (the table), per-thread state (each thread's own tally) and locked
    writes (the counter), as the worker-profiles guide prescribes."""

    __thread_safe__ = True

    def __init__(self):
        super().__init__()
        self.table = {i: i * i for i in range(1000)}  # written here only: read-only once serving
        self.counter = 0
        self.tallies = []  # each thread's tally dict, registered once under the lock

    def _tally(self):
        tally = self.get_thread_local("tally")
        if tally is None:
            tally = {"calls": 0}
            self.set_thread_local("tally", tally)
            with self.acquire_lock():
                self.tallies.append(tally)
        return tally

    @thread_safe_method
    @tool
    def work(self, i, spin=2000):
        _spin(spin)
        self._tally()["calls"] += 1  # this thread's own: no lock
        with self.acquire_lock():
            self.counter += 1
        return {"square": self.table[i % 1000], "thread": threading.get_ident()}

    @thread_safe_method
    @tool
    def totals(self):
        with self.acquire_lock():
            return {"counter": self.counter, "per_thread": [t["calls"] for t in self.tallies]}

    @thread_safe_method
    @tool
    def gil(self):
        check = getattr(sys, "_is_gil_enabled", None)
        return bool(check()) if check is not None else True


class Hammer(ThreadSafeAdapter):
    """Records every call it runs, per thread (no lock on the hot path), so a test can tell that no
    call ran twice; `echo` may call into Node, `count` streams."""

    __thread_safe__ = True

    def __init__(self):
        super().__init__()
        self.runs = []  # each thread's list of the ids it ran

    def _ran(self, i):
        ran = self.get_thread_local("ran")
        if ran is None:
            ran = []
            self.set_thread_local("ran", ran)
            with self.acquire_lock():
                self.runs.append(ran)
        ran.append(i)

    @thread_safe_method
    @tool
    def echo(self, i, spin=0, host=False, ctx=None):
        self._ran(i)
        _spin(spin)
        if host:
            return ctx.call("twice", x=i)
        return i

    @thread_safe_method
    @tool
    def count(self, i, n):
        self._ran(i)
        for k in range(n):
            yield k

    @thread_safe_method
    @tool
    def ran(self):
        """Ids run so far, with those run more than once."""
        with self.acquire_lock():
            ids = [i for ran in self.runs for i in list(ran)]
        seen, twice = set(), []
        for i in ids:
            if i in seen:
                twice.append(i)
            seen.add(i)
        return {"count": len(ids), "twice": twice}
