"""Small importable models for the flavor tests (pickle needs classes it can import by name)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class Doubler:
    """A plain Python model no safe flavor can store: twice the row sums."""

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=float).sum(axis=1) * 2


class TouchPayload:
    """Pickles into ``Path.touch(marker)``: creates the marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))

    def predict(self, X: Any) -> Any:
        return X


class ShellPayload:
    """Pickles into ``os.system("touch marker")``: runs a shell command when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))

    def predict(self, X: Any) -> Any:
        return X


class Shift(TransformerMixin, BaseEstimator):
    """A custom scikit-learn transformer outside carnet's trusted modules."""

    def __init__(self, by: float = 1.0) -> None:
        self.by = by

    def fit(self, X: Any, y: Any = None) -> Shift:
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=float) + self.by
