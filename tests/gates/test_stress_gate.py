"""The stress gate: seeded perturbations, degradation limits, models that crash."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from carnet.domain import ColumnProfile, ModelVersion, Signature
from carnet.domain.training import ModelSpec, PreprocessSpec, TrainSpec
from carnet.errors import InvalidInput
from carnet.gates.context import GateContext
from carnet.gates.stress import DEFAULT_SCENARIOS, SCENARIOS, StressGate, perturb
from carnet.tasks import get_task
from carnet.training import build_pipeline

FEATURES = ["age", "income", "visits", "plan"]
KINDS = {"numeric": ["age", "income", "visits"], "categorical": ["plan"], "datetime": []}


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, size=n)
    income = rng.normal(50.0, 15.0, size=n)
    visits = rng.poisson(3, size=n)
    plan = rng.choice(["basic", "plus", "pro"], size=n)
    logit = 0.05 * (age - 50) + 0.08 * (income - 50) + 1.2 * (plan == "pro") + rng.normal(scale=0.7, size=n)
    return pd.DataFrame(
        {"age": age, "income": income, "visits": visits, "plan": plan, "y": (logit > 0).astype(int)}
    )


def _fit(
    frame: pd.DataFrame,
    model: str,
    task_name: str = "binary",
    pre: PreprocessSpec | None = None,
    **params: Any,
):
    task = get_task(task_name)
    spec = TrainSpec(
        dataset="d", task=task_name, target="y", model=ModelSpec(model, params), seed=0,
        preprocess=pre or PreprocessSpec(),
    )  # fmt: skip
    return task.fit(build_pipeline(spec, task, frame, FEATURES), frame[FEATURES], frame["y"], {})


def _profile(frame: pd.DataFrame) -> dict[str, ColumnProfile]:
    out = {}
    for c in ("age", "income", "visits"):
        col = frame[c].astype(float)
        out[c] = ColumnProfile(
            name=c, type="float64", kind="numeric", count=len(col), missing=0, missing_share=0.0,
            min=float(col.min()), max=float(col.max()), mean=float(col.mean()), std=float(col.std()),
        )  # fmt: skip
    top = [(str(k), int(v)) for k, v in frame["plan"].value_counts().items()]
    out["plan"] = ColumnProfile(
        name="plan", type="str", kind="categorical", count=len(frame), missing=0, missing_share=0.0,
        distinct=len(top), top=top,
    )  # fmt: skip
    return out


def _context(model: Any, frame: pd.DataFrame, task_name: str = "binary", **extra: Any) -> GateContext:
    version = ModelVersion(
        name="m", version=1, flavor="sklearn", artifact_digest="0" * 64, file_name="model.skops",
        run_id=None, signature=Signature(()), created_at=0.0, created_by="test", task=task_name,
    )  # fmt: skip
    return GateContext(
        task=get_task(task_name), candidate=model, candidate_version=version, alias="production",
        frame=frame, features=FEATURES, target="y", **extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _table(1500, 0), _table(700, 1)


MILD = [
    {"type": "gaussian_noise", "scale": 0.05, "max_degradation": 0.05},
    {"type": "missing_values", "fraction": 0.05, "max_degradation": 0.05},
    {"type": "out_of_range", "factor": 0.5, "fraction": 0.05, "max_degradation": 0.08},
    {"type": "unseen_categories", "fraction": 0.05, "max_degradation": 0.05},
    {"type": "subpopulation", "column": "plan", "value": "basic", "max_degradation": 0.2},
]


def test_a_robust_model_passes_mild_scenarios(data) -> None:
    train, test = data
    model = _fit(train, "hist_gradient_boosting", max_iter=50)
    config = {"metric": "roc_auc", "scenarios": MILD}
    StressGate().validate(config)
    result = StressGate().check(config, _context(model, test, training_profile=_profile(train), seed=3))
    assert result.passed is True, result.details
    assert result.measured == "5/5 scenarios within limits" and result.error is None
    records = result.details["scenarios"]
    assert [r["type"] for r in records] == [s["type"] for s in MILD]
    assert all(r["metric"] == "roc_auc" and r["base"] == result.details["base"] for r in records)
    assert result.value == max(r["degradation"] for r in records)
    sub = records[-1]
    assert sub["rows"] == int((test["plan"] == "basic").sum())
    assert records[0]["rows"] == len(test) and records[0]["value"] != records[0]["base"]
    assert result.threshold.startswith("gaussian_noise drop <= 0.05, missing_values drop <= 0.05")


def test_a_model_that_crashes_on_missing_values_fails_that_scenario_only(data) -> None:
    train, test = data
    no_impute = PreprocessSpec(impute_numeric="none", scale="standard")
    model = _fit(train, "logistic_regression", pre=no_impute)
    config = {
        "scenarios": [
            {"type": "missing_values", "fraction": 0.1, "max_degradation": 0.5},
            *MILD[:1],
            *MILD[2:],
        ]
    }
    result = StressGate().check(config, _context(model, test))
    assert result.passed is False
    assert result.measured == "4/5 scenarios within limits"
    missing, *others = result.details["scenarios"]
    assert missing["passed"] is False and "the model must not crash" in missing["error"]
    assert "NaN" in missing["error"] and missing["value"] is None
    assert result.error is not None and result.error.startswith("missing_values: the model must not crash")
    assert all(r["error"] is None and r["value"] is not None for r in others)
    assert result.details["metric"] == "roc_auc"  # the task's primary metric by default


def test_default_scenarios_and_relative_degradation_for_regression(data) -> None:
    train, test = data
    train, test = (
        train.assign(y=train["income"] * 2.0 + train["age"]),
        test.assign(y=test["income"] * 2.0 + test["age"]),
    )
    model = _fit(train, "ridge", "regression")
    result = StressGate().check({}, _context(model, test, "regression"))
    records = result.details["scenarios"]
    assert [r["type"] for r in records] == [s["type"] for s in DEFAULT_SCENARIOS]
    assert result.details["metric"] == "rmse" and result.details["greater_is_better"] is False
    noise = records[0]
    assert noise["relative"] is True and noise["value"] > noise["base"]
    assert noise["degradation"] == pytest.approx((noise["value"] - noise["base"]) / noise["base"])
    assert noise["passed"] is False  # a near-perfect linear fit degrades a lot in relative rmse


def test_perturbations_change_the_data_as_specified(data) -> None:
    train, test = data
    profile = _profile(train)
    n = len(test)

    missing = perturb(test, {"type": "missing_values", "fraction": 0.2}, FEATURES, KINDS, profile, seed=1)
    assert all(int(missing[c].isna().sum()) == round(0.2 * n) for c in FEATURES)
    assert missing["y"].equals(test["y"]) and test[FEATURES].notna().all().all()

    far = perturb(
        test,
        {"type": "out_of_range", "factor": 1.5, "fraction": 0.1, "columns": ["income"]},
        FEATURES,
        KINDS,
        profile,
        seed=1,
    )
    moved = far["income"].to_numpy() != test["income"].to_numpy()
    assert moved.sum() == round(0.1 * n)
    low, high = profile["income"].min, profile["income"].max
    span = high - low
    assert np.all((far["income"][moved] > high + span) | (far["income"][moved] < low - span))
    assert far["age"].equals(test["age"])

    unseen = perturb(test, {"type": "unseen_categories", "fraction": 0.3}, FEATURES, KINDS, profile, seed=1)
    new = set(unseen["plan"]) - set(train["plan"])
    assert len(new) == 1 and int(unseen["plan"].isin(new).sum()) == round(0.3 * n)

    noisy = perturb(test, {"type": "gaussian_noise", "scale": 0.5}, FEATURES, KINDS, profile, seed=1)
    diff = noisy["income"] - test["income"]
    assert diff.std() == pytest.approx(0.5 * profile["income"].std, rel=0.15)
    assert noisy["plan"].equals(test["plan"])

    young = perturb(
        test, {"type": "subpopulation", "column": "age", "quantile": [0.0, 0.25]}, FEATURES, KINDS, seed=1
    )
    assert young["age"].max() <= test["age"].quantile(0.25) and 0.2 * n <= len(young) <= 0.3 * n
    assert young.index.isin(test.index).all()
    plans = perturb(test, {"type": "subpopulation", "column": "plan", "values": ["plus", "pro"]}, FEATURES)
    assert set(plans["plan"]) == {"plus", "pro"}


def test_perturbations_are_seeded_and_handle_other_dtypes(data) -> None:
    _, test = data
    scenario = {"type": "missing_values", "fraction": 0.2}
    first = perturb(test, scenario, FEATURES, KINDS, seed=7)
    assert first.equals(perturb(test, scenario, FEATURES, KINDS, seed=7))
    assert not first.equals(perturb(test, scenario, FEATURES, KINDS, seed=8))
    typed = test.assign(plan=test["plan"].astype("category"), flag=test["age"] > 40)
    kinds = {"numeric": KINDS["numeric"], "categorical": ["plan", "flag"]}
    for kind in ("missing_values", "unseen_categories"):
        out = perturb(typed, {"type": kind, "fraction": 0.5}, [*FEATURES, "flag"], kinds, seed=0)
        changed = out["flag"].astype(object) != typed["flag"].astype(object)
        assert changed.sum() == round(0.5 * len(typed)) and isinstance(out["plan"].dtype, pd.CategoricalDtype)
    with pytest.raises(ValueError, match="categorical"):
        perturb(test, {"type": "unseen_categories", "columns": ["age"]}, FEATURES, KINDS)


def test_gate_results_are_deterministic_and_bad_scenarios_fail_alone(data) -> None:
    train, test = data
    model = _fit(train, "hist_gradient_boosting", max_iter=30)
    config = {
        "scenarios": [
            *MILD,
            {"type": "subpopulation", "column": "region", "value": "x", "max_degradation": 0.1},
        ]
    }
    first = StressGate().check(config, _context(model, test, seed=5))
    again = StressGate().check(config, _context(model, test, seed=5))
    other = StressGate().check(config, _context(model, test, seed=6))
    assert first.to_dict() == again.to_dict()
    assert first.details["scenarios"][0]["value"] != other.details["scenarios"][0]["value"]
    last = first.details["scenarios"][-1]
    assert last["passed"] is False and "region" in last["error"]
    assert first.measured == "5/6 scenarios within limits"
    invalid = StressGate().check({"scenarios": [{"type": "flood"}]}, _context(model, test))
    assert invalid.passed is False and "flood" in (invalid.error or "")


def test_scenario_types_are_listed() -> None:
    assert set(SCENARIOS) == {
        "gaussian_noise",
        "missing_values",
        "out_of_range",
        "unseen_categories",
        "subpopulation",
    }


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"scenarios": [{"type": "earthquake", "max_degradation": 0.1}]}, "scenarios[0].type"),
        (
            {"scenarios": [MILD[0], {"type": "missing_values", "fraction": 1.5, "max_degradation": 0.1}]},
            "scenarios[1].fraction",
        ),
        ({"scenarios": [{"type": "missing_values", "fraction": 0.1}]}, "scenarios[0].max_degradation"),
        (
            {"scenarios": [{"type": "gaussian_noise", "scale": -1, "max_degradation": 0.1}]},
            "scenarios[0].scale",
        ),
        (
            {"scenarios": [{"type": "gaussian_noise", "fraction": 0.1, "max_degradation": 0.1}]},
            "scenarios[0].fraction",
        ),
        ({"scenarios": [{"type": "subpopulation", "max_degradation": 0.1}]}, "scenarios[0].column"),
        (
            {"scenarios": [{"type": "subpopulation", "column": "a", "max_degradation": 0.1}]},
            "scenarios[0].value",
        ),
        (
            {
                "scenarios": [
                    {"type": "subpopulation", "column": "a", "quantile": [0.5, 0.2], "max_degradation": 0.1}
                ]
            },
            "scenarios[0].quantile",
        ),
        (
            {"scenarios": [{"type": "missing_values", "columns": [], "max_degradation": 0.1}]},
            "scenarios[0].columns",
        ),
        ({"scenarios": []}, "scenarios"),
        ({"metric": 3}, "metric"),
        ({"scenario": []}, "scenario"),
    ],
)
def test_validate_names_the_bad_setting(config: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        StressGate().validate(config)
    assert err.value.field == field
    if field == "scenarios[0].type":
        assert "gaussian_noise" in str(err.value)
