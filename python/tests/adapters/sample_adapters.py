"""Adapters shared by the Python and Node test suites (Node uses these exact names)."""
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

from snakepit_bridge import BaseAdapter, ThreadSafeAdapter, thread_safe_method, tool


def _where():
    return {"pid": os.getpid(), "thread": threading.get_ident()}


class Calc(BaseAdapter):
    def __init__(self):
        self.kept = []

    @tool(description="Add two numbers")
    def add(self, a, b):
        return a + b

    @tool(description="Return the arguments unchanged")
    def echo(self, **value):
        return value

    @tool
    def ping(self):
        return "pong"

    @tool(description="Sleep, then say where the call ran")
    def sleep(self, seconds, started=None):
        if started:  # a file that tells a test the call has begun in Python
            open(started, "w").close()
        time.sleep(seconds)
        return _where()

    @tool
    def fail(self, message):
        raise ValueError(message)

    @tool
    def pid(self):
        return os.getpid()

    @tool(description="Stream 0..n-1")
    def count(self, n):
        for i in range(n):
            yield i

    @tool(description="Busy-loop on the CPU for the given time")
    def spin(self, seconds):
        end = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < end:
            n += 1
        return n

    @tool
    def exit(self, code):
        """Ends the process with `code` (a tool raising SystemExit only fails its call)."""
        sys.stdout.flush()
        os._exit(code)

    @tool
    def system_exit(self, code):
        sys.exit(code)

    @tool
    def segfault(self):
        ctypes.string_at(0)

    @tool
    def memory_error(self):
        raise MemoryError("simulated out of memory")

    @tool(description="Allocate and keep mb MiB; returns the total kept")
    def grow(self, mb):
        self.kept.append(bytearray(int(mb * 1024 * 1024)))
        return sum(len(b) for b in self.kept) // (1024 * 1024)

    @tool(description="Start `sleep 300` as a child process")
    def spawn_child(self):
        return subprocess.Popen(["sleep", "300"]).pid

    @tool
    def chatty(self):
        print("chatty says hello on stdout")
        print("chatty says hello on stderr", file=sys.stderr)
        return "ok"


class Threaded(ThreadSafeAdapter):
    __thread_safe__ = True

    def __init__(self):
        super().__init__()
        self.counter = 0

    @thread_safe_method
    @tool
    def sleep(self, seconds, started=None):
        if started:  # a file that tells a test the call has begun in Python
            open(started, "w").close()
        time.sleep(seconds)
        return _where()

    @thread_safe_method
    @tool
    def bump(self):
        with self.acquire_lock():
            self.counter += 1
            return self.counter

    @thread_safe_method
    @tool
    def counter_value(self):
        with self.acquire_lock():
            return self.counter

    @tool(description="Sleep; NOT marked thread-safe")
    def unsafe_sleep(self, seconds):
        time.sleep(seconds)
        return _where()

    @thread_safe_method
    @tool(description="Work with a pandas DataFrame for the given time")
    def pandas_work(self, seconds):
        import pandas as pd

        end = time.perf_counter() + seconds
        total = 0.0
        df = pd.DataFrame({"a": range(100), "b": range(100)})
        while time.perf_counter() < end:
            total += float(df.sum().sum())
            df = df.assign(c=df["a"] * 2)
        return total

    @thread_safe_method
    @tool(description="NumPy n x n matrix product; returns the sum")
    def matmul(self, n):
        import numpy as np

        a = np.ones((n, n))
        return float((a @ a).sum())

    @thread_safe_method
    @tool
    def pid(self):
        return os.getpid()


class NotThreadSafe(BaseAdapter):
    @tool
    def ping(self):
        return "pong"


class BrokenInit(BaseAdapter):
    def __init__(self):
        raise RuntimeError("model file missing")

    @tool
    def ping(self):
        return "pong"


class FailsWhileFlagged(BaseAdapter):
    """Fails to start while the file named by $SNAKEPIT_TEST_FAIL_FLAG exists."""

    def __init__(self):
        if os.path.exists(os.environ["SNAKEPIT_TEST_FAIL_FLAG"]):
            raise RuntimeError("flagged to fail")

    @tool
    def pid(self):
        return os.getpid()


class PrintsOnInit(BaseAdapter):
    def __init__(self):
        print('{"type":"ready"}')
        print("loading model... done")
        print('{"type":"startup_error","message":"not really"}', file=sys.stderr)

    @tool
    def ping(self):
        return "pong"


class IgnoresSigterm(BaseAdapter):
    def __init__(self):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    @tool
    def ping(self):
        return "pong"
