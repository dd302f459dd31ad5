"""Tools that return and take NumPy arrays and big ints, for the value-mapping tests."""
import numpy as np

from snakepit_bridge import BaseAdapter, ThreadSafeAdapter, tool

DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")


class _Tools:
    stored: dict = {}

    @tool
    def random_matrix(self, rows, cols, seed):
        matrix = np.random.default_rng(seed).random((rows, cols), dtype=np.float32)
        self.stored["matrix"] = matrix
        return matrix

    @tool
    def matches_stored(self, data, shape):
        return data.dtype == np.float32 and bool(np.array_equal(data.reshape(shape), self.stored["matrix"]))

    @tool
    def describe(self, a):
        if isinstance(a, np.ndarray):
            return {"type": "ndarray", "dtype": a.dtype.name, "shape": list(a.shape), "sum": float(a.astype(np.float64).sum())}
        return {"type": type(a).__name__}

    @tool
    def every_dtype(self):
        return {**{name: np.array([0, 1, 2], dtype=name) for name in DTYPES},
                "half": np.array([1.5], dtype=np.float16), "words": np.array(["a", "b"])}

    @tool
    def double_in_place(self, x):
        """Doubles an array where it is (which fails on a read-only one), keeps a copy, returns it."""
        x *= 2
        self.stored["doubled"] = x.copy()
        return {"type": type(x).__name__, "dtype": x.dtype.name, "shape": list(x.shape), "writeable": x.flags.writeable, "array": x}

    @tool
    def same_as_doubled(self, x):
        kept = self.stored["doubled"]
        return isinstance(x, np.ndarray) and x.dtype == kept.dtype and x.shape == kept.shape and bool(np.array_equal(x, kept))

    @tool
    def keywords(self, dtype, shape, data):
        return {"dtype": dtype, "shape": shape, "data": type(data).__name__}

    @tool
    def echo(self, **value):
        return value

    @tool
    def big_ints(self):
        return {"big": 2**70, "negative": -(2**60), "edge": 2**53 - 1, "over": 2**53, "numpy": np.int64(2**62),
                "nested": [{"n": 2**64}], "small": 7}

    @tool
    def add_one(self, n):
        return n + 1


class Arrays(_Tools, BaseAdapter):
    pass


class ThreadedArrays(_Tools, ThreadSafeAdapter):
    pass
