"""Model resolution: short names per family, class paths, task models, params checks."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from carnet.errors import InvalidInput
from carnet.training import MODELS, known_models, resolve_model


class FamilyTask:
    """A task of one family with optional task-specific models."""

    description = "fake"
    supervised = True
    tabular = True

    def __init__(self, family: str, models: dict[str, Any] | None = None) -> None:
        self.family = family
        self.name = f"fake_{family}"
        self._models = models or {}

    def models(self) -> dict[str, Any]:
        return dict(self._models)


CASES = [(family, name, path) for family, names in MODELS.items() for name, (path, _) in names.items()]


@pytest.mark.parametrize(("family", "name", "path"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_short_names_resolve_per_family(family: str, name: str, path: str) -> None:
    est = resolve_model(name, FamilyTask(family), {}, seed=3)
    assert type(est).__name__ == path.split(":")[1]
    params = est.get_params()
    if "random_state" in params:
        assert params["random_state"] == 3


def test_known_models_lists_task_models_first() -> None:
    task = FamilyTask("regression", {"prophet_like": object})
    names = known_models(task)
    assert names[0] == "prophet_like"
    assert names[1:] == list(MODELS["regression"])
    assert known_models(FamilyTask("forecasting")) == []
    assert "lightgbm" in known_models(FamilyTask("classification"))
    assert "local_outlier_factor" in known_models(FamilyTask("anomaly"))


def test_defaults_seed_and_user_overrides() -> None:
    task = FamilyTask("classification")
    rf = resolve_model("random_forest", task, {"max_depth": 4}, seed=11)
    assert rf.get_params()["n_jobs"] == 1 and rf.random_state == 11 and rf.max_depth == 4
    rf = resolve_model("random_forest", task, {"n_jobs": 2, "random_state": 5}, seed=11)
    assert rf.n_jobs == 2 and rf.random_state == 5
    lgbm = resolve_model("lightgbm", task, {}, seed=1).get_params()
    assert (lgbm["n_jobs"], lgbm["verbose"], lgbm["random_state"]) == (1, -1, 1)
    assert resolve_model("xgboost", task, {}).get_params()["n_jobs"] == 1
    assert resolve_model("local_outlier_factor", FamilyTask("anomaly"), {}).novelty is True
    assert resolve_model("ridge", FamilyTask("regression"), {}, seed=4).get_params()["random_state"] == 4


@pytest.mark.parametrize("path", ["sklearn.linear_model.Ridge", "sklearn.linear_model:Ridge"])
def test_class_paths(path: str) -> None:
    est = resolve_model(path, FamilyTask("regression"), {"alpha": 0.5}, seed=2)
    assert type(est).__name__ == "Ridge" and est.alpha == 0.5


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("os.path:join", "estimator class with get_params"),
        ("no_such_module_xyz.Model", "cannot be imported"),
        ("sklearn.linear_model:Ridg", "has no class 'Ridg'"),
        ("sklearn.pipeline.Pipeline", "cannot be built without arguments"),
    ],
)
def test_bad_class_paths(path: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_model(path, FamilyTask("regression"), {})
    assert err.value.field == "model.name" and fragment in str(err.value)


def test_unknown_model_lists_close_names() -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_model("random_forrest", FamilyTask("classification"), {})
    assert err.value.field == "model.name"
    assert "did you mean 'random_forest'" in str(err.value)
    assert "known: hist_gradient_boosting, random_forest" in str(err.value)
    with pytest.raises(InvalidInput, match="unknown model 'ridge' for task 'fake_classification'"):
        resolve_model("ridge", FamilyTask("classification"), {})


def test_unknown_param_did_you_mean() -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_model("random_forest", FamilyTask("classification"), {"max_dpth": 3})
    assert err.value.field == "model.params.max_dpth"
    assert "did you mean 'max_depth'?" in str(err.value)
    with pytest.raises(InvalidInput) as err:
        resolve_model("random_forest", FamilyTask("classification"), {"max_dpth": 3}, field="search.space")
    assert err.value.field == "search.space.max_dpth"
    with pytest.raises(InvalidInput) as err:
        resolve_model("xgboost", FamilyTask("classification"), {"max_dept": 3})
    assert "did you mean 'max_depth'?" in str(err.value)


def test_invalid_param_values_are_caught_early() -> None:
    with pytest.raises(InvalidInput) as err:
        resolve_model("random_forest", FamilyTask("classification"), {"n_estimators": -1})
    assert err.value.field == "model.params.n_estimators"
    assert "random_forest" in str(err.value) and "\n" not in str(err.value)


def test_native_lightgbm_params_pass_through() -> None:
    est = resolve_model("lightgbm", FamilyTask("classification"), {"lambda_l1": 0.1, "min_data_in_leaf": 5})
    assert est.get_params()["lambda_l1"] == 0.1


def test_task_models_come_first_and_may_be_plain_factories() -> None:
    from sklearn.linear_model import Ridge

    class Naive:
        def __init__(self, window: int = 3) -> None:
            self.window = window

    task = FamilyTask("regression", {"random_forest": Ridge, "naive": Naive})
    assert type(resolve_model("random_forest", task, {"alpha": 2.0})).__name__ == "Ridge"
    assert resolve_model("naive", task, {"window": 7}).window == 7
    with pytest.raises(InvalidInput) as err:
        resolve_model("naive", task, {"windw": 7})
    assert err.value.field.startswith("model.params")


def test_missing_optional_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(InvalidInput) as err:
        resolve_model("lightgbm", FamilyTask("classification"), {})
    assert err.value.field == "model.name" and "pip install 'carnet[lightgbm]'" in str(err.value)
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(InvalidInput, match=r"pip install 'carnet\[xgboost\]'"):
        resolve_model("xgboost", FamilyTask("regression"), {})


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_boosters_build_and_fit(name: str) -> None:
    X, y = make_classification(n_samples=120, n_features=6, random_state=0)
    clf = resolve_model(name, FamilyTask("classification"), {"n_estimators": 20}, seed=0).fit(X, y)
    assert clf.predict_proba(X).shape == (120, 2)
    Xr, yr = make_regression(n_samples=120, n_features=6, random_state=0)
    reg = resolve_model(name, FamilyTask("regression"), {"n_estimators": 20}, seed=0).fit(Xr, yr)
    assert np.isfinite(reg.predict(Xr)).all()
