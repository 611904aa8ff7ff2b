"""The fairness gate: Fairlearn group metrics, parity thresholds, binary and multiclass."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    selection_rate,
)

from carnet.domain import ModelVersion, Signature
from carnet.domain.training import ModelSpec, TrainSpec
from carnet.errors import InvalidInput
from carnet.gates.context import GateContext
from carnet.gates.fairness import FairnessGate, fairness_report
from carnet.tasks import get_task
from carnet.training import build_pipeline


def _people(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["A", "B"], size=n)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = (x1 + 0.5 * x2 + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "group": group, "y": y})


def _fit(
    frame: pd.DataFrame, features: list[str], task_name: str = "binary", model: str = "logistic_regression"
):
    task = get_task(task_name)
    spec = TrainSpec(dataset="d", task=task_name, target="y", model=ModelSpec(model), seed=0)
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
def people() -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = _people(1500, 0), _people(800, 1)
    return train, test


def test_a_model_biased_against_one_group_fails_and_a_fair_one_passes(people) -> None:
    train, test = people
    biased_train = train.copy()
    biased_train.loc[biased_train["group"] == "B", "y"] = 0  # historic labels deny group B
    biased = _fit(biased_train, ["x1", "x2", "group"])
    fair = _fit(train, ["x1", "x2"])
    config = {
        "sensitive": ["group"],
        "max_demographic_parity_difference": 0.1,
        "max_equalized_odds_difference": 0.15,
    }
    gate = FairnessGate()
    gate.validate(config)

    bad = gate.check(config, _context(biased, test, ["x1", "x2", "group"]))
    good = gate.check(config, _context(fair, test, ["x1", "x2"]))

    assert bad.passed is False and bad.error is None
    assert good.passed is True, good.details
    assert bad.type == "fairness" and bad.measured.startswith("dp_diff ")
    assert bad.threshold == "dp_diff <= 0.1, eo_diff <= 0.15"
    assert bad.value is not None and bad.value > 0.3
    [evaluation] = bad.details["evaluations"]
    assert evaluation["column"] == "group" and evaluation["class"] == 1
    rows = {r["group"]: r for r in evaluation["groups"]}
    assert rows["B"]["selection_rate"] < 0.05 < 0.3 < rows["A"]["selection_rate"]
    assert set(rows["A"]) == {"group", "n", "included", "selection_rate", "tpr", "fpr", "accuracy"}
    assert rows["A"]["n"] + rows["B"]["n"] == len(test)
    assert bad.details["worst"]["demographic_parity_difference"]["column"] == "group"


def test_measures_equal_fairlearn(people) -> None:
    train, test = people
    model = _fit(train, ["x1", "x2"])
    pred = model.predict(test[["x1", "x2"]])
    report = fairness_report(test["y"], pred, {"group": test["group"]}, classes=[0, 1])
    [ev] = report["evaluations"]
    kw = {"sensitive_features": test["group"]}
    assert ev["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(test["y"], pred, **kw)
    )
    assert ev["demographic_parity_ratio"] == pytest.approx(demographic_parity_ratio(test["y"], pred, **kw))
    assert ev["equalized_odds_difference"] == pytest.approx(equalized_odds_difference(test["y"], pred, **kw))
    assert ev["equalized_odds_ratio"] == pytest.approx(equalized_odds_ratio(test["y"], pred, **kw))
    by_group = MetricFrame(
        metrics=selection_rate, y_true=test["y"], y_pred=pred, sensitive_features=test["group"]
    ).by_group
    for row in ev["groups"]:
        assert row["selection_rate"] == pytest.approx(by_group[row["group"]])
    overall = fairness_report(test["y"], pred, {"group": test["group"]}, classes=[0, 1], method="to_overall")
    assert overall["evaluations"][0]["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(test["y"], pred, method="to_overall", **kw)
    )


def test_small_groups_are_reported_but_left_out_of_the_verdict() -> None:
    rng = np.random.default_rng(3)
    n = 400
    group = np.where(np.arange(n) < 10, "tiny", rng.choice(["A", "B"], size=n))
    truth = rng.integers(0, 2, size=n)
    pred = truth.copy()
    pred[group == "tiny"] = 1  # the tiny group is treated very differently
    report = fairness_report(truth, pred, {"g": group}, classes=[0, 1], min_group_size=30)
    [ev] = report["evaluations"]
    rows = {r["group"]: r for r in ev["groups"]}
    assert rows["tiny"] == {**rows["tiny"], "n": 10, "included": False}
    assert rows["A"]["included"] and rows["B"]["included"]
    keep = group != "tiny"
    args, kw = (truth[keep], pred[keep]), {"sensitive_features": group[keep]}
    assert ev["demographic_parity_difference"] == pytest.approx(demographic_parity_difference(*args, **kw))
    assert ev["equalized_odds_ratio"] == pytest.approx(equalized_odds_ratio(*args, **kw))
    lone = fairness_report(truth, pred, {"g": np.where(group == "tiny", "tiny", "rest")}, classes=[0, 1])
    assert "fewer than 2 groups" in lone["evaluations"][0]["error"]


def test_multiclass_is_judged_one_vs_rest_on_the_worst_class() -> None:
    rng = np.random.default_rng(5)
    n = 1800
    group = rng.choice(["A", "B"], size=n)
    x1 = rng.normal(size=n)
    y = np.digitize(x1 + rng.normal(scale=0.3, size=n), [-0.5, 0.5])
    frame = pd.DataFrame({"x1": x1, "group": group, "y": np.array(["low", "mid", "high"])[y]})
    train, test = frame.iloc[:1200], frame.iloc[1200:].reset_index(drop=True)
    biased_train = train.copy()
    biased_train.loc[biased_train["group"] == "B", "y"] = "low"  # B never gets mid or high
    biased = _fit(biased_train, ["x1", "group"], "multiclass")
    fair = _fit(train, ["x1"], "multiclass")
    config = {"sensitive": "group", "max_demographic_parity_difference": 0.15}

    bad = FairnessGate().check(config, _context(biased, test, ["x1", "group"], "multiclass"))
    good = FairnessGate().check(config, _context(fair, test, ["x1"], "multiclass"))

    assert {ev["class"] for ev in bad.details["evaluations"]} == {"high", "low", "mid"}
    assert bad.passed is False and good.passed is True, good.details
    worst = bad.details["worst"]["demographic_parity_difference"]
    per_class = {ev["class"]: ev["demographic_parity_difference"] for ev in bad.details["evaluations"]}
    assert worst["value"] == max(per_class.values()) == bad.value
    assert worst["class"] == max(per_class, key=per_class.__getitem__)
    pred = biased.predict(test[["x1", "group"]])
    expected = demographic_parity_difference(
        test["y"] == "low", pred == "low", sensitive_features=test["group"]
    )
    assert per_class["low"] == pytest.approx(expected)


def test_ratios_positive_label_and_missing_group_values(people) -> None:
    train, test = people
    test = test.copy()
    test.loc[test.index[:40], "group"] = None
    model = _fit(train, ["x1", "x2"])
    config = {"sensitive": ["group"], "min_demographic_parity_ratio": 0.8, "positive_label": "0"}
    result = FairnessGate().check(config, _context(model, test, ["x1", "x2"]))
    assert result.details["positive_label"] == 0
    groups = {r["group"] for r in result.details["evaluations"][0]["groups"]}
    assert groups == {"A", "B", "(missing)"}
    assert result.measured.startswith("dp_ratio ") and result.threshold == "dp_ratio >= 0.8"
    assert result.passed is True


def test_a_ratio_undefined_because_no_group_is_selected_counts_as_parity() -> None:
    truth = np.array([0, 1] * 50)
    groups = np.array(["A"] * 50 + ["B"] * 50)
    report = fairness_report(truth, np.zeros(100, dtype=int), {"g": groups}, classes=[0, 1])
    assert np.isnan(demographic_parity_ratio(truth, np.zeros(100), sensitive_features=groups))
    ev = report["evaluations"][0]
    assert ev["demographic_parity_ratio"] is None and ev["demographic_parity_difference"] == 0.0


def test_regression_and_missing_columns_fail_with_an_error(people) -> None:
    train, test = people
    reg = _fit(train.assign(y=train["x1"] * 2.0), ["x1", "x2"], "regression", "ridge")
    config = {"sensitive": ["group"], "max_demographic_parity_difference": 0.1}
    result = FairnessGate().check(config, _context(reg, test, ["x1", "x2"], "regression"))
    assert result.passed is False and "classification" in (result.error or "")
    model = _fit(train, ["x1", "x2"])
    absent = FairnessGate().check({**config, "sensitive": ["sex"]}, _context(model, test, ["x1", "x2"]))
    assert absent.passed is False and "'sex'" in (absent.error or "")
    broken = FairnessGate().check(config, _context(object(), test, ["x1", "x2"]))
    assert broken.passed is False and broken.error
    unset = FairnessGate().check({}, _context(model, test, ["x1", "x2"]))  # never vacuously passes
    assert unset.passed is False and "sensitive" in (unset.error or "")


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"max_demographic_parity_difference": 0.1}, "sensitive"),
        ({"sensitive": [1], "max_demographic_parity_difference": 0.1}, "sensitive"),
        ({"sensitive": ["g"]}, "max_demographic_parity_difference"),
        ({"sensitive": ["g"], "min_equalized_odds_ratio": 1.5}, "min_equalized_odds_ratio"),
        (
            {"sensitive": ["g"], "max_demographic_parity_difference": 0.1, "min_group_size": 0},
            "min_group_size",
        ),
        ({"sensitive": ["g"], "max_demographic_parity_difference": 0.1, "method": "x"}, "method"),
        ({"sensitive": ["g"], "max_dp_difference": 0.1}, "max_dp_difference"),
    ],
)
def test_validate_names_the_bad_setting(config: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        FairnessGate().validate(config)
    assert err.value.field == field
