"""For bench/nativeThreads.ts: what native thread pools a thread-profile call gets, and what a
call that uses them costs. Needs scikit-learn, threadpoolctl and PyTorch (not installed by setup)."""
import os
import time

from snakepit_bridge import ThreadSafeAdapter, thread_safe_method, tool

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class NativeThreads(ThreadSafeAdapter):
    def __init__(self):
        super().__init__()
        import numpy as np
        import torch
        from sklearn.cluster import KMeans

        self.np, self.torch, self.KMeans = np, torch, KMeans
        self.points = np.random.default_rng(0).standard_normal((40_000, 16))
        self.matrix = torch.randn(800, 800)

    @thread_safe_method
    @tool(description="The thread variables, threadpoolctl's pools, torch.get_num_threads() and the process's threads before and after a KMeans fit, inside a call")
    def pools(self):
        from threadpoolctl import threadpool_info

        threads_before = len(os.listdir("/proc/self/task"))
        self.kmeans()
        return {
            "process_threads": [threads_before, len(os.listdir("/proc/self/task"))],
            "env": {name: os.environ.get(name) for name in THREAD_VARS},
            "threadpoolctl": [{"api": p["internal_api"], "prefix": p["prefix"], "num_threads": p["num_threads"]} for p in threadpool_info()],
            "torch": self.torch.get_num_threads(),
        }

    @thread_safe_method
    @tool(description="Seconds for one KMeans fit (OpenMP) on 40 000 × 16 points")
    def kmeans(self):
        started = time.perf_counter()
        self.KMeans(n_clusters=8, n_init=1, max_iter=50, random_state=0).fit(self.points)
        return time.perf_counter() - started

    @thread_safe_method
    @tool(description="Seconds for 20 products of two 800 × 800 float32 tensors (PyTorch's intra-op threads)")
    def matmul(self):
        started = time.perf_counter()
        for _ in range(20):
            self.matrix @ self.matrix
        return time.perf_counter() - started
