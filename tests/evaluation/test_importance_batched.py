"""The batched permutation importance agrees with scikit-learn's implementation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression

from carnet.evaluation.importance import _batched_importances, permutation_importance_plot


def test_batched_matches_sklearn_on_a_regression_with_one_strong_feature() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 4)), columns=["strong", "weak", "noise1", "noise2"])
    y = 3 * X["strong"] + 0.5 * X["weak"] + rng.normal(scale=0.1, size=600)
    model = RandomForestRegressor(n_estimators=30, random_state=0).fit(X, y)
    ours = _batched_importances(model, X, y.to_numpy(), None, seed=0, n_repeats=5)
    theirs = permutation_importance(model, X, y, n_repeats=5, random_state=0).importances
    assert ours is not None and ours.shape == theirs.shape == (4, 5)
    assert np.argmax(ours.mean(axis=1)) == np.argmax(theirs.mean(axis=1)) == 0
    np.testing.assert_allclose(ours.mean(axis=1), theirs.mean(axis=1), rtol=0.1, atol=0.01)


def test_classifier_uses_accuracy_and_the_plot_ranks_features() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = (X["a"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    plot, table = permutation_importance_plot(model, X, y, seed=0, n_repeats=3)
    assert [r["feature"] for r in table] == ["a", "b"]
    assert table[0]["importance_mean"] == pytest.approx(
        permutation_importance(model, X, y, n_repeats=3, random_state=0).importances_mean[0], abs=0.05
    )
    assert plot.png.startswith(b"\x89PNG")


def test_unknown_scoring_falls_back_to_sklearn() -> None:
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0] * 10})
    y = np.array([0, 0, 1, 1] * 10)
    model = LogisticRegression().fit(X, y)
    assert _batched_importances(model, X, y, "roc_auc", 0, 2) is None
    _, table = permutation_importance_plot(model, X, y, scoring="roc_auc", n_repeats=2)
    assert table[0]["feature"] == "a"


def test_interval_metrics_limits_the_bootstrap_to_the_headline() -> None:
    from carnet.domain.training import Predictions
    from carnet.evaluation import evaluate

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=300)
    proba = np.clip(y * 0.6 + rng.random(300) * 0.4, 0, 1)
    pred = Predictions(
        "binary", y_pred=(proba > 0.5).astype(int), y_score=np.c_[1 - proba, proba], classes=[0, 1]
    )
    full = evaluate("classification", y, pred, plots=False, bootstrap=50)
    some = evaluate(
        "classification", y, pred, plots=False, bootstrap=50, interval_metrics=["roc_auc", "accuracy"]
    )
    assert set(some.intervals) == {"roc_auc", "accuracy"} and len(full.intervals) > 2
    assert some.intervals["roc_auc"] == full.intervals["roc_auc"]
