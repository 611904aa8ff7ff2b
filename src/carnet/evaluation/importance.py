"""Permutation feature importance of a fitted tabular pipeline over its raw feature columns."""

from __future__ import annotations

from typing import Any

import numpy as np

from carnet.errors import InvalidInput
from carnet.evaluation.plots import COLORS, figure, render, short
from carnet.evaluation.result import Plot

__all__ = ["MAX_ROWS", "permutation_importance_plot"]

#: rows used at most (a seeded sample above this)
MAX_ROWS = 2000
_SHOWN = 20


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
    import pandas as pd
    from sklearn.inspection import permutation_importance

    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    target = np.asarray(getattr(y, "to_numpy", lambda: y)())
    if len(frame) != len(target):
        raise InvalidInput(f"length mismatch: X has {len(frame)} rows but y has {len(target)}", field="X")
    if len(frame) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
        frame, target = frame.iloc[rows], target[rows]
    names = [str(c) if isinstance(X, pd.DataFrame) else f"x{c}" for c in frame.columns]
    result = permutation_importance(
        fitted, frame, target, scoring=scoring, n_repeats=n_repeats, random_state=seed, n_jobs=1
    )
    order = np.argsort(-result.importances_mean, kind="stable")
    table = [
        {
            "feature": names[i],
            "importance_mean": float(result.importances_mean[i]),
            "importance_std": float(result.importances_std[i]),
        }
        for i in order
    ]
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
        "rows": len(frame),
    }
    return Plot("permutation_importance", "Permutation feature importance", render(fig), payload), table
