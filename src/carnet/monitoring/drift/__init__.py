"""Drift statistics for production monitoring: pure computation over tables and profiles, no storage.

Build a reference profile once (:func:`build_profile`), count each production window on its bins
(:func:`profile_like`), merge windows (:func:`merge_profiles`), and compare (:func:`detect_drift`):
per column PSI, Jensen-Shannon, normalized Wasserstein, two-sample chi-square or KS; the share of
drifted columns; optionally a domain classifier. numpy, pyarrow, scipy and scikit-learn are
imported when a function runs, not with this package.
"""

from __future__ import annotations

from carnet.domain.drift import (
    DEFAULT_METHODS,
    DEFAULT_THRESHOLDS,
    ColumnDrift,
    DriftOptions,
    DriftReport,
    MultivariateResult,
)
from carnet.monitoring.drift.build import build_profile, profile_like
from carnet.monitoring.drift.detect import adaptive_threshold, detect_drift
from carnet.monitoring.drift.multivariate import domain_classifier
from carnet.monitoring.drift.profile import (
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    NumericProfile,
    RowSample,
    merge_profiles,
)
from carnet.monitoring.drift.stats import (
    PSI_EPSILON,
    TestResult,
    chi2_goodness_of_fit,
    chi2_two_sample,
    grid_wasserstein,
    js_distance,
    ks,
    psi,
    wasserstein_normalized,
)

__all__ = [
    "DEFAULT_METHODS",
    "DEFAULT_THRESHOLDS",
    "PSI_EPSILON",
    "CategoricalProfile",
    "ColumnDrift",
    "ColumnProfile",
    "DatasetProfile",
    "DriftOptions",
    "DriftReport",
    "MultivariateResult",
    "NumericProfile",
    "RowSample",
    "TestResult",
    "adaptive_threshold",
    "build_profile",
    "chi2_goodness_of_fit",
    "chi2_two_sample",
    "detect_drift",
    "domain_classifier",
    "grid_wasserstein",
    "js_distance",
    "ks",
    "merge_profiles",
    "profile_like",
    "psi",
    "wasserstein_normalized",
]
