"""AutoML: time budget, baseline first and never beaten by the best, leaderboard, failures."""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any

import fake_tasks
import numpy as np
import pandas as pd
import pytest

from carnet.domain.training import Predictions, SearchSpec, SplitSpec, TrainSpec
from carnet.errors import InvalidInput
from carnet.execution import InlineExecutor, LocalProcessExecutor
from carnet.training.automl import LeaderboardEntry, run_automl
from carnet.training.hpo import TIMEOUT_ERROR


class FakeBinary(fake_tasks.FakeBinary):
    """The shared fake task with more candidate families, a slow model and 3-fold CV."""

    def candidate_models(self) -> list[str]:
        return ["random_forest", "hist_gradient_boosting", "logistic_regression", "lightgbm", "decision_tree"]

    def models(self) -> dict[str, Any]:
        return {"sleepy": Sleepy}

    def default_split(self) -> SplitSpec:
        return SplitSpec("stratified_kfold", folds=3)


class Sleepy:
    """An estimator whose fit takes two minutes (to be killed by the time budget)."""

    def __init__(self, seconds: float = 120.0) -> None:
        self.seconds = seconds

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"seconds": self.seconds}

    def set_params(self, **params: Any) -> Sleepy:
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X, y) -> Sleepy:
        time.sleep(self.seconds)
        return self


def warm_up() -> None:
    """Import what a candidate needs (run in a worker before the clock starts)."""
    import sklearn.ensemble  # noqa: F401

    import carnet.training.fit  # noqa: F401


def score(predictions: Predictions, truth: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(truth, predictions.y_score[:, 1])),
        "accuracy": float(accuracy_score(truth, predictions.y_pred)),
        "log_loss": float(log_loss(truth, predictions.y_score, labels=predictions.classes)),
    }


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Single-threaded native code in this process: steadier on a busy two-core machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=500, n_features=8, n_informative=4, flip_y=0.1, random_state=1)
    data = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    data["color"] = np.where(X[:, 0] > 0.3, "red", np.where(X[:, 0] < -0.5, "blue", "green"))
    data["label"] = y
    return data


BASE = TrainSpec(dataset="d", task="fake_binary", seed=3)


def _sorted(values: list[float], direction: str) -> bool:
    return values == sorted(values, reverse=direction == "maximize")


def test_automl_honours_the_budget_and_beats_or_keeps_the_baseline(frame: pd.DataFrame) -> None:
    seen: list[tuple[LeaderboardEntry, int]] = []
    budget = 15.0
    result = run_automl(
        FakeBinary(),
        frame,
        target="label",
        base_spec=BASE,
        scorer=score,
        time_budget=budget,
        on_trial=lambda e: seen.append((e, os.getpid())),
    )  # the budget cutting a running candidate: test_budget_kills_a_running_candidate
    assert result.metric == "roc_auc" and result.direction == "maximize"
    board = result.leaderboard
    assert [e.rank for e in board] == list(range(1, len(board) + 1))
    assert _sorted([e.value for e in board], "maximize")
    assert result.best is board[0] and result.best.value >= result.baseline.value
    baseline = result.baseline
    assert (baseline.model, baseline.params, baseline.number) == ("hist_gradient_boosting", {}, 0)
    assert baseline.trial_spec.split == SplitSpec("stratified_kfold", folds=3)  # the task's default split
    assert (
        baseline.trial_spec.target == "label" and baseline.trial_spec.model.name == "hist_gradient_boosting"
    )
    assert len(seen) == len(board) + len(result.failed) and {pid for _, pid in seen} == {os.getpid()}
    rows = result.to_rows()
    assert rows[0]["rank"] == 1 and rows[0]["model"] == result.best.model
    assert set(rows[0]) >= {"rank", "model", "preprocess", "params", "scores", "value", "seconds"}


def test_plan_order_preprocessing_and_failed_candidates(frame: pd.DataFrame) -> None:
    steps: list[tuple[str, int, int]] = []
    spec = TrainSpec(dataset="d", task="fake_binary", split=SplitSpec("holdout", test_size=0.25))
    result = run_automl(
        FakeBinary(),
        frame,
        target="label",
        base_spec=spec,
        scorer=score,
        time_budget=300,
        executor=InlineExecutor(),
        candidates=["logistic_regression", "no_such_model", "hist_gradient_boosting"],
        max_trials=12,
        progress=lambda *a: steps.append(a),
    )
    entries = sorted(result.leaderboard + result.failed, key=lambda e: e.number)
    assert len(entries) == 12 and len(steps) == 12
    assert [e.model for e in entries[:3]] == [
        "hist_gradient_boosting",
        "logistic_regression",
        "no_such_model",
    ]
    assert all(e.params == {} for e in entries[:3])
    (broken,) = result.failed
    assert broken.model == "no_such_model" and broken.rank is None and "unknown model" in broken.error
    assert all(e.model != "no_such_model" for e in entries[3:])  # a family whose default failed is dropped
    logistic = entries[1]
    assert logistic.preprocess == "encode=onehot, scale=standard"
    assert any("encode=ordinal" in e.preprocess for e in entries)  # a categorical column: both encodings
    assert result.best.value >= result.baseline.value
    assert result.to_rows()[-1]["state"] == "failed"


def test_minimized_metric_ranks_ascending(frame: pd.DataFrame) -> None:
    spec = TrainSpec(
        dataset="d",
        task="fake_binary",
        target="label",
        split=SplitSpec("holdout", test_size=0.3),
        search=SearchSpec(space={}, metric="log_loss"),
    )
    result = run_automl(
        FakeBinary(),
        frame,
        target=None,
        base_spec=spec,
        scorer=score,
        time_budget=300,
        executor=InlineExecutor(),
        candidates=["hist_gradient_boosting", "decision_tree"],
        max_trials=6,
    )
    assert (result.metric, result.direction) == ("log_loss", "minimize")
    assert _sorted([e.value for e in result.leaderboard], "minimize")
    assert result.best.value <= result.baseline.value
    assert result.baseline.trial_spec.split == SplitSpec(
        "holdout", test_size=0.3
    )  # an explicit split is kept


def test_budget_kills_a_running_candidate(frame: pd.DataFrame) -> None:
    budget = 6.0
    before = {p.pid for p in multiprocessing.active_children()}
    executor = LocalProcessExecutor(1)
    executor.submit(warm_up).result(timeout=120)  # imports done: the budget measures the candidates
    result = run_automl(
        FakeBinary(),
        frame,
        target="label",
        base_spec=TrainSpec(dataset="d", task="fake_binary", split=SplitSpec("holdout", test_size=0.25)),
        scorer=score,
        time_budget=budget,
        executor=executor,
        candidates=["hist_gradient_boosting", "sleepy"],
    )
    executor.shutdown()
    assert [e.model for e in result.leaderboard] == ["hist_gradient_boosting"]
    assert [(e.model, e.error) for e in result.failed] == [("sleepy", TIMEOUT_ERROR)]
    assert _children_gone(before)  # the sleeping worker is gone


def test_nothing_finishing_is_invalid_input(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput) as err:
        run_automl(
            FakeBinary(),
            frame,
            target="label",
            base_spec=BASE,
            scorer=score,
            time_budget=60,
            executor=InlineExecutor(),
            candidates=["nope", "nada"],
        )
    assert err.value.field == "candidates" and "unknown model" in str(err.value)
    with pytest.raises(InvalidInput) as err:
        run_automl(
            FakeBinary(),
            frame,
            target="label",
            base_spec=BASE,
            scorer=score,
            time_budget=1e-9,
            executor=InlineExecutor(),
        )
    assert err.value.field == "time_budget"
    with pytest.raises(InvalidInput) as err:
        run_automl(FakeBinary(), frame, target="label", base_spec=BASE, scorer=score, time_budget=0)
    assert err.value.field == "time_budget"


def test_automl_with_the_real_binary_task(frame: pd.DataFrame) -> None:
    classification = pytest.importorskip("carnet.tasks.classification")
    spec = TrainSpec(dataset="d", task="binary", split=SplitSpec("holdout", test_size=0.25))
    result = run_automl(
        classification.BinaryClassification(),
        frame,
        target="label",
        base_spec=spec,
        scorer=score,
        time_budget=300,
        executor=InlineExecutor(),
        max_trials=4,
    )
    assert result.baseline.model == "hist_gradient_boosting" and result.best.value >= result.baseline.value
    assert len(result.leaderboard) + len(result.failed) == 4


def _children_gone(before: set[int], wait: float = 30.0) -> bool:
    """Whether the child processes started since ``before`` have all ended (a killed worker is
    reaped asynchronously: it may take a moment to leave ``active_children``)."""
    deadline = time.monotonic() + wait
    while {p.pid for p in multiprocessing.active_children()} - before:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
