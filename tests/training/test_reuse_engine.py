"""The reuse engine: every continuable family continues on new rows, saves and loads like any model,
keeps its parent untouched, and refuses what cannot work, naming what would."""

from __future__ import annotations

import pickle
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression

from carnet.errors import InvalidInput
from carnet.flavors import flavor_for
from carnet.plugins.loader import registry
from carnet.tasks import get_task
from carnet.training import build_pipeline, load_spec
from carnet.training.reuse import Derivation, check_reuse, reuse_modes


def _frame(kind: str, n: int = 900, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    if kind == "regression":
        X, y = make_regression(n_samples=n, n_features=6, noise=5.0, random_state=seed)
        target = pd.Series(y, name="y")
    else:
        classes = 3 if kind == "multiclass" else 2
        X, y = make_classification(
            n_samples=n, n_features=6, n_informative=4, n_classes=classes, random_state=seed
        )
        target = pd.Series(np.array(["low", "mid", "high"])[y], name="y")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame["segment"] = np.where(frame["f0"] > 0, "a", "b")  # a categorical column: one-hot preprocessing
    return frame, target


def _parent(task_name: str, model: str, params: dict[str, Any] | None = None) -> tuple[Any, Any, Any]:
    kind = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[task_name]
    X, y = _frame(kind)
    task = get_task(task_name)
    spec = load_spec(
        {"dataset": "d", "task": task_name, "target": "y", "model": {"name": model, "params": params or {}}}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = task.fit(build_pipeline(spec, task, X, list(X.columns)), X[:600], y[:600], {})
    return task, fitted, (X, y)


CONTINUABLE = [
    ("binary", "lightgbm", {"n_estimators": 40}),
    ("multiclass", "lightgbm", {"n_estimators": 30}),
    ("regression", "lightgbm", {"n_estimators": 40}),
    ("binary", "xgboost", {"n_estimators": 30}),  # string labels: wrapped for 0..k-1
    ("regression", "xgboost", {"n_estimators": 30}),
    ("binary", "random_forest", {"n_estimators": 20}),
    ("regression", "extra_trees", {"n_estimators": 20}),
    ("multiclass", "gradient_boosting", {"n_estimators": 20}),
    ("binary", "sgd", {}),
    ("regression", "sgd", {}),
    ("multiclass", "mlp", {"hidden_layer_sizes": [16], "max_iter": 50}),
    ("binary", "naive_bayes", {}),
    ("binary", "logistic_regression", {}),
]


@pytest.mark.parametrize(("task_name", "model", "params"), CONTINUABLE, ids=lambda v: str(v))
def test_every_continuable_family_continues_saves_and_loads(
    task_name: str, model: str, params: dict[str, Any]
) -> None:
    task, parent, (X, y) = _parent(task_name, model, params)
    before = pickle.dumps(parent)
    mode = check_reuse(parent, None, model)
    assert mode == "warm_start" and mode in reuse_modes(parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        derived = Derivation(parent, mode, {}).fit(X[600:], y[600:])
    assert pickle.dumps(parent) == before  # the parent is never touched
    assert type(derived) is type(parent)
    new_rows = X[600:]
    if task_name == "regression":  # a continued regressor's predictions move
        moved = task.predict(derived, new_rows, {}).y_pred - task.predict(parent, new_rows, {}).y_pred
        assert np.abs(moved).max() > 0
    flavor = flavor_for(derived)
    loaded = registry("flavor").get(flavor.name).loads(flavor.dumps(derived))
    expected, got = task.predict(derived, new_rows, {}), task.predict(loaded, new_rows, {})
    np.testing.assert_array_equal(np.asarray(expected.y_pred), np.asarray(got.y_pred))
    if expected.y_score is not None:
        np.testing.assert_allclose(
            np.asarray(expected.y_score), np.asarray(got.y_score), rtol=1e-6, atol=1e-7
        )


def test_boosting_adds_rounds_and_forests_add_trees() -> None:
    _, lgbm, (X, y) = _parent("binary", "lightgbm", {"n_estimators": 40})
    continued = Derivation(lgbm, "warm_start", {"n_estimators": 15}).fit(X[600:], y[600:])
    assert continued.steps[-1][1].booster_.num_trees() == 55
    _, forest, _ = _parent("binary", "random_forest", {"n_estimators": 20})
    grown = Derivation(forest, "warm_start", {}).fit(X[600:], y[600:])
    assert len(grown.steps[-1][1].estimators_) == 30  # a quarter more, at least 10
    first = [t.tree_.node_count for t in forest.steps[-1][1].estimators_]
    assert [t.tree_.node_count for t in grown.steps[-1][1].estimators_[:20]] == first


def test_the_parents_preprocessing_is_reused_as_fitted_unless_refit_is_asked() -> None:
    _, parent, (X, y) = _parent("binary", "random_forest", {"n_estimators": 10})
    shifted = X[600:].copy()
    shifted["f1"] = shifted["f1"] + 100.0  # a median the parent never saw
    kept = Derivation(parent, "warm_start", {}).fit(shifted, y[600:])
    assert kept.steps[0][1].transformers_[0][1].named_steps["impute"].statistics_.tolist() == (
        parent.steps[0][1].transformers_[0][1].named_steps["impute"].statistics_.tolist()
    )
    refit = Derivation(parent, "warm_start", {}, refit_preprocessing=True).fit(shifted, y[600:])
    stats = refit.steps[0][1].transformers_[0][1].named_steps["impute"].statistics_
    assert stats[1] > 50  # learned from the new rows


def test_refused_combinations_name_what_would_work() -> None:
    _, forest, _ = _parent("binary", "random_forest", {"n_estimators": 10})
    with pytest.raises(InvalidInput, match=r"supports warm_start \(add trees.*finetune is for torch") as info:
        check_reuse(forest, "finetune", "churn/1")
    assert info.value.field == "model.reuse"
    _, knn, _ = _parent("binary", "knn")
    with pytest.raises(InvalidInput, match=r"cannot be continued.*lightgbm, xgboost, random_forest"):
        check_reuse(knn, None, "churn/2")
    _, hgb, _ = _parent("binary", "hist_gradient_boosting", {"max_iter": 20})
    with pytest.raises(InvalidInput, match=r"re-bins its input.*lightgbm"):
        check_reuse(hgb, "warm_start", "churn/3")


def test_a_class_the_parent_never_saw_or_a_missing_class_is_refused() -> None:
    _, forest, (X, y) = _parent("binary", "random_forest", {"n_estimators": 10})
    odd = y[600:].copy()
    odd.iloc[:5] = "surprise"
    with pytest.raises(InvalidInput, match="classes the parent never saw: surprise") as info:
        Derivation(forest, "warm_start", {}).fit(X[600:], odd)
    assert info.value.field == "target"
    one_class = y[600:][y[600:] == "low"]
    with pytest.raises(InvalidInput, match="needs every class of the parent"):
        Derivation(forest, "warm_start", {}).fit(X[600:].loc[one_class.index], one_class)
    _, sgd, _ = _parent("binary", "sgd")  # partial_fit keeps its classes: a subset is fine
    Derivation(sgd, "warm_start", {}).fit(X[600:].loc[one_class.index], one_class)


def test_bad_params_name_the_field() -> None:
    _, sgd, (X, y) = _parent("binary", "sgd")
    with pytest.raises(InvalidInput) as info:
        Derivation(sgd, "warm_start", {"epochs": 0}).fit(X[600:], y[600:])
    assert info.value.field == "model.params.epochs"
    with pytest.raises(InvalidInput) as info:
        Derivation(sgd, "warm_start", {"no_such_knob": 1}).fit(X[600:], y[600:])
    assert info.value.field == "model.params.no_such_knob"


def test_unsupervised_partial_fit_and_isolation_forest_continue() -> None:
    X, _ = _frame("binary")
    for task_name, model in (("clustering", "minibatch_kmeans"), ("anomaly", "isolation_forest")):
        task = get_task(task_name)
        spec = load_spec({"dataset": "d", "task": task_name, "model": model})
        parent = task.fit(build_pipeline(spec, task, X, list(X.columns)), X[:600], None, {})
        derived = Derivation(parent, check_reuse(parent, None, model), {}, supervised=False).fit(X[600:])
        assert len(task.predict(derived, X[600:], {}).y_pred) == 300
