"""Vectorised bootstrap: resample-count matrices, weighted rank metrics, percentile intervals.

A resample is represented by its count vector ``w`` (how often each row was drawn), so a
batch of ``B`` resamples is a ``(B, n)`` matrix ``W`` and most metrics become a matrix
product or a grouped cumulative sum over ``W`` instead of ``B`` calls into scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import cast

import numpy as np

__all__ = [
    "MAX_CELLS",
    "percentile_interval",
    "resample_weights",
    "run_bootstrap",
    "weighted_auc",
    "weighted_average_precision",
    "weighted_confusion",
    "weighted_top_k_hits",
]

#: at most this many cells of W are held at once (B is processed in chunks)
MAX_CELLS = 4_000_000


def resample_weights(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Yield ``(b, n)`` float count matrices of ``resamples`` bootstrap draws in chunks (seeded)."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, MAX_CELLS // max(n, 1)))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        idx += (np.arange(b) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(float)
        done += b


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval of the finite ``values`` at ``confidence``."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def run_bootstrap(
    n: int,
    batches: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    resamples: int,
    confidence: float,
    seed: int,
) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Percentile intervals for each ``name -> batch(W)``, and notes on undefined resamples."""
    collected: dict[str, list[np.ndarray]] = {name: [] for name in batches}
    with np.errstate(all="ignore"):
        for W in resample_weights(n, resamples, seed):
            for name, fn in batches.items():
                collected[name].append(np.asarray(fn(W), dtype=float))
    intervals: dict[str, tuple[float, float]] = {}
    notes: list[str] = []
    for name, parts in collected.items():
        values = np.concatenate(parts)
        undefined = int((~np.isfinite(values)).sum())
        if undefined == values.size:
            notes.append(f"no bootstrap interval for {name}: undefined in every resample")
            continue
        if undefined:
            notes.append(f"{name}: undefined in {undefined} of {values.size} resamples (left out of the CI)")
        intervals[name] = percentile_interval(values, confidence)
    return intervals, notes


def _cumulative(W: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``(B, len(rows) + 1)`` running sums of ``W[:, rows]`` with a leading zero column."""
    out = np.zeros((W.shape[0], rows.size + 1))
    np.cumsum(W[:, rows], axis=1, out=out[:, 1:])
    return out


def _split(score: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row positions of positives and of negatives, each sorted by score, and their sorted scores."""
    pos_rows = np.flatnonzero(positive)
    neg_rows = np.flatnonzero(~positive)
    pos_rows = pos_rows[np.argsort(score[pos_rows], kind="stable")]
    neg_rows = neg_rows[np.argsort(score[neg_rows], kind="stable")]
    return pos_rows, neg_rows, score[pos_rows], score[neg_rows]


def weighted_auc(score: np.ndarray, positive: np.ndarray, W: np.ndarray) -> np.ndarray:
    """ROC AUC per row of ``W`` (ties count one half), NaN when a class is absent.

    ``AUC = sum_i w_i (N_below(s_i) + N_tied(s_i) / 2) / (P N)`` over positive rows ``i``,
    with negative weights below / tied read from one running sum per resample.
    """
    positive = np.asarray(positive, dtype=bool)
    pos_rows, neg_rows, pos_s, neg_s = _split(score, positive)
    neg_cum = _cumulative(W, neg_rows)
    below = neg_cum[:, np.searchsorted(neg_s, pos_s, side="left")]
    upto = neg_cum[:, np.searchsorted(neg_s, pos_s, side="right")]
    Wp = W[:, pos_rows]
    num = (Wp * (below + 0.5 * (upto - below))).sum(axis=1)
    P, N = Wp.sum(axis=1), neg_cum[:, -1]
    with np.errstate(all="ignore"):
        return np.where((P > 0) & (N > 0), num / (P * N), np.nan)


def weighted_average_precision(score: np.ndarray, positive: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Average precision (scikit-learn's step definition) per row of ``W``; NaN without positives.

    ``AP = sum_i w_i precision(s_i) / P`` over positive rows, where ``precision(s)`` counts
    every row scoring ``>= s`` (so tied rows share one threshold, as in scikit-learn).
    """
    positive = np.asarray(positive, dtype=bool)
    pos_rows, neg_rows, pos_s, neg_s = _split(score, positive)
    pos_cum, neg_cum = _cumulative(W, pos_rows), _cumulative(W, neg_rows)
    P, N = pos_cum[:, -1:], neg_cum[:, -1:]
    tp = P - pos_cum[:, np.searchsorted(pos_s, pos_s, side="left")]
    fp = N - neg_cum[:, np.searchsorted(neg_s, pos_s, side="left")]
    with np.errstate(all="ignore"):
        precision = np.where(tp > 0, tp / (tp + fp), 0.0)
        return np.where(P[:, 0] > 0, (W[:, pos_rows] * precision).sum(axis=1) / P[:, 0], np.nan)


def weighted_top_k_hits(score: np.ndarray, positive: np.ndarray, W: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Positives among the ``k`` highest scores per row of ``W`` (stable order, duplicates counted)."""
    order = np.argsort(-score, kind="stable")
    Ws = W[:, order]
    before = np.cumsum(Ws, axis=1) - Ws
    taken = np.clip(np.asarray(k, dtype=float).reshape(-1, 1) - before, 0.0, Ws)
    return cast("np.ndarray", (taken * positive[order].astype(float)).sum(axis=1))


def weighted_confusion(true_codes: np.ndarray, pred_codes: np.ndarray, k: int, W: np.ndarray) -> np.ndarray:
    """Confusion matrices ``(B, k, k)`` (rows = truth, columns = prediction) per row of ``W``."""
    codes = true_codes * k + pred_codes
    out = np.empty((W.shape[0], k * k))
    for b in range(W.shape[0]):
        out[b] = np.bincount(codes, weights=W[b], minlength=k * k)
    return out.reshape(W.shape[0], k, k)
