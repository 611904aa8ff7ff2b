"""Offloaded evaluation (plots drawn in a helper process) gives exactly the in-process result."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from carnet.domain.training import Predictions
from carnet.evaluation import evaluate
from carnet.evaluation.engine import begin_evaluation
from carnet.training.helper import HelperProcess


class Broken:
    """An offload that accepts work and then loses it (as a helper that died would)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.calls.append(fn.__name__)
        future: Future[Any] = Future()
        future.set_exception(RuntimeError("lost"))
        return future


class Refusing:
    """An offload whose submit itself raises."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise OSError("no helper")


def _classification() -> dict[str, Any]:
    data = load_breast_cancer(as_frame=True)
    X, y = data.data, data.target
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X.iloc[:400], y.iloc[:400])
    X_test, y_test = X.iloc[400:], y.iloc[400:].to_numpy()
    proba = model.predict_proba(X_test)
    pred = Predictions(task="binary", y_pred=model.predict(X_test), y_score=proba, classes=[0, 1])
    return {
        "family": "classification",
        "truth": y_test,
        "predictions": pred,
        "X": X_test,
        "fitted": model,
        "options": {"importance_rows": 120, "importance_repeats": 2},
        "seed": 4,
    }


def _regression() -> dict[str, Any]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X.iloc[:300], y.iloc[:300])
    X_test = X.iloc[300:]
    pred = Predictions(task="regression", y_pred=model.predict(X_test))
    return {
        "family": "regression",
        "truth": y.iloc[300:].to_numpy(),
        "predictions": pred,
        "X": X_test,
        "fitted": model,
        "options": {"importance_repeats": 2},
        "seed": 1,
    }


def _same(a: Any, b: Any) -> None:
    assert a.metrics == b.metrics
    assert a.intervals == b.intervals
    assert a.notes == b.notes
    assert [p.name for p in a.plots] == [p.name for p in b.plots]
    assert [p.png for p in a.plots] == [p.png for p in b.plots]
    assert [p.data for p in a.plots] == [p.data for p in b.plots]
    assert pd.Series(a.details).index.tolist() == pd.Series(b.details).index.tolist()
    assert a.details["permutation_importance"] == b.details["permutation_importance"]


@pytest.fixture(scope="module")
def helper() -> HelperProcess:
    with HelperProcess(warm=["sklearn.linear_model", "matplotlib.figure"]) as h:
        yield h


@pytest.mark.parametrize("case", [_classification, _regression])
def test_offloaded_evaluation_equals_the_in_process_one(case: Any, helper: HelperProcess) -> None:
    kwargs = case()
    local = evaluate(**kwargs)
    assert "permutation_importance" in local.details and len(local.plots) >= 2
    offloaded = begin_evaluation(**kwargs, offload=helper).result()
    _same(local, offloaded)


@pytest.mark.parametrize("offload", [Broken, Refusing])
def test_a_failing_offload_falls_back_to_the_same_result(offload: Any) -> None:
    kwargs = _classification()
    local = evaluate(**kwargs)
    broken = offload()
    _same(local, begin_evaluation(**kwargs, offload=broken).result())
    if isinstance(broken, Broken):
        assert broken.calls == ["_draw", "importance_plot"]


def test_plots_off_sends_nothing_and_importance_still_runs() -> None:
    kwargs = _classification()
    broken = Broken()
    result = begin_evaluation(**kwargs, plots=False, offload=broken).result()
    assert broken.calls == [] and result.plots == []
    assert np.isfinite(result.details["permutation_importance"][0]["importance_mean"])
