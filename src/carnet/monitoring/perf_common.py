"""Shared parts of label-free performance estimation: estimates, reference chunk statistics, state I/O.

An estimate's **band** is its sampling error: the standard deviation of the realized metric
across equal-size reference chunks, scaled to the window size as
``SE(n) = std_chunks * sqrt(chunk_size / n)``; ``lower/upper = value -/+ band_sigmas * SE``.
The **alert threshold** is ``reference_mean -/+ alert_sigmas * std_chunks`` on the side where
the metric gets worse (below for accuracy-like metrics, above for errors).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from carnet.errors import InvalidInput

__all__ = [
    "MIN_CHUNKS",
    "Estimate",
    "ReferenceStats",
    "check_metrics",
    "check_sigmas",
    "chunk_slices",
    "dump_state",
    "load_state",
    "make_estimate",
    "plain",
    "resolve_chunk_size",
]

#: the reference must split into at least this many full chunks
MIN_CHUNKS = 2
_DEFAULT_CHUNKS = 10


def _finite(value: float | None) -> float | None:
    """``value`` as a float, or None when missing, NaN or infinite (JSON has no NaN)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def plain(value: Any) -> Any:
    """A numpy scalar as the equivalent Python value (labels stay JSON-friendly)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


@dataclass(frozen=True)
class Estimate:
    """One estimated metric on one window, with its sampling-error band and alert verdict.

    ``lower``/``upper`` bound the band (``value -/+ band_sigmas * standard_error``, clipped to
    the metric's range); ``alert_lower`` is set for metrics where higher is better and
    ``alert_upper`` for error metrics; ``alert`` is True when ``value`` crosses the one set.
    """

    metric: str
    value: float
    lower: float
    upper: float
    standard_error: float
    reference_mean: float
    alert_lower: float | None
    alert_upper: float | None
    alert: bool
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes None)."""
        return {
            "metric": self.metric,
            "value": _finite(self.value),
            "lower": _finite(self.lower),
            "upper": _finite(self.upper),
            "standard_error": _finite(self.standard_error),
            "reference_mean": _finite(self.reference_mean),
            "alert_lower": _finite(self.alert_lower),
            "alert_upper": _finite(self.alert_upper),
            "alert": self.alert,
            "rows": self.rows,
        }


@dataclass(frozen=True)
class ReferenceStats:
    """Realized metric on the reference chunks: mean, std (ddof=1) and how many chunks of what size."""

    mean: float
    std: float
    chunks: int
    chunk_size: int

    @classmethod
    def from_values(cls, values: Sequence[float], chunk_size: int) -> ReferenceStats:
        """Statistics over the finite per-chunk values (NaN when fewer than two are finite)."""
        arr = np.asarray(values, dtype=float)
        arr = arr[np.isfinite(arr)]
        mean = float(arr.mean()) if arr.size else float("nan")
        std = float(arr.std(ddof=1)) if arr.size >= 2 else float("nan")
        return cls(mean=mean, std=std, chunks=int(arr.size), chunk_size=int(chunk_size))

    def standard_error(self, rows: int) -> float:
        """The sampling error of the metric on a window of ``rows`` rows."""
        return self.std * math.sqrt(self.chunk_size / rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "mean": _finite(self.mean),
            "std": _finite(self.std),
            "chunks": self.chunks,
            "chunk_size": self.chunk_size,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceStats:
        """The inverse of :meth:`to_dict`."""

        def num(key: str) -> float:
            value = data.get(key)
            return float("nan") if value is None else float(value)

        return cls(
            mean=num("mean"), std=num("std"), chunks=int(data["chunks"]), chunk_size=int(data["chunk_size"])
        )


def make_estimate(
    metric: str,
    value: float,
    stats: ReferenceStats,
    rows: int,
    *,
    band_sigmas: float,
    alert_sigmas: float,
    greater_is_better: bool,
    bounds: tuple[float, float],
) -> Estimate:
    """The :class:`Estimate` of ``metric`` at ``value`` on a window of ``rows`` rows."""
    se = stats.standard_error(rows)
    low, high = bounds
    lower = float(np.clip(value - band_sigmas * se, low, high)) if math.isfinite(se) else float("nan")
    upper = float(np.clip(value + band_sigmas * se, low, high)) if math.isfinite(se) else float("nan")
    sign = -1.0 if greater_is_better else 1.0
    threshold = stats.mean + sign * alert_sigmas * stats.std
    threshold_ok = math.isfinite(threshold) and math.isfinite(value)
    if greater_is_better:
        alert_lower, alert_upper = _finite(max(threshold, low) if math.isfinite(threshold) else None), None
        alert = threshold_ok and value < threshold
    else:
        alert_lower, alert_upper = None, _finite(threshold)
        alert = threshold_ok and value > threshold
    return Estimate(
        metric=metric,
        value=float(value),
        lower=lower,
        upper=upper,
        standard_error=float(se),
        reference_mean=stats.mean,
        alert_lower=alert_lower,
        alert_upper=alert_upper,
        alert=bool(alert),
        rows=int(rows),
    )


def check_metrics(
    metrics: Sequence[str], allowed: Sequence[str], fieldname: str = "metrics"
) -> tuple[str, ...]:
    """``metrics`` as a de-duplicated tuple, or ``InvalidInput`` naming the allowed choices."""
    if isinstance(metrics, str) or not isinstance(metrics, Sequence) or not metrics:
        raise InvalidInput(
            f"{fieldname} must be a non-empty list of metric names from {', '.join(allowed)}", field=fieldname
        )
    unknown = [m for m in metrics if m not in allowed]
    if unknown:
        raise InvalidInput(
            f"unknown metric(s) {', '.join(map(repr, unknown))} in {fieldname}; expected any of "
            f"{', '.join(allowed)}",
            field=fieldname,
        )
    return tuple(dict.fromkeys(metrics))


def check_sigmas(value: float, fieldname: str) -> float:
    """A positive finite multiplier, or ``InvalidInput``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{fieldname} must be a positive number, got {value!r}", field=fieldname)
    if value <= 0:
        raise InvalidInput(f"{fieldname} must be a positive number, got {value!r}", field=fieldname)
    return float(value)


def resolve_chunk_size(chunk_size: int | None, rows: int) -> int:
    """The reference chunk size: given, or a tenth of the reference; at least ``MIN_CHUNKS`` chunks."""
    if chunk_size is None:
        chunk_size = rows // _DEFAULT_CHUNKS
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
        raise InvalidInput(f"chunk_size must be a positive integer, got {chunk_size!r}", field="chunk_size")
    chunk_size = int(chunk_size)
    if chunk_size < 1 or rows // chunk_size < MIN_CHUNKS:
        raise InvalidInput(
            f"the reference has {rows} rows: too few for {MIN_CHUNKS} chunks of {max(chunk_size, 1)} rows; "
            "pass a smaller chunk_size or a larger reference",
            field="chunk_size",
        )
    return chunk_size


def chunk_slices(rows: int, chunk_size: int) -> list[slice]:
    """Consecutive full chunks of ``chunk_size`` rows (a trailing partial chunk is left out)."""
    return [slice(start, start + chunk_size) for start in range(0, rows - chunk_size + 1, chunk_size)]


def dump_state(kind: str, state: dict[str, Any]) -> bytes:
    """``state`` as UTF-8 JSON bytes tagged with ``format = kind``."""
    return json.dumps({"format": kind, **state}, allow_nan=False, separators=(",", ":")).encode("utf-8")


def load_state(kind: str, data: bytes) -> dict[str, Any]:
    """The state saved by :func:`dump_state` for ``kind``, or ``InvalidInput`` when it is something else."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidInput(f"expected the bytes returned by save(), got {type(data).__name__}", field="data")
    try:
        state = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"not a saved {kind} state: {exc}", field="data") from None
    if not isinstance(state, dict) or state.get("format") != kind:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InvalidInput(f"not a saved {kind} state (format {found!r})", field="data")
    return state
