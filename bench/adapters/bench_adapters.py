"""Adapters used by `npm run bench`.

Bench          — process profile: `echo` (tiny call), `matmul` (CPU-bound NumPy, GIL released),
                 `spin` (CPU-bound pure Python, GIL held), `sleep`, `consume` / `produce`
                 (large bytes each way) and the calibrations the figures' ideals come from.
BenchThreaded  — thread profile: the same tools, declared thread-safe.

`matmul(n)` multiplies two fixed n×n float64 matrices and returns the float sum of the
product. DEFAULT_N was measured so one product takes ≈10 ms on the 2-core benchmark machine
with OPENBLAS_NUM_THREADS=1 (600 → 8.8–9.3 ms, 620 → 10.3–11.2 ms). The input matrices are
built once per n and shared read-only, so a call measures the product, not the set-up.
NumPy releases the GIL inside the product, so threads of one worker run in parallel.
"""

import threading
import time

from snakepit_bridge import BaseAdapter, ThreadSafeAdapter, thread_safe_method, tool

DEFAULT_N = 610

_matrices = {}
_matrices_lock = threading.Lock()


def _inputs(n):
    pair = _matrices.get(n)
    if pair is None:
        import numpy as np

        with _matrices_lock:
            pair = _matrices.get(n)
            if pair is None:
                rng = np.random.default_rng(n)
                a = rng.random((n, n))
                pair = (a, a.T.copy())
                _matrices[n] = pair
    return pair


def _matmul(n):
    n = int(n)
    if n < 1 or n > 4096:
        raise ValueError("n must be between 1 and 4096, got %d" % n)
    a, b = _inputs(n)
    return float((a @ b).sum())


def _spin(iterations):
    # A plain bytecode loop: holds the GIL the whole time, as pure-Python work does.
    total = 0
    for i in range(int(iterations)):
        total += i * i % 7
    return total


def _spin_iterations_for(ms):
    """Iterations of `_spin` that take about `ms` milliseconds here (median of 5 timings)."""
    probe = 200_000
    timings = []
    for _ in range(5):
        t0 = time.perf_counter()
        _spin(probe)
        timings.append(time.perf_counter() - t0)
    return max(1, int(probe * (float(ms) / 1000) / _median(timings)))


def _matmul_seconds(n, reps):
    """Median seconds of one product, timed inside Python: the ideal's unit of work."""
    _matmul(n)
    timings = []
    for _ in range(int(reps)):
        t0 = time.perf_counter()
        _matmul(n)
        timings.append(time.perf_counter() - t0)
    return _median(timings)


def _median(values):
    # Not statistics.median: importing statistics costs every bench worker's start ≈ 16 ms,
    # which the start-up figures would charge to Snakepit.
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


_blob = {}


def _produce(size):
    # Built once per size, so a call measures carrying the bytes, not making them.
    size = int(size)
    if size not in _blob:
        _blob.clear()
        _blob[size] = bytes(size)
    return _blob[size]


class _Tools:
    """The tools both adapters offer; all are safe to run on several threads at once."""

    @thread_safe_method
    @tool(description="Echo the keyword arguments back")
    def echo(self, **value):
        return value

    @thread_safe_method
    @tool(description="Sum of the product of two n x n float64 matrices (CPU-bound NumPy)")
    def matmul(self, n: int = DEFAULT_N) -> float:
        return _matmul(n)

    @thread_safe_method
    @tool(description="Median seconds of one matmul, timed inside Python")
    def matmul_seconds(self, n: int = DEFAULT_N, reps: int = 20) -> float:
        return _matmul_seconds(n, reps)

    @thread_safe_method
    @tool(description="A pure-Python loop of the given iterations (holds the GIL)")
    def spin(self, iterations: int) -> int:
        return _spin(iterations)

    @thread_safe_method
    @tool(description="Iterations of spin that take about ms milliseconds")
    def spin_iterations_for(self, ms: float) -> int:
        return _spin_iterations_for(ms)

    @thread_safe_method
    @tool(description="Sleep for ms milliseconds (releases the GIL)")
    def sleep(self, ms: float) -> None:
        time.sleep(float(ms) / 1000)

    @thread_safe_method
    @tool(description="Length of the bytes received")
    def consume(self, data: bytes) -> int:
        return len(data)

    @thread_safe_method
    @tool(description="size zero bytes, built once per size")
    def produce(self, size: int) -> bytes:
        return _produce(size)


class Bench(_Tools, BaseAdapter):
    pass


class BenchThreaded(_Tools, ThreadSafeAdapter):
    # Every tool keeps its state in locals or in read-only caches built under a lock.
    __thread_safe__ = True
