"""Metric histories made small enough to draw: min/max envelopes per bucket of steps.

A chart of 100,000 steps gets about ``points`` buckets; each bucket keeps its mean (the line) and
its minimum and maximum (the envelope), so a spike in one step survives where plain sampling would
drop it. Asking again for a step range (a zoom) buckets only that range: at most ``points`` raw
steps come back as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["DEFAULT_POINTS", "MAX_POINTS", "downsample"]

DEFAULT_POINTS = 1500
MAX_POINTS = 10_000


def downsample(
    steps: Sequence[int],
    values: Sequence[float],
    *,
    points: int = DEFAULT_POINTS,
    start: float | None = None,
    end: float | None = None,
) -> dict[str, Any]:
    """The series between ``start`` and ``end`` (steps, inclusive) in at most ``points`` buckets.

    Returns ``{"step": [...], "value": [...], "min": [...], "max": [...], "raw": bool, "total": n}``
    with JSON-safe numbers (a value that is not finite is ``None``). ``raw`` is True when no bucket
    holds more than one step (``min`` and ``max`` then equal ``value``).
    """
    points = max(2, min(int(points), MAX_POINTS))
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    keep = np.ones(len(x), dtype=bool)
    if start is not None:
        keep &= x >= start
    if end is not None:
        keep &= x <= end
    x, y = x[keep], y[keep]
    total = len(x)
    if total <= points:
        return {
            "step": _plain(x),
            "value": _plain(y),
            "min": _plain(y),
            "max": _plain(y),
            "raw": True,
            "total": total,
        }
    edges = np.linspace(x[0], x[-1], points + 1)
    bucket = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, points - 1)
    finite = np.isfinite(y)
    counts = np.bincount(bucket, minlength=points)
    used = counts > 0
    fcount = np.bincount(bucket[finite], minlength=points)
    sums = np.bincount(bucket[finite], weights=y[finite], minlength=points)
    mins = np.full(points, np.inf)
    maxs = np.full(points, -np.inf)
    np.minimum.at(mins, bucket[finite], y[finite])
    np.maximum.at(maxs, bucket[finite], y[finite])
    xsum = np.bincount(bucket, weights=x, minlength=points)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(fcount > 0, sums / np.maximum(fcount, 1), np.nan)
        center = xsum / np.maximum(counts, 1)
    mins[fcount == 0] = np.nan
    maxs[fcount == 0] = np.nan
    return {
        "step": _plain(np.round(center[used])),
        "value": _plain(mean[used]),
        "min": _plain(mins[used]),
        "max": _plain(maxs[used]),
        "raw": False,
        "total": total,
    }


def _plain(values: Any) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).tolist()]
