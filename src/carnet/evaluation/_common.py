"""Shared helpers of the metric modules: input coercion, validation, summaries, the family seam."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np

from carnet.errors import InvalidInput, MetricUnavailable

__all__ = [
    "QUANTILES",
    "FamilyData",
    "Impl",
    "as_1d",
    "check_length",
    "numeric_matrix",
    "option_int",
    "quiet",
    "summary",
    "take_rows",
    "unavailable",
]

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


class FamilyData(Protocol):
    """Prepared, validated inputs of one family; ``notes`` collects caveats found while computing."""

    n: int
    notes: list[str]


@dataclass(frozen=True)
class Impl:
    """How to compute one metric: ``point(data)``, and ``batch(data, W)`` over bootstrap weights.

    ``W`` has shape ``(B, n)``: row ``b`` holds how often each row is drawn in resample ``b``;
    ``batch`` returns ``(B,)`` values (NaN where undefined). ``batch(data, ones((1, n)))``
    equals ``point(data)``.
    """

    point: Callable[[Any], float]
    batch: Callable[[Any, np.ndarray], np.ndarray] | None = None


@contextmanager
def quiet() -> Iterator[None]:
    """Silence numpy floating-point warnings (undefined values become NaN plus a note).

    Only ``numpy.errstate`` (thread-local): ``warnings.catch_warnings`` mutates process-wide
    state and is not safe when evaluations run in threads (e.g. Optuna ``n_jobs > 1``).
    """
    with np.errstate(all="ignore"):
        yield


def unavailable(name: str, reason: str, fieldname: str) -> MetricUnavailable:
    """The error raised when metric ``name`` cannot be computed from the inputs."""
    return MetricUnavailable(f"metric {name!r} is unavailable: {reason}", field=fieldname)


def as_1d(values: Any, fieldname: str, *, numeric: bool = False) -> np.ndarray:
    """``values`` (list, Series, array, (n, 1) array) as a 1-D numpy array, or ``InvalidInput``."""
    if values is None:
        raise InvalidInput(f"{fieldname} is required", field=fieldname)
    arr = np.asarray(getattr(values, "to_numpy", lambda: values)())
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidInput(f"{fieldname} must be one-dimensional, got shape {arr.shape}", field=fieldname)
    if numeric:
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{fieldname} must be numeric: {exc}", field=fieldname) from None
        if not np.isfinite(arr).all():
            raise InvalidInput(f"{fieldname} contains NaN or infinite values", field=fieldname)
    return arr


def check_length(expected: int, actual: int, fieldname: str, against: str = "truth") -> None:
    """Raise ``InvalidInput`` naming ``fieldname`` when its length differs from ``against``'s."""
    if expected != actual:
        raise InvalidInput(
            f"length mismatch: {fieldname} has {actual} rows but {against} has {expected}", field=fieldname
        )


def option_int(options: dict[str, Any], key: str, default: int | None, minimum: int = 1) -> int | None:
    """``options[key]`` as an int >= ``minimum`` (``default`` when absent), or ``InvalidInput``."""
    value = options.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidInput(f"options[{key!r}] must be an integer >= {minimum}, got {value!r}", field=key)
    return int(value)


def summary(values: np.ndarray) -> dict[str, float]:
    """count, mean, std, min, quantiles p01..p99 and max of a numeric vector (empty -> count 0)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"count": 0}
    out = {"count": int(x.size), "mean": float(x.mean()), "std": float(x.std()), "min": float(x.min())}
    for q, v in zip(QUANTILES, np.quantile(x, QUANTILES), strict=True):
        out[f"p{round(q * 100):02d}"] = float(v)
    out["max"] = float(x.max())
    return out


def numeric_matrix(X: Any, notes: list[str], fieldname: str = "X") -> np.ndarray:
    """A float matrix from ``X`` (DataFrame or array-like).

    A DataFrame with non-numeric columns is one-hot encoded (``pandas.get_dummies``) and
    then every column is standardised (zero mean, unit variance; constant columns left at
    0); all-numeric input is used as given (the caller's preprocessing). Missing values are
    filled with the column median, with a note.
    """
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        frame = X
        non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        if non_numeric:
            frame = pd.get_dummies(frame, columns=non_numeric, dtype=float)
            notes.append(
                f"{fieldname}: one-hot encoded {len(non_numeric)} non-numeric column(s) and "
                "standardised all columns"
            )
        mat = frame.to_numpy(dtype=float, na_value=np.nan)
        if non_numeric:
            std = np.nanstd(mat, axis=0)
            mat = (mat - np.nanmean(mat, axis=0)) / np.where(std > 0, std, 1.0)
    else:
        try:
            mat = np.asarray(X, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"{fieldname} must be numeric or a DataFrame: {exc}", field=fieldname
            ) from None
    if mat.ndim == 1:
        mat = mat[:, None]
    if mat.ndim != 2:
        raise InvalidInput(f"{fieldname} must be two-dimensional, got shape {mat.shape}", field=fieldname)
    missing = ~np.isfinite(mat)
    if missing.any():
        with quiet():
            med = np.nanmedian(np.where(missing, np.nan, mat), axis=0)
        med = np.where(np.isfinite(med), med, 0.0)
        mat = np.where(missing, med[None, :], mat)
        notes.append(f"{fieldname}: filled {int(missing.sum())} missing value(s) with column medians")
    return cast("np.ndarray", mat)


def take_rows(n: int, limit: int, seed: int) -> np.ndarray | None:
    """Sorted seeded sample of ``limit`` row positions out of ``n``; None when ``n <= limit``."""
    if n <= limit:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=limit, replace=False))
