"""Drift statistics between a reference column profile and a profile counted on its bins."""

from __future__ import annotations

from carnet.domain.drift import DISTANCES, METHODS, TESTS
from carnet.errors import InvalidInput
from carnet.monitoring.drift.profile import ColumnProfile, NumericProfile
from carnet.monitoring.drift.stats import TestResult, chi2_two_sample, grid_wasserstein, js_distance, psi

__all__ = ["DISTANCES", "METHODS", "TESTS", "binned_test", "distance"]


def distance(method: str, ref: ColumnProfile, cur: ColumnProfile) -> float:
    """The distance ``method`` (psi, js or wasserstein) between ``cur`` and its reference ``ref``.

    PSI and Jensen-Shannon use the coarse bins (or categories and "other"); the normalized
    Wasserstein distance uses the fine quantile grid, exact beyond the reference's range.
    """
    if method == "psi":
        return psi(ref.bin_counts(), cur.bin_counts())
    if method == "js":
        return js_distance(ref.bin_counts(), cur.bin_counts())
    if method == "wasserstein":
        if not isinstance(ref, NumericProfile) or not isinstance(cur, NumericProfile):
            raise InvalidInput(
                f"wasserstein needs a numeric column; {ref.name!r} is {ref.kind}: use psi, js or chi2",
                field=ref.name,
            )
        return grid_wasserstein(
            ref.grid,
            ref.counts,
            ref.positions,
            cur.counts,
            cur.positions,
            cur_tail_low=float(cur.tail_low),
            cur_tail_high=float(cur.tail_high),
            scale=ref.std or 0.0,
        )
    raise InvalidInput(f"unknown distance method {method!r}; choose one of {list(DISTANCES)}", field="method")


def binned_test(ref: ColumnProfile, cur: ColumnProfile) -> TestResult:
    """Two-sample chi-square (contingency form) on the coarse bins or categories of both profiles."""
    return chi2_two_sample(ref.bin_counts(), cur.bin_counts())
