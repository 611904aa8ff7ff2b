"""Multivariate drift: can a classifier tell reference rows from current rows?

A HistGradientBoostingClassifier is trained to separate a bounded sample of reference rows from
one of current rows; its ROC AUC over 5-fold out-of-fold predictions measures how separable the
two are (0.5: indistinguishable). It catches changes in the joint distribution (a correlation
that flips) that no single column shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from carnet.domain.drift import MultivariateResult
from carnet.errors import InvalidInput
from carnet.monitoring.drift.profile import CategoricalProfile, ColumnProfile, RowSample

__all__ = ["MIN_ROWS", "MultivariateResult", "domain_classifier"]

#: Rows each side needs at least for the check to run.
MIN_ROWS = 20
_FOLDS = 5
_MAX_CATEGORIES = 254  # HistGradientBoosting's categorical features take codes below max_bins (255)


def _encode(profile: ColumnProfile, values: Sequence[Any]) -> tuple[np.ndarray, bool]:
    """A float feature for one column and whether it is categorical (codes of the reference's categories)."""
    if not isinstance(profile, CategoricalProfile):
        return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64), False
    if profile.kind == "boolean":
        lookup: dict[Any, int] = {False: 0, True: 1}
    else:
        lookup = {c: i for i, c in enumerate(profile.categories)}
    other = len(lookup)
    codes = np.array(
        [math.nan if v is None else float(lookup.get(v, other)) for v in values], dtype=np.float64
    )
    return codes, other < _MAX_CATEGORIES


def _take(sample: RowSample, n: int, rng: np.random.Generator) -> list[int]:
    idx = np.arange(sample.rows)
    if sample.rows > n:
        idx = np.sort(rng.choice(sample.rows, size=n, replace=False))
    return idx.tolist()


def domain_classifier(
    columns: Sequence[ColumnProfile],
    reference: RowSample,
    current: RowSample,
    *,
    threshold: float = 0.55,
    significance: float | None = 0.05,
    rows: int = 5000,
    seed: int = 0,
) -> MultivariateResult:
    """Train a classifier to tell ``reference`` rows from ``current`` rows and judge its ROC AUC.

    Args:
        columns: the reference profiles of the columns to use (categories come from them).
        reference, current: row samples holding those columns.
        threshold: AUC above which the data drift (default 0.55).
        significance: also require the AUC's p-value against 0.5 to be below this; None: AUC only.
        rows: at most this many rows per side (a seeded subsample), equal on both sides.

    Raises:
        InvalidInput: fewer than ``MIN_ROWS`` rows on a side, or a column missing from a sample.
    """
    from scipy.stats import norm
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    names = [c.name for c in columns]
    for side, sample in (("reference", reference), ("current", current)):
        missing = [n for n in names if n not in sample.values]
        if missing:
            raise InvalidInput(f"the {side} row sample lacks column {missing[0]!r}", field=missing[0])
    n = min(reference.rows, current.rows, rows)
    if n < MIN_ROWS:
        raise InvalidInput(
            f"the domain classifier needs at least {MIN_ROWS} rows on each side, got {n}; "
            "use more data or turn multivariate off",
            field="multivariate",
        )
    rng = np.random.default_rng(seed)
    ri, ci = _take(reference, n, rng), _take(current, n, rng)
    features, categorical = [], []
    for col in columns:
        vals = [reference.values[col.name][i] for i in ri] + [current.values[col.name][i] for i in ci]
        x, is_cat = _encode(col, vals)
        features.append(x)
        categorical.append(is_cat)
    X = np.column_stack(features) if features else np.zeros((2 * n, 0))
    y = np.repeat([0, 1], n)
    model = HistGradientBoostingClassifier(
        max_iter=100, categorical_features=np.array(categorical, dtype=bool), random_state=seed
    )
    cv = StratifiedKFold(n_splits=_FOLDS, shuffle=True, random_state=seed)
    # one OpenMP thread: on a few thousand rows, more threads spin-wait far longer than they compute
    with threadpool_limits(limits=1, user_api="openmp"):
        scores = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, scores))
    sd0 = math.sqrt((2 * n + 1) / (12.0 * n * n))
    p = float(norm.sf((auc - 0.5) / sd0))
    drifted = auc > threshold and (significance is None or p < significance)
    return MultivariateResult("domain_classifier", auc, threshold, p, drifted, n, n, tuple(names))
