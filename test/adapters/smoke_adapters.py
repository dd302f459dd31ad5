"""Tools for test/pythons.test.ts, the smoke suite run on every supported Python (3.8+): only the
standard library, and NumPy where it imports."""
import hashlib
import os
import platform
import sys
import time

from snakepit_bridge import BaseAdapter, ThreadSafeAdapter, tool


def pattern(size):
    """`size` bytes of a repeating 0..250 pattern (Node builds the same to check them)."""
    return (bytes(range(251)) * (size // 251 + 1))[:size]


class _Tools:
    cancels = []  # what `cooperative` saw, for a later call to read

    @tool
    def interpreter(self):
        try:
            import numpy
        except ImportError:
            numpy = None
        gil = getattr(sys, "_is_gil_enabled", None)
        return {"version": platform.python_version(), "gil": gil() if gil else True,
                "numpy": numpy.__version__ if numpy else None}

    @tool
    def pid(self):
        return os.getpid()

    @tool
    def count(self, n):
        for i in range(n):
            yield {"i": i, "square": i * i}

    @tool
    def ask_node(self, name, ctx, **kwargs):
        return ctx.call(name, **kwargs)

    @tool
    def cooperative(self, seconds, ctx):
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if ctx.cancelled:
                self.cancels.append(time.monotonic() - started)
                return "stopped"
            time.sleep(0.005)
        return "finished"

    @tool
    def seen_cancels(self):
        return list(self.cancels)

    @tool
    def sleep(self, seconds, started):
        with open(started, "w"):
            pass
        time.sleep(seconds)
        return os.getpid()

    @tool
    def digest(self, blob):
        return {"size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}

    @tool
    def pattern(self, size):
        return pattern(size)

    @tool
    def arrays(self, a):
        """A typed array as it arrives: a NumPy array (doubled, back as a typed array) where NumPy
        imports, else a memoryview of the same values."""
        if isinstance(a, memoryview):
            return {"type": "memoryview", "format": a.format, "values": a.tolist()}
        return {"type": type(a).__name__, "dtype": a.dtype.name, "doubled": a * 2}

    @tool
    def cube(self, x):
        """A 3-D array as it arrives (NumPy where it imports, else a memoryview), its first
        element set to -1 where it is: that fails on a read-only one."""
        x[0, 0, 0] = -1
        if isinstance(x, memoryview):
            return {"type": "memoryview", "format": x.format, "shape": list(x.shape), "values": x.tolist()}
        return {"type": "ndarray", "dtype": x.dtype.name, "shape": list(x.shape), "array": x}


class Smoke(_Tools, BaseAdapter):
    pass


class ThreadedSmoke(_Tools, ThreadSafeAdapter):
    pass
