"""The model of the bench's preload section (bench/preload.ts): a module that takes ≈ 2 s to load
and holds a ≈ 200 MB NumPy model, as a user's adapter that loads its weights at import does.

BENCH_MODEL_MB (200) sizes the weights: 8 MB float64 matrices, made from a fixed seed (standing in
for reading them from disk); BENCH_MODEL_LOAD_S (2) is how long the import takes in all, the rest
of it spent sleeping as a slow disk or a framework's own start-up would.

BENCH_MODEL_KIND=random_forest loads a real scikit-learn RandomForestRegressor instead, from the
joblib file BENCH_MODEL_FILE (written by make_forest.py), taking as long as that takes.
"""
import os
import time

import numpy as np

from snakepit_bridge import BaseAdapter, tool

FOREST = None
WEIGHTS: list = []
if os.environ.get("BENCH_MODEL_KIND") == "random_forest":
    import joblib

    FOREST = joblib.load(os.environ["BENCH_MODEL_FILE"])
else:
    _started = time.monotonic()
    _rng = np.random.default_rng(0)
    WEIGHTS = [_rng.standard_normal((1000, 1000)) for _ in range(max(1, int(os.environ.get("BENCH_MODEL_MB", "200")) // 8))]
    time.sleep(max(0.0, float(os.environ.get("BENCH_MODEL_LOAD_S", "2")) - (time.monotonic() - _started)))


class Model(BaseAdapter):
    @tool
    def predict(self, seed: int = 0) -> float:
        """Runs an input through every weight matrix: the whole model is read."""
        if FOREST is not None:  # every tree reads its nodes
            return float(FOREST.predict(np.random.default_rng(seed).standard_normal((1, 10)))[0])
        v = np.random.default_rng(seed).standard_normal(1000)
        for w in WEIGHTS:
            v = np.tanh(w @ v)
        return float(v.sum())

    @tool
    def pid(self) -> int:
        return os.getpid()

