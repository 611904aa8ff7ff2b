"""Permutation feature importance of a fitted tabular pipeline over its raw feature columns."""

from __future__ import annotations

from typing import Any

import numpy as np

from carnet.domain.evaluation import Plot
from carnet.errors import InvalidInput
from carnet.evaluation.plots import COLORS, figure, render, short

__all__ = [
    "MAX_ROWS",
    "importance_plot",
    "permutation_importance_plot",
    "permutation_importance_table",
    "sample_rows",
]

#: rows used at most (a seeded sample above this)
MAX_ROWS = 2000
_SHOWN = 20


def _batched_importances(
    fitted: Any, frame: Any, target: np.ndarray, scoring: str | None, seed: int, n_repeats: int
) -> np.ndarray | None:
    """Score drops for every (feature, repeat) from ONE predict over all permuted copies stacked.

    Same definition as ``sklearn.inspection.permutation_importance`` (baseline score minus the
    score with one column shuffled), but the model's fixed per-call cost (pipelines, column
    transformers) is paid once instead of ``n_features * n_repeats`` times. Used for accuracy
    and r2 (the default scores of classifiers and regressors); None means "use scikit-learn's".
    """
    import pandas as pd
    from sklearn.base import is_classifier, is_regressor
    from sklearn.metrics import accuracy_score, r2_score

    if scoring is None:
        scoring = "accuracy" if is_classifier(fitted) else ("r2" if is_regressor(fitted) else None)
    metric = {"accuracy": accuracy_score, "r2": r2_score}.get(scoring or "")
    if metric is None or not hasattr(fitted, "predict"):
        return None
    rng = np.random.RandomState(seed)
    n, cols = len(frame), list(frame.columns)
    blocks = [frame]
    for col in cols:
        for _ in range(n_repeats):
            block = frame.copy()
            block[col] = frame[col].to_numpy()[rng.permutation(n)]
            blocks.append(block)
    pred = np.asarray(fitted.predict(pd.concat(blocks, ignore_index=True)))
    base = metric(target, pred[:n])
    drops = np.empty((len(cols), n_repeats))
    for j in range(len(cols)):
        for r in range(n_repeats):
            start = n * (1 + j * n_repeats + r)
            drops[j, r] = base - metric(target, pred[start : start + n])
    return drops


def sample_rows(X: Any, y: Any, max_rows: int, seed: int) -> tuple[Any, np.ndarray]:
    """``X`` as a DataFrame and ``y`` as an array, cut to a seeded sample of ``max_rows`` rows.

    Raises:
        InvalidInput: ``X`` and ``y`` differ in length.
    """
    import pandas as pd

    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    target = np.asarray(getattr(y, "to_numpy", lambda: y)())
    if len(frame) != len(target):
        raise InvalidInput(f"length mismatch: X has {len(frame)} rows but y has {len(target)}", field="X")
    if len(frame) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
        frame, target = frame.iloc[rows], target[rows]
    return frame, target


def permutation_importance_table(
    fitted: Any,
    X: Any,
    y: Any,
    scoring: str | None = None,
    seed: int = 0,
    n_repeats: int = 5,
    *,
    max_rows: int = MAX_ROWS,
) -> tuple[list[dict[str, Any]], int]:
    """Permutation importance as one row per feature, most important first, and the rows used.

    Same definition and arguments as :func:`permutation_importance_plot`.
    """
    from sklearn.inspection import permutation_importance

    frame, target = sample_rows(X, y, max_rows, seed)
    names = [str(c) if isinstance(c, str) else f"x{c}" for c in frame.columns]
    batched = _batched_importances(fitted, frame, target, scoring, seed, n_repeats)
    if batched is None:
        result = permutation_importance(
            fitted, frame, target, scoring=scoring, n_repeats=n_repeats, random_state=seed, n_jobs=1
        )
        importances = result.importances
    else:
        importances = batched
    means, stds = importances.mean(axis=1), importances.std(axis=1)
    order = np.argsort(-means, kind="stable")
    table = [
        {"feature": names[i], "importance_mean": float(means[i]), "importance_std": float(stds[i])}
        for i in order
    ]
    return table, len(frame)


def importance_plot(table: list[dict[str, Any]], scoring: str | None, n_repeats: int, rows: int) -> Plot:
    """The bar chart (top 20 features, mean ± std of the score drop) of an importance table."""
    top = table[:_SHOWN][::-1]
    fig, (ax,) = figure(width=5.6, height=max(2.4, 0.28 * len(top) + 1.2))
    ax.barh(
        range(len(top)),
        [r["importance_mean"] for r in top],
        xerr=[r["importance_std"] for r in top],
        color=COLORS[0],
    )
    ax.set_yticks(range(len(top)), [short(r["feature"], 24) for r in top])
    ax.axvline(0, color="grey", lw=1)
    ax.set(xlabel=f"drop in {scoring or 'score'} when permuted", title="Permutation importance")
    payload = {
        "feature": [r["feature"] for r in table],
        "importance_mean": [r["importance_mean"] for r in table],
        "importance_std": [r["importance_std"] for r in table],
        "scoring": scoring,
        "n_repeats": n_repeats,
        "rows": rows,
    }
    return Plot("permutation_importance", "Permutation feature importance", render(fig), payload)


def permutation_importance_plot(
    fitted: Any,
    X: Any,
    y: Any,
    scoring: str | None = None,
    seed: int = 0,
    n_repeats: int = 5,
    *,
    max_rows: int = MAX_ROWS,
) -> tuple[Plot, list[dict[str, Any]]]:
    """Permutation importance (``sklearn.inspection.permutation_importance``) as a bar chart and a table.

    Args:
        fitted: a fitted estimator or pipeline accepting ``X`` as given (raw feature columns).
        X: feature rows (DataFrame keeps column names; arrays get ``x0, x1, ...``).
        y: truth for those rows.
        scoring: a scikit-learn scorer name (None = the estimator's ``score``).
        seed: seeds the row sample and the permutations.
        n_repeats: permutations per feature.
        max_rows: rows used at most (a seeded sample above this).

    Returns:
        The plot (top 20 features, mean ± std of the score drop) and one row per feature
        ``{feature, importance_mean, importance_std}``, most important first.
    """
    table, rows = permutation_importance_table(fitted, X, y, scoring, seed, n_repeats, max_rows=max_rows)
    return importance_plot(table, scoring, n_repeats, rows), table
