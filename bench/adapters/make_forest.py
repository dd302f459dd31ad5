"""Writes the scikit-learn model of the bench's preload section when BENCH_MODEL_KIND=random_forest:
a RandomForestRegressor of about BENCH_MODEL_MB (200) in a joblib file, as a user's training job
would leave one. Run once by bench/preload.ts; the adapter (model_adapters.py) loads the file.

    python bench/adapters/make_forest.py OUT_FILE
"""
import os
import sys

import joblib
import numpy as np
from sklearn.ensemble import RandomForestRegressor

MB_PER_TREE = 1.8  # a fully grown tree on 20,000 rows of 10 features, as joblib writes it

trees = max(1, round(int(os.environ.get("BENCH_MODEL_MB", "200")) / MB_PER_TREE))
rng = np.random.default_rng(0)
X = rng.standard_normal((20_000, 10))
y = X @ rng.standard_normal(10) + rng.standard_normal(20_000)
forest = RandomForestRegressor(n_estimators=trees, random_state=0).fit(X, y)
joblib.dump(forest, sys.argv[1])
print(f"{trees} trees, {os.path.getsize(sys.argv[1]) / 2**20:.0f} MB", file=sys.stderr)
