"""NumPy arrays and scalars in tool hints, for `snakepit types`."""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import numpy.typing as npt

from snakepit_bridge import BaseAdapter, tool


class Arrays(BaseAdapter):
    @tool
    def normalise(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return x / np.linalg.norm(x)

    @tool
    def anything(self, x: np.ndarray, half: Optional[npt.NDArray[np.float16]] = None) -> npt.NDArray[np.floating]:
        return x

    @tool
    def flags(self, n: int) -> npt.NDArray[np.bool_]:
        return np.zeros(n, dtype=bool)

    @tool
    def mean(self, x: npt.NDArray[np.int64]) -> np.float64:
        return x.mean()

    @tool
    def rows(self, x: npt.NDArray[np.uint8]) -> Iterator[npt.NDArray[np.uint8]]:
        yield from x
