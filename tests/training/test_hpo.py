"""Hyperparameter search: space validation, budgets, determinism, pruning, parallel trials."""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest
from fake_tasks import FakeBinary

from carnet.domain.training import ModelSpec, Predictions, PreprocessSpec, SearchSpec, SplitSpec, TrainSpec
from carnet.errors import InvalidInput
from carnet.execution import InlineExecutor, LocalProcessExecutor
from carnet.training.hpo import (
    TrialRecord,
    metric_direction,
    run_search,
    suggest,
    trial_spec,
    validate_space,
)


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

    X, y = make_classification(n_samples=500, n_features=8, n_informative=4, flip_y=0.1, random_state=0)
    data = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    data["label"] = y
    return data


TREE_SPACE = {
    "max_depth": {"type": "int", "low": 1, "high": 12},
    "min_samples_leaf": {"type": "int", "low": 1, "high": 60, "log": True},
}


def tree_spec(**search: Any) -> TrainSpec:
    return TrainSpec(
        dataset="d",
        task="fake_binary",
        target="label",
        model=ModelSpec("decision_tree", {"criterion": "gini"}),
        search=SearchSpec(space=search.pop("space", TREE_SPACE), **search),
        seed=7,
    )


# --------------------------------------------------------------------------- space


@pytest.mark.parametrize(
    ("space", "field"),
    [
        ({"a": {"type": "int", "low": 1}}, "search.space.a"),
        ({"a": {"type": "int", "low": 5, "high": 2}}, "search.space.a"),
        ({"a": {"type": "int", "low": 1.5, "high": 3}}, "search.space.a"),
        ({"b": {"type": "float", "low": 0, "high": 1, "log": True}}, "search.space.b"),
        ({"b": {"type": "float", "low": 0.1, "high": 1, "log": True, "step": 0.1}}, "search.space.b"),
        ({"c": {"type": "categorical", "choices": []}}, "search.space.c"),
        ({"c": {"type": "categorical", "choices": [[1, 2]]}}, "search.space.c"),
        ({"d": {"type": "uniform", "low": 0, "high": 1}}, "search.space.d"),
        ({"e": {"type": "float", "low": 0, "hihg": 1}}, "search.space.e"),
        ({"f": 3}, "search.space.f"),
        ({}, "search.space"),
    ],
)
def test_suggest_rejects_bad_spaces(space: dict[str, Any], field: str) -> None:
    import optuna

    trial = optuna.create_study().ask()
    with pytest.raises(InvalidInput) as err:
        suggest(trial, space)
    assert err.value.field == field
    assert field in str(err.value)


def test_suggest_samples_every_kind() -> None:
    import optuna

    space = {
        "n": {"type": "int", "low": 2, "high": 20, "step": 2},
        "lr": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
        "kind": ["a", "b", None],
        "alpha": {"low": 0.0, "high": 1.0, "type": "float", "step": 0.25},
    }
    assert validate_space(space)["kind"] == {"type": "categorical", "choices": ["a", "b", None]}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        params = suggest(study.ask(), space)
        assert params["n"] in range(2, 21, 2)
        assert 1e-3 <= params["lr"] <= 1.0
        assert params["kind"] in ("a", "b", None)
        assert params["alpha"] in (0.0, 0.25, 0.5, 0.75, 1.0)


def test_metric_and_direction() -> None:
    task = FakeBinary()
    assert metric_direction(task, tree_spec()) == ("roc_auc", "maximize")
    assert metric_direction(task, tree_spec(metric="log_loss")) == ("log_loss", "minimize")
    assert metric_direction(task, tree_spec(metric="accuracy", direction="minimize")) == (
        "accuracy",
        "minimize",
    )
    merged = trial_spec(tree_spec(), task, {"max_depth": 3})
    assert merged.model == ModelSpec("decision_tree", {"criterion": "gini", "max_depth": 3})
    assert merged.search is None


# --------------------------------------------------------------------------- search


def test_search_runs_n_trials_and_reports_each(frame: pd.DataFrame) -> None:
    seen: list[TrialRecord] = []
    steps: list[tuple[str, int, int]] = []
    result = run_search(
        FakeBinary(),
        tree_spec(n_trials=6),
        frame,
        scorer=score,
        on_trial=seen.append,
        progress=lambda *a: steps.append(a),
    )
    assert [t.number for t in result.trials] == list(range(6)) == [t.number for t in seen]
    assert all(t.state == "complete" and t.error is None for t in result.trials)
    assert result.metric == "roc_auc" and result.direction == "maximize"
    assert result.best.value == max(t.value for t in result.trials)
    assert set(result.best.params) == {"max_depth", "min_samples_leaf"}
    assert set(result.best.scores) >= {"roc_auc", "accuracy"}
    assert steps[-1] == ("search", 6, 6)


def test_search_is_deterministic_with_a_seed(frame: pd.DataFrame) -> None:
    spec = tree_spec(n_trials=8)
    runs = [run_search(FakeBinary(), spec, frame, scorer=score, executor=InlineExecutor()) for _ in range(2)]
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]
    assert runs[0].best.value == runs[1].best.value
    other = run_search(FakeBinary(), replace(spec, seed=8), frame, scorer=score)
    assert [t.params for t in other.trials] != [t.params for t in runs[0].trials]


def test_search_respects_the_timeout(frame: pd.DataFrame) -> None:
    result = run_search(FakeBinary(), tree_spec(n_trials=100_000, timeout=2.0), frame, scorer=score)
    assert 1 <= len(result.trials) < 100_000  # the timeout, not the trial count, ended it


def test_median_pruner_prunes_folds_in_process(frame: pd.DataFrame) -> None:
    spec = replace(
        tree_spec(n_trials=16, sampler="random", pruner="median"), split=SplitSpec("kfold", folds=4)
    )
    result = run_search(FakeBinary(), spec, frame, scorer=score)
    states = [t.state for t in result.trials]
    assert "pruned" in states and "complete" in states
    pruned = next(t for t in result.trials if t.state == "pruned")
    assert pruned.value is not None and "roc_auc" in pruned.scores
    assert result.best.state == "complete"
    unpruned = run_search(
        FakeBinary(), replace(spec, search=replace(spec.search, pruner="none")), frame, scorer=score
    )
    assert {t.state for t in unpruned.trials} == {"complete"}


def test_failed_trials_are_recorded_and_the_grid_is_capped(frame: pd.DataFrame) -> None:
    spec = tree_spec(space={"max_depth": [2, -5, 4]}, sampler="grid", n_trials=50)
    result = run_search(FakeBinary(), spec, frame, scorer=score)
    assert len(result.trials) == 3
    failed = [t for t in result.trials if t.state == "failed"]
    assert [t.params for t in failed] == [{"max_depth": -5}]
    assert "max_depth" in failed[0].error and "\n" not in failed[0].error
    assert result.best.params["max_depth"] in (2, 4)


def test_every_trial_failing_is_invalid_input(frame: pd.DataFrame) -> None:
    spec = tree_spec(space={"max_depth": [-1, -2]}, n_trials=3)
    with pytest.raises(InvalidInput) as err:
        run_search(FakeBinary(), spec, frame, scorer=score)
    assert "every search trial failed" in str(err.value) and "max_depth" in str(err.value)


def test_bad_search_sections(frame: pd.DataFrame) -> None:
    task = FakeBinary()
    with pytest.raises(InvalidInput) as err:
        run_search(task, replace(tree_spec(), search=None), frame, scorer=score)
    assert err.value.field == "search"
    with pytest.raises(InvalidInput) as err:
        run_search(task, tree_spec(sampler="bayes"), frame, scorer=score)
    assert err.value.field == "search.sampler"
    with pytest.raises(InvalidInput) as err:
        run_search(
            task,
            tree_spec(space={"alpha": {"type": "float", "low": 0, "high": 1}}, sampler="grid"),
            frame,
            scorer=score,
        )
    assert err.value.field == "search.space.alpha"


def test_parallel_search_in_worker_processes(frame: pd.DataFrame) -> None:
    calls: list[tuple[int, int]] = []
    spec = tree_spec(n_trials=6, n_jobs=2)
    with LocalProcessExecutor(2) as ex:
        result = run_search(
            FakeBinary(),
            spec,
            frame,
            scorer=score,
            executor=ex,
            on_trial=lambda t: calls.append((t.number, os.getpid())),
        )
    assert len(result.trials) == 6 and len(calls) == 6
    assert {pid for _, pid in calls} == {os.getpid()}
    assert sorted(n for n, _ in calls) == list(range(6))
    assert all(t.state == "complete" for t in result.trials)
    frozen = result.study.trials[result.best.number]
    assert frozen.value == pytest.approx(result.best.value)


def test_search_with_the_real_binary_task(frame: pd.DataFrame) -> None:
    classification = pytest.importorskip("carnet.tasks.classification")
    task = classification.BinaryClassification()

    def scorer(predictions: Predictions, truth: Any) -> dict[str, float]:
        from sklearn.metrics import roc_auc_score

        return {"roc_auc": float(roc_auc_score(truth, predictions.y_score[:, 1]))}

    spec = replace(tree_spec(n_trials=3), task="binary", preprocess=PreprocessSpec())
    result = run_search(task, spec, frame, scorer=scorer)
    assert len(result.trials) == 3 and result.best.value > 0.6


class Sleepy:
    """An estimator whose fit takes ``seconds`` (to be cut by a time budget)."""

    def __init__(self, seconds: float = 120.0, depth: int = 1) -> None:
        self.seconds = seconds
        self.depth = depth

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"seconds": self.seconds, "depth": self.depth}

    def set_params(self, **params: Any) -> Sleepy:
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X, y) -> Sleepy:
        time.sleep(self.seconds)
        return self


class SleepyBinary(FakeBinary):
    tabular = False  # the bare model, no preprocessing pipeline

    def models(self) -> dict[str, Any]:
        return {"sleepy": Sleepy}


def test_timeout_kills_running_trials_in_worker_processes(frame: pd.DataFrame) -> None:
    spec = replace(
        tree_spec(space={"depth": [1, 2, 3]}, n_trials=3, n_jobs=2, timeout=3.0), model=ModelSpec("sleepy")
    )
    before = {p.pid for p in multiprocessing.active_children()}
    with pytest.raises(InvalidInput) as err:
        run_search(SleepyBinary(), spec, frame, scorer=score)  # owns (and kills) a 2-process pool
    assert err.value.field == "search.timeout"
    deadline = time.monotonic() + 30  # killed workers are reaped asynchronously
    while {p.pid for p in multiprocessing.active_children()} - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {p.pid for p in multiprocessing.active_children()} <= before  # the 120 s fits were killed
