"""The explainability gate: SHAP / permutation attributions, forbidden features, stability."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from carnet.domain import ModelVersion, Signature
from carnet.domain.training import ModelSpec, TrainSpec
from carnet.errors import InvalidInput
from carnet.gates.context import GateContext
from carnet.gates.explainability import ExplainabilityGate, explain, global_attributions, rank_correlation
from carnet.tasks import get_task
from carnet.training import build_pipeline

FEATURES = ["num", "color", "noise", "customer_id"]


def _table(n: int, seed: int) -> pd.DataFrame:
    """``customer_id`` leaks the target (ids handed out in outcome order); ``num`` and ``color`` are real."""
    rng = np.random.default_rng(seed)
    num, noise = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    y = ((color == "red") * 1.5 + num + rng.normal(scale=0.8, size=n) > 0.8).astype(int)
    customer_id = np.where(y == 1, 100_000, 0) + rng.permutation(n)
    return pd.DataFrame({"num": num, "color": color, "noise": noise, "customer_id": customer_id, "y": y})


def _fit(frame: pd.DataFrame, features: list[str], model: str, task_name: str = "binary", **params: Any):
    task = get_task(task_name)
    spec = TrainSpec(dataset="d", task=task_name, target="y", model=ModelSpec(model, params), seed=0)
    pipeline = build_pipeline(spec, task, frame, features)
    return task.fit(pipeline, frame[features], frame["y"], {})


def _context(model: Any, frame: pd.DataFrame, features: list[str], task_name: str = "binary") -> GateContext:
    version = ModelVersion(
        name="m", version=1, flavor="sklearn", artifact_digest="0" * 64, file_name="model.skops",
        run_id=None, signature=Signature(()), created_at=0.0, created_by="test", task=task_name,
    )  # fmt: skip
    return GateContext(
        task=get_task(task_name), candidate=model, candidate_version=version, alias="production",
        frame=frame, features=features, target="y", seed=0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _table(1200, 0), _table(600, 1)


def test_a_model_leaning_on_an_identifier_fails_and_a_clean_one_passes(data) -> None:
    train, test = data
    config = {
        "top_k": 2,
        "forbidden": ["customer_id"],
        "stability": {"n_bootstrap": 5, "min_rank_correlation": 0.5},
    }
    gate = ExplainabilityGate()
    gate.validate(config)
    leaky = _fit(train, FEATURES, "hist_gradient_boosting", max_iter=30)
    clean = _fit(train, ["num", "color", "noise"], "hist_gradient_boosting", max_iter=30)

    bad = gate.check(config, _context(leaky, test, FEATURES))
    good = gate.check(config, _context(clean, test, ["num", "color", "noise"]))

    assert bad.passed is False and bad.error is None
    assert bad.details["attributions"][0]["feature"] == "customer_id"
    assert bad.details["forbidden_in_top_k"] == ["customer_id"]
    assert "customer_id" in bad.measured and bad.threshold.startswith("no forbidden feature in top 2")
    assert good.passed is True, good.details
    assert good.details["method"] == "shap"
    assert set(good.details["top_k"]) == {"color", "num"}
    assert good.details["forbidden_not_features"] == ["customer_id"]
    stability = good.details["stability"]
    assert len(stability["correlations"]) == 5 and stability["min"] == good.value
    assert 0.5 <= stability["min"] <= stability["mean"] <= 1.0


@pytest.mark.parametrize(
    ("model", "params", "method"),
    [
        ("hist_gradient_boosting", {"max_iter": 20}, "shap"),
        ("random_forest", {"n_estimators": 20, "max_depth": 6}, "shap"),
        ("lightgbm", {"n_estimators": 20}, "shap"),
        ("xgboost", {"n_estimators": 20}, "shap"),
        ("logistic_regression", {}, "permutation"),
    ],
)
def test_auto_uses_shap_for_tree_models_and_permutation_otherwise(data, model, params, method) -> None:
    train, test = data
    features = ["num", "color", "noise"]
    fitted = _fit(train, features, model, **params)
    result = ExplainabilityGate().check({"stability": False}, _context(fitted, test, features))
    assert result.passed is True and result.error is None
    assert result.details["method"] == method and result.details["note"] is None
    ranked = [row["feature"] for row in result.details["attributions"]]
    assert sorted(ranked) == sorted(features)  # raw columns, not one-hot columns
    assert ranked[-1] == "noise"


@pytest.mark.filterwarnings("ignore:LightGBM binary classifier:UserWarning")
def test_shap_of_one_hot_columns_sums_back_to_the_raw_column(data) -> None:
    import shap

    train, test = data
    features = ["num", "color", "noise"]
    fitted = _fit(train, features, "lightgbm", n_estimators=30)
    att = explain(fitted, test[features], get_task("binary"), "shap", seed=0, max_rows=10_000)
    pre, model = fitted[:-1], fitted[-1]
    matrix = pre.transform(test[features])
    values = np.asarray(shap.TreeExplainer(model).shap_values(matrix, check_additivity=False))
    names = list(pre.get_feature_names_out())
    color = [i for i, n in enumerate(names) if n.startswith("cat__color_")]
    assert len(color) == 3
    expected = np.abs(values[:, color].sum(axis=1)).mean()
    assert att.importance[features.index("color")] == pytest.approx(expected)
    assert att.importance[features.index("num")] == pytest.approx(
        np.abs(values[:, names.index("num__num")]).mean()
    )
    table = global_attributions(fitted, test[features], "classification", "shap")
    assert table == att.table() and {row["feature"] for row in table} == set(features)


def test_multiclass_shap_averages_classes_and_regression_uses_permutation() -> None:
    rng = np.random.default_rng(2)
    n = 900
    frame = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "kind": rng.choice(["x", "y"], n)}
    )
    frame["y"] = np.array(["lo", "mid", "hi"])[np.digitize(frame["a"], [-0.4, 0.4])]
    fitted = _fit(frame, ["a", "b", "kind"], "random_forest", "multiclass", n_estimators=15, max_depth=5)
    table = global_attributions(fitted, frame[["a", "b", "kind"]], get_task("multiclass"), max_rows=300)
    assert table[0]["feature"] == "a" and table[0]["importance"] > 5 * table[1]["importance"]

    reg = frame.assign(y=3.0 * frame["b"] + rng.normal(scale=0.1, size=n))
    ridge = _fit(reg, ["a", "b", "kind"], "ridge", "regression")
    result = ExplainabilityGate().check(
        {"top_k": 1, "forbidden": ["a"]}, _context(ridge, reg, ["a", "b", "kind"], "regression")
    )
    assert result.details["method"] == "permutation" and result.details["top_k"] == ["b"]
    assert result.passed is True and result.details["stability"]["min"] == pytest.approx(1.0)


def test_an_unstable_ranking_fails_and_results_are_seeded() -> None:
    rng = np.random.default_rng(4)
    n = 400
    frame = pd.DataFrame({f"n{i}": rng.normal(size=n) for i in range(8)})
    frame["y"] = rng.integers(0, 2, size=n)  # nothing to learn: every feature is about as useless
    features = [f"n{i}" for i in range(8)]
    fitted = _fit(frame, features, "random_forest", n_estimators=10, max_depth=4)
    config = {"stability": {"n_bootstrap": 5, "min_rank_correlation": 0.999}}
    first = ExplainabilityGate().check(config, _context(fitted, frame, features))
    again = ExplainabilityGate().check(config, _context(fitted, frame, features))
    assert first.passed is False and first.details["stability"]["passed"] is False
    assert first.to_dict() == again.to_dict()


def test_models_that_cannot_be_explained_fail_with_an_error(data) -> None:
    train, test = data
    features = ["num", "color", "noise"]
    linear = _fit(train, features, "logistic_regression")
    forced = ExplainabilityGate().check({"method": "shap"}, _context(linear, test, features))
    assert forced.passed is False and "tree models" in (forced.error or "")
    broken = ExplainabilityGate().check({}, _context(object(), test, features))
    assert broken.passed is False and broken.error
    invalid = ExplainabilityGate().check({"top_k": 0}, _context(linear, test, features))
    assert invalid.passed is False and "top_k" in (invalid.error or "")


def test_rank_correlation_edge_cases() -> None:
    assert rank_correlation(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])) == pytest.approx(1.0)
    assert rank_correlation(np.array([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(-1.0)
    assert rank_correlation(np.zeros(3), np.zeros(3)) == 1.0
    assert rank_correlation(np.zeros(3), np.array([0.0, 1.0, 2.0])) == 0.0
    # features at noise level (under 1% of the largest) count as tied: their order is not instability
    assert rank_correlation(np.array([5.0, 1.0, 0.001, 0.002]), np.array([5.0, 1.0, 0.002, -0.001])) == 1.0


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"method": "lime"}, "method"),
        ({"top_k": 0}, "top_k"),
        ({"forbidden": "id"}, "forbidden"),
        ({"max_rows": 1}, "max_rows"),
        ({"stability": 3}, "stability"),
        ({"stability": {"n_bootstrap": 0}}, "stability.n_bootstrap"),
        ({"stability": {"min_rank_correlation": 2}}, "stability.min_rank_correlation"),
        ({"stability": {"rounds": 2}}, "stability.rounds"),
        ({"topk": 3}, "topk"),
    ],
)
def test_validate_names_the_bad_setting(config: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ExplainabilityGate().validate(config)
    assert err.value.field == field


def test_a_lightgbm_model_loaded_by_the_native_flavor_is_explained_with_shap() -> None:
    from lightgbm import LGBMClassifier

    from carnet.flavors import flavor_named

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] + 0.2 * X["b"] > 0).astype(int)
    fitted = LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y)
    flavor = flavor_named("lightgbm")
    loaded = flavor.loads(flavor.dumps(fitted))
    result = explain(loaded, X, get_task("binary"), method="auto", seed=0, max_rows=200)
    assert result.method == "shap" and result.note is None
    assert [r["feature"] for r in result.table()[:2]] == ["a", "b"]


def test_the_gate_says_which_method_ran_when_shap_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without SHAP the gate says so in its measured text, with the install command."""
    import sys

    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from carnet.gates.explainability import explain

    monkeypatch.setitem(sys.modules, "shap", None)
    data = load_breast_cancer(as_frame=True)
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(data.data, data.target)
    from carnet.tasks import get_task

    att = explain(model, data.data, get_task("binary"), "auto", 0, 100, y=data.target)
    assert att.method == "permutation" and att.note and "carnet[explain]" in att.note
