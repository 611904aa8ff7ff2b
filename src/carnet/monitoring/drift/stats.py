"""Drift statistics on raw arrays and on binned counts.

Each function here is the plain definition of one statistic, checked against scipy in the tests:
``js_distance`` equals ``scipy.spatial.distance.jensenshannon``, ``chi2_two_sample`` equals
``scipy.stats.chi2_contingency``, ``ks`` equals ``scipy.stats.ks_2samp`` and
``wasserstein_normalized`` equals ``scipy.stats.wasserstein_distance`` divided by the reference's
standard deviation. ``grid_wasserstein`` computes the same distance from a reference profile's
quantile grid (no raw data), within a small, tested tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, cast

import numpy as np

from carnet.errors import InvalidInput

__all__ = [
    "POSITION_SCALE",
    "PSI_EPSILON",
    "TestResult",
    "chi2_goodness_of_fit",
    "chi2_two_sample",
    "grid_wasserstein",
    "js_distance",
    "ks",
    "psi",
    "wasserstein_normalized",
]

#: Share that replaces an empty bin in PSI (as Evidently does), so ``ln(c / r)`` stays finite.
PSI_EPSILON = 1e-4

ArrayLike = Sequence[float] | Sequence[int] | np.ndarray


class TestResult(NamedTuple):
    """A statistical test's outcome: statistic, p-value and degrees of freedom (None when not used)."""

    statistic: float
    p_value: float
    dof: int | None = None


def _counts(x: ArrayLike, field: str) -> np.ndarray:
    """``x`` as a 1-d float array of non-negative counts with a positive total."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise InvalidInput(f"{field} must be a non-empty 1-d array of counts", field=field)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise InvalidInput(f"{field} must hold finite, non-negative counts", field=field)
    if a.sum() <= 0:
        raise InvalidInput(f"{field} has no observations (all counts are zero)", field=field)
    return a


def _pair(ref_counts: ArrayLike, cur_counts: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    r = _counts(ref_counts, "ref_counts")
    c = _counts(cur_counts, "cur_counts")
    if r.shape != c.shape:
        raise InvalidInput(
            f"ref_counts has {r.size} bins but cur_counts has {c.size}; count both on the same bins",
            field="cur_counts",
        )
    return r, c


def _values(x: ArrayLike, field: str) -> np.ndarray:
    """Finite values of ``x`` as float64 (missing values and infinities are dropped)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    a = a[np.isfinite(a)]
    if a.size == 0:
        raise InvalidInput(f"{field} has no finite values", field=field)
    return a


def psi(ref_counts: ArrayLike, cur_counts: ArrayLike, *, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index ``sum((c - r) * ln(c / r))`` over the shares of the same bins.

    Empty bins get the share ``epsilon`` (default 1e-4) on either side, so a bin that is empty in one
    sample adds a large but finite term.
    """
    r, c = _pair(ref_counts, cur_counts)
    r = r / r.sum()
    c = c / c.sum()
    r = np.where(r == 0, epsilon, r)
    c = np.where(c == 0, epsilon, c)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(p: ArrayLike, q: ArrayLike, *, base: float | None = None) -> float:
    """Jensen-Shannon distance (square root of the divergence) between two count or share vectors.

    Natural logarithm by default (range 0 to sqrt(ln 2) ~ 0.833), as scipy's ``jensenshannon``;
    ``base=2`` gives the range 0 to 1.
    """
    from scipy.special import rel_entr

    a, b = _pair(p, q)
    a = a / a.sum()
    b = b / b.sum()
    m = (a + b) / 2.0
    js = float(np.sum(rel_entr(a, m)) + np.sum(rel_entr(b, m)))
    if base is not None:
        js /= math.log(base)
    return math.sqrt(max(js / 2.0, 0.0))


def chi2_two_sample(ref_counts: ArrayLike, cur_counts: ArrayLike, *, correction: bool = True) -> TestResult:
    """Two-sample chi-square test of homogeneity: are both count vectors drawn from one distribution?

    The 2 x k contingency table (reference row, current row) is tested exactly as
    ``scipy.stats.chi2_contingency`` does, including Yates' correction when there is one degree of
    freedom. Unlike the goodness-of-fit form, it accounts for the sampling noise of the reference
    too. Categories empty in both samples are dropped; one category left gives statistic 0, p 1.
    """
    from scipy.stats import chi2

    r, c = _pair(ref_counts, cur_counts)
    keep = (r + c) > 0
    observed = np.vstack([r[keep], c[keep]])
    dof = observed.shape[1] - 1
    if dof == 0:
        return TestResult(0.0, 1.0, 0)
    rows = observed.sum(axis=1, keepdims=True)
    cols = observed.sum(axis=0, keepdims=True)
    expected = rows * cols / observed.sum()
    if dof == 1 and correction:
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    stat = float(np.sum((observed - expected) ** 2 / expected))
    return TestResult(stat, float(chi2.sf(stat, dof)), dof)


def chi2_goodness_of_fit(ref_counts: ArrayLike, cur_counts: ArrayLike) -> TestResult:
    """Goodness-of-fit chi-square treating the reference shares as exact (``scipy.stats.chisquare``).

    Shown for comparison only: it ignores the reference's own sampling noise, so with a small
    reference it raises false alarms far above its nominal rate. Use :func:`chi2_two_sample`.
    """
    from scipy.stats import chi2

    r, c = _pair(ref_counts, cur_counts)
    keep = (r + c) > 0
    r, c = r[keep], c[keep]
    expected = r / r.sum() * c.sum()
    dof = r.size - 1
    if dof == 0:
        return TestResult(0.0, 1.0, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (c - expected) ** 2 / np.where(expected > 0, expected, 1.0), np.inf)
    stat = float(np.sum(terms))
    return TestResult(stat, float(chi2.sf(stat, dof)), dof)


def ks(ref: ArrayLike, cur: ArrayLike) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``, two-sided, method ``auto``).

    Missing values and infinities are dropped first.
    """
    from scipy.stats import ks_2samp

    res = ks_2samp(_values(ref, "ref"), _values(cur, "cur"))
    return TestResult(float(res.statistic), float(res.pvalue))


def wasserstein_normalized(ref_values: ArrayLike, cur_values: ArrayLike) -> float:
    """Wasserstein-1 distance divided by the reference's standard deviation (ddof=0), as Evidently.

    The result is in units of reference standard deviations: 0.1 means the current distribution
    is, on average, a tenth of a standard deviation away. A constant reference (std 0) is not
    normalised. Missing values and infinities are dropped first.
    """
    from scipy.stats import wasserstein_distance

    r = _values(ref_values, "ref_values")
    c = _values(cur_values, "cur_values")
    w = float(wasserstein_distance(r, c))
    std = float(np.std(r))
    return w / std if std > 0 else w


def _segment_abs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean of ``|f|`` over a segment where ``f`` runs linearly from ``a`` to ``b``."""
    same = (a * b) >= 0
    total = np.abs(a) + np.abs(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(total > 0, (a * a + b * b) / (2.0 * total), 0.0)
    return np.where(same, total / 2.0, crossing)


#: Fixed-point resolution of the in-bin positions kept by profiles (1 / 2**20 of a bin width).
POSITION_SCALE = 1 << 20


def _support(lo: np.ndarray, hi: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The uniform law inside ``[lo, hi]`` with the given mean and the widest support."""
    upper = mean >= (lo + hi) / 2.0
    return np.where(upper, 2.0 * mean - hi, lo), np.where(upper, hi, 2.0 * mean - lo)


def _cdf(
    t: np.ndarray, start: np.ndarray, mass: np.ndarray, lo: np.ndarray, hi: np.ndarray, right: bool
) -> np.ndarray:
    """CDF of ``start + mass * Uniform[lo, hi]`` at ``t``: right limits if ``right``, else left limits."""
    width = (hi - lo)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ramp = np.clip((t - lo[:, None]) / np.where(width > 0, width, 1.0), 0.0, 1.0)
    point = (t >= lo[:, None]) if right else (t > lo[:, None])
    share = np.where(width > 0, ramp, point)
    return cast("np.ndarray", start[:, None] + mass[:, None] * share)


def grid_wasserstein(
    grid: ArrayLike,
    ref_counts: ArrayLike,
    ref_positions: ArrayLike,
    cur_counts: ArrayLike,
    cur_positions: ArrayLike,
    *,
    cur_tail_low: float = 0.0,
    cur_tail_high: float = 0.0,
    scale: float = 1.0,
) -> float:
    """Wasserstein-1 distance ``integral |F - G| dx`` from counts on a reference quantile grid.

    Args:
        grid: the reference's sorted, distinct quantile edges ``e_0 = min .. e_L = max``.
        ref_counts, cur_counts: counts in the ``L + 2`` bins ``(-inf, e_0], (e_0, e_1], ...,
            (e_L, inf)``; the reference has nothing outside ``[e_0, e_L]``.
        ref_positions, cur_positions: per interior bin, the sum over its values of
            ``floor(2**20 * (y - e_{i-1}) / (e_i - e_{i-1}))``, which gives each bin's mean.
        cur_tail_low, cur_tail_high: the current's sums of ``e_0 - y`` over ``y < e_0`` and of
            ``y - e_L`` over ``y > e_L``, which make the parts beyond the grid exact.
        scale: divide the distance by this (the reference standard deviation); 0 means 1.

    Both CDFs are exact at every edge; inside a bin each sample is taken as uniform over the
    widest sub-interval that has the bin's mean (a point at the edge for ties), and ``|F - G|``
    is integrated exactly over the resulting pieces.
    """
    e = np.asarray(grid, dtype=np.float64)
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    n, m = r.sum(), c.sum()
    if n <= 0 or m <= 0:
        raise InvalidInput("grid_wasserstein needs counts on both sides", field="cur_counts")
    inner = 0.0
    if e.size > 1:
        lo, hi = e[:-1], e[1:]
        starts = [np.cumsum(r[:-1])[:-1] / n, np.cumsum(c[:-1])[:-1] / m]
        masses = [r[1:-1] / n, c[1:-1] / m]
        supports = []
        for counts, pos in ((r[1:-1], ref_positions), (c[1:-1], cur_positions)):
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(counts > 0, np.asarray(pos, dtype=np.float64) / POSITION_SCALE / counts, 0.5)
            supports.append(_support(lo, hi, lo + (hi - lo) * np.clip(frac, 0.0, 1.0)))
        t = np.sort(np.column_stack([lo, hi, *supports[0], *supports[1]]), axis=1)
        t = np.clip(t, lo[:, None], hi[:, None])
        a, b = t[:, :-1], t[:, 1:]
        d_a = _cdf(a, starts[0], masses[0], *supports[0], True) - _cdf(
            a, starts[1], masses[1], *supports[1], True
        )
        d_b = _cdf(b, starts[0], masses[0], *supports[0], False) - _cdf(
            b, starts[1], masses[1], *supports[1], False
        )
        inner = float(np.sum((b - a) * _segment_abs(d_a, d_b)))
    w = inner + (float(cur_tail_low) + float(cur_tail_high)) / m
    return cast("float", w / scale if scale > 0 else w)
