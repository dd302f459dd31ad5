"""Adapters used by `npm run bench`.

Bench          — process profile: `echo` (tiny call) and `matmul` (CPU-bound NumPy).
BenchThreaded  — thread profile: the same tools, declared thread-safe.

`matmul(n)` multiplies two fixed n×n float64 matrices and returns the float sum of the
product. DEFAULT_N was measured so one product takes ≈10 ms on the 2-core benchmark machine
with OPENBLAS_NUM_THREADS=1 (600 → 8.8–9.3 ms, 620 → 10.3–11.2 ms). The input matrices are
built once per n and shared read-only, so a call measures the product, not the set-up.
NumPy releases the GIL inside the product, so threads of one worker run in parallel.
"""

import threading

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


class Bench(BaseAdapter):
    @tool(description="Echo the keyword arguments back")
    def echo(self, **value):
        return value

    @tool(description="Sum of the product of two n x n float64 matrices (CPU-bound NumPy)")
    def matmul(self, n: int = DEFAULT_N) -> float:
        return _matmul(n)


class BenchThreaded(ThreadSafeAdapter):
    __thread_safe__ = True

    @thread_safe_method
    @tool(description="Echo the keyword arguments back")
    def echo(self, **value):
        return value

    @thread_safe_method
    @tool(description="Sum of the product of two n x n float64 matrices (CPU-bound NumPy)")
    def matmul(self, n: int = DEFAULT_N) -> float:
        return _matmul(n)
