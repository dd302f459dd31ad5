"""The seed's thread-safe inference adapter, with a small NumPy model in place of PyTorch."""
from typing import List, TypedDict

import numpy as np

from snakepit_bridge.base_adapter_threaded import ThreadSafeAdapter, thread_safe_method, tool


class TinyModel:
    """A two-layer perceptron with fixed random weights; calling it releases the GIL in BLAS."""

    def __init__(self, inputs=3, hidden=256, outputs=2, seed=7):
        rng = np.random.default_rng(seed)
        self.w1 = rng.standard_normal((inputs, hidden))
        self.w2 = rng.standard_normal((hidden, outputs))

    def __call__(self, x):
        return np.tanh(np.maximum(x @ self.w1, 0.0) @ self.w2)


class Prediction(TypedDict):
    prediction: List[float]


class InferenceAdapter(ThreadSafeAdapter):
    __thread_safe__ = True  # Required declaration

    def __init__(self):
        super().__init__()
        # Pattern 1: shared read-only (loaded once)
        self.model = TinyModel()
        # Pattern 3: shared mutable (requires locking)
        self.request_count = 0

    @thread_safe_method
    @tool(description="Run inference")
    def predict(self, input_data: List[float]) -> Prediction:
        # Pattern 2: thread-local cache
        cache = self.get_thread_local("cache", {})
        key = tuple(input_data)
        if key not in cache:
            cache[key] = self.model(np.asarray(input_data, dtype=float)).tolist()
        # Update shared state (lock required)
        with self.acquire_lock():
            self.request_count += 1
        return {"prediction": cache[key]}

    @thread_safe_method
    @tool(description="How many predictions this worker served")
    def served(self) -> int:
        with self.acquire_lock():
            return self.request_count
