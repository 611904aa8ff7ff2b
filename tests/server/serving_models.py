"""Small models the serving tests register with the pickle opt-in (importable by the server)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


class Failing:
    """Predicts 1, except that a row with ``x < -1e6`` makes the whole call raise."""

    def predict(self, X: Any) -> np.ndarray:
        values = np.asarray(X["x"], dtype=float)
        if (values < -1e6).any():
            raise ValueError("x out of the range this model accepts")
        return np.ones(len(values), dtype=np.int64)


class Slow:
    """Sleeps ``seconds`` per predict call, then returns the row sums."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, X: Any) -> np.ndarray:
        time.sleep(self.seconds)
        return np.asarray(X, dtype=float).sum(axis=1)


class Constant:
    """Always predicts ``value`` (a second version that is easy to tell apart)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.value, dtype=np.int64)
