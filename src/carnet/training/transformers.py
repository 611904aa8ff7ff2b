"""Small column transformers used in carnet's preprocessing pipelines.

They are plain scikit-learn estimators whose fitted state is only strings, ints and
tuples, so pipelines holding them serialise with skops. Saved models refer to them by
import path: keep the module path and class names stable.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["DATE_PARTS", "SKOPS_TYPES", "CategoryStrings", "DateParts"]

#: the parts :class:`DateParts` can extract
DATE_PARTS = ("year", "month", "day", "weekday", "hour", "epoch")

_ACCESSORS = {"weekday": "day_of_week"}

#: fully qualified names of the classes here, for a skops trusted-types list
SKOPS_TYPES = (
    "carnet.training.transformers.CategoryStrings",
    "carnet.training.transformers.DateParts",
)


def _names(X: Any) -> list[str]:
    if hasattr(X, "columns"):
        return [str(c) for c in X.columns]
    return [f"x{i}" for i in range(np.asarray(X).reshape(len(X), -1).shape[1])]


def _columns(X: Any) -> list[pd.Series]:
    if isinstance(X, pd.DataFrame):
        return [X.iloc[:, i] for i in range(X.shape[1])]
    arr = np.asarray(X, dtype=object)
    arr = arr.reshape(len(arr), -1)
    return [pd.Series(arr[:, i]) for i in range(arr.shape[1])]


def _text(value: Any) -> str:
    """``str(value)``, with integral floats written as integers (``1.0`` and ``1`` are one category)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class DateParts(TransformerMixin, BaseEstimator):
    """Expand date/time columns into numeric parts (NaN where a value is missing or unparsable).

    Args:
        parts: any of ``year``, ``month``, ``day``, ``weekday`` (Monday = 0), ``hour`` and
            ``epoch`` (seconds since 1970-01-01 UTC). Strings are parsed as dates; naive
            times are taken as UTC.
    """

    def __init__(self, parts: tuple[str, ...] = ("year", "month", "day", "weekday", "hour")) -> None:
        self.parts = parts

    def fit(self, X: Any, y: Any = None) -> DateParts:
        """Remember the input columns."""
        unknown = [p for p in self.parts if p not in DATE_PARTS]
        if unknown or not self.parts:
            raise ValueError(
                f"DateParts parts must be a non-empty subset of {DATE_PARTS}, got {self.parts!r}"
            )
        self.columns_ = _names(X)
        self.n_features_in_ = len(self.columns_)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """A float array with one column per (input column, part)."""
        cols = _columns(X)
        if len(cols) != self.n_features_in_:
            raise ValueError(f"DateParts was fitted on {self.n_features_in_} columns, got {len(cols)}")
        out = []
        for col in cols:
            when = pd.to_datetime(col, errors="coerce", utc=True, format="mixed")
            when = pd.Series(pd.DatetimeIndex(when), index=col.index)
            for part in self.parts:
                if part == "epoch":
                    values = (when - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
                else:
                    values = getattr(when.dt, _ACCESSORS.get(part, part))
                out.append(values.to_numpy(dtype="float64", na_value=np.nan))
        return np.column_stack(out) if out else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``<column>_<part>`` for every input column and part."""
        names = list(input_features) if input_features is not None else self.columns_
        return np.asarray([f"{c}_{p}" for c in names for p in self.parts], dtype=object)


def _strings(col: pd.Series) -> np.ndarray:
    """One column as an object array of ``_text`` strings, ``np.nan`` where missing.

    Columns already holding only strings are copied as they are and categoricals convert
    their categories once; only mixed columns pay a per-value conversion.
    """
    missing = col.isna().to_numpy()
    if isinstance(col.dtype, pd.CategoricalDtype):
        labels = np.asarray([_text(c) for c in col.cat.categories] + [np.nan], dtype=object)
        return cast(
            "np.ndarray", labels[col.cat.codes.to_numpy()]
        )  # code -1 (missing) picks the trailing NaN
    values = col.to_numpy(dtype=object, na_value=np.nan)  # None, pd.NA -> NaN
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return cast("np.ndarray", values)
    return np.asarray([np.nan if m else _text(v) for v, m in zip(values, missing, strict=True)], dtype=object)


class CategoryStrings(TransformerMixin, BaseEstimator):
    """Turn categorical columns (object, string, category, bool, mixed) into strings, NaN kept as NaN.

    Encoders and imputers need one comparable type per column; a column mixing ``1`` and
    ``"a"``, or holding ``pd.NA``, would otherwise break them.
    """

    def fit(self, X: Any, y: Any = None) -> CategoryStrings:
        """Remember the input columns."""
        self.columns_ = _names(X)
        self.n_features_in_ = len(self.columns_)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """An object array of strings, with ``np.nan`` for missing values."""
        cols = _columns(X)
        out = np.empty((len(X), len(cols)), dtype=object)
        for i, col in enumerate(cols):
            out[:, i] = _strings(col)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The input column names, unchanged."""
        names = list(input_features) if input_features is not None else self.columns_
        return np.asarray(names, dtype=object)
