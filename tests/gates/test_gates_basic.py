"""The metric, non-regression, signature and approval gates, the gate registry and run_gates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import mean_squared_error, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from carnet.domain import Approval, ColumnSpec, GateResult, ModelVersion, Signature
from carnet.errors import InvalidInput
from carnet.evaluation.resampling import percentile_interval, resample_weights, weighted_auc
from carnet.gates import (
    ApprovalGate,
    GateContext,
    MetricGate,
    NonRegressionGate,
    SignatureGate,
    load_policy,
    run_gates,
)
from carnet.gates.signature import dtype_kind
from carnet.plugins.api import Gate
from carnet.plugins.loader import registry
from carnet.tasks import get_task


def _version(version: int, columns: dict[str, str] | None = None, created_by: str = "alice") -> ModelVersion:
    signature = Signature(tuple(ColumnSpec(c, t) for c, t in (columns or {}).items()))
    return ModelVersion(
        name="model", version=version, flavor="sklearn", artifact_digest="0" * 64, file_name="model.skops",
        run_id=None, signature=signature, created_at=0.0, created_by=created_by, task="binary",
    )  # fmt: skip


class Data:
    """A bundled dataset split into training and evaluation rows."""

    def __init__(self, frame: pd.DataFrame, target: str, task: str) -> None:
        self.target, self.task = target, task
        self.features = [c for c in frame.columns if c != target]
        self.train, self.test = train_test_split(frame, test_size=0.4, random_state=0)

    def fit(self, model: Any) -> Any:
        return model.fit(self.train[self.features], self.train[self.target])

    def context(self, candidate: Any, incumbent: Any = None, *, seed: int = 0, **kw: Any) -> GateContext:
        columns = {c: "float64" for c in self.features}
        return GateContext(
            task=get_task(self.task), candidate=candidate, candidate_version=_version(2, columns),
            alias="production", frame=self.test, features=self.features, target=self.target,
            incumbent=incumbent, incumbent_version=_version(1, columns) if incumbent is not None else None,
            seed=seed, **kw,
        )  # fmt: skip


@pytest.fixture(scope="module")
def cancer() -> Data:
    return Data(load_breast_cancer(as_frame=True).frame, "target", "binary")


@pytest.fixture(scope="module")
def diabetes() -> Data:
    return Data(load_diabetes(as_frame=True).frame, "target", "regression")


@pytest.fixture(scope="module")
def logistic(cancer: Data) -> Any:
    return cancer.fit(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)))


@pytest.fixture(scope="module")
def majority(cancer: Data) -> Any:
    return cancer.fit(DummyClassifier(strategy="most_frequent"))


# -- metric -------------------------------------------------------------------------------------


def test_metric_gate_measures_the_metric_on_the_evaluation_rows(cancer: Data, logistic: Any) -> None:
    expected = roc_auc_score(
        cancer.test["target"], logistic.predict_proba(cancer.test[cancer.features])[:, 1]
    )
    ctx = cancer.context(logistic)
    passed = MetricGate().check({"condition": "roc_auc >= 0.9"}, ctx)
    assert passed.passed and passed.error is None
    assert passed.value == pytest.approx(expected)
    assert passed.measured == f"{expected:.4g}" and passed.threshold == ">= 0.9"
    low, high = passed.details["ci"]
    assert low <= expected <= high and high - low < 0.05
    failed = MetricGate().check({"metric": "roc_auc", "op": ">", "value": 0.9999}, ctx)
    assert not failed.passed and failed.error is None and failed.threshold == "> 0.9999"


def test_metric_gate_handles_lower_is_better_metrics(diabetes: Data) -> None:
    model = diabetes.fit(LinearRegression())
    rmse = mean_squared_error(diabetes.test["target"], model.predict(diabetes.test[diabetes.features])) ** 0.5
    ctx = diabetes.context(model)
    ok = MetricGate().check({"condition": f"rmse <= {rmse + 1:.1f}"}, ctx)
    assert ok.passed and ok.value == pytest.approx(rmse) and ok.details["greater_is_better"] is False
    assert not MetricGate().check({"condition": f"rmse < {rmse - 1:.1f}"}, ctx).passed
    no_ci = MetricGate().check({"condition": "r2 >= 0.2", "bootstrap": 0}, ctx)
    assert no_ci.passed and "ci" not in no_ci.details


def test_metric_gate_names_an_unknown_metric_and_lists_the_known_ones(cancer: Data, logistic: Any) -> None:
    result = MetricGate().check({"condition": "rmse <= 1"}, cancer.context(logistic))
    assert not result.passed
    assert result.error is not None and "'rmse'" in result.error and "roc_auc" in result.error


def test_metric_gate_reports_a_crashing_model_as_a_failed_gate(cancer: Data) -> None:
    class Broken:
        classes_ = np.array([0, 1])

        def predict(self, X: Any) -> Any:
            raise RuntimeError("model exploded")

    result = MetricGate().check({"condition": "accuracy >= 0.5"}, cancer.context(Broken()))
    assert not result.passed and result.error == "RuntimeError: model exploded"


def test_metric_gate_without_evaluation_data_fails_with_a_hint(cancer: Data, logistic: Any) -> None:
    ctx = cancer.context(logistic)
    ctx.frame = None
    result = MetricGate().check({"condition": "accuracy >= 0.5"}, ctx)
    assert not result.passed and "evaluation_data" in (result.error or "")


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "condition"),
        ({"condition": "roc_auc => 0.8"}, "condition"),
        ({"condition": "roc_auc >= high"}, "condition"),
        ({"condition": "roc_auc >= 0.8", "metric": "roc_auc"}, "condition"),
        ({"metric": "roc_auc", "op": "~", "value": 0.8}, "op"),
        ({"metric": "roc_auc", "op": ">="}, "value"),
        ({"metric": "roc_auc", "op": ">=", "value": "0.8"}, "value"),
        ({"metric": "roc auc", "op": ">=", "value": 0.8}, "metric"),
        ({"condition": "roc_auc >= 0.8", "bootstrap": -1}, "bootstrap"),
        ({"condition": "roc_auc >= 0.8", "confidence": 1.5}, "confidence"),
        ({"condition": "roc_auc >= 0.8", "treshold": 1}, "treshold"),
    ],
)
def test_metric_gate_validation_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        MetricGate().validate(config)
    assert err.value.field == field


# -- non-regression -----------------------------------------------------------------------------


def test_the_same_model_twice_passes_non_regression(cancer: Data, logistic: Any) -> None:
    result = NonRegressionGate().check({}, cancer.context(logistic, logistic))
    assert result.passed and result.value == 0.0
    assert result.details["ci"] == [0.0, 0.0] and result.details["metric"] == "roc_auc"
    assert result.details["incumbent_version"] == 1 and result.threshold == "lower bound >= -0.005"


def test_a_clearly_worse_model_fails_non_regression(cancer: Data, logistic: Any, majority: Any) -> None:
    result = NonRegressionGate().check({"metric": "roc_auc"}, cancer.context(majority, logistic))
    assert not result.passed and result.error is None
    assert result.details["candidate"] == pytest.approx(0.5)
    assert result.details["difference"] < -0.4 and result.details["ci"][1] < -0.4
    # the other way round the candidate is better: it passes
    assert NonRegressionGate().check({"metric": "accuracy"}, cancer.context(logistic, majority)).passed


def test_an_equivalent_model_with_another_random_state_passes(cancer: Data) -> None:
    first = cancer.fit(RandomForestClassifier(n_estimators=500, random_state=1))
    second = cancer.fit(RandomForestClassifier(n_estimators=500, random_state=2))
    result = NonRegressionGate().check({}, cancer.context(second, first))
    assert result.value != 0.0  # really a different model
    assert result.passed and result.details["lower_bound"] >= -0.005
    assert result.details["ci"][0] <= result.value <= result.details["ci"][1]
    # a strict margin of 0 with the same rows still judges on the interval, not the point
    strict = NonRegressionGate().check({"margin": 0}, cancer.context(second, first))
    assert strict.passed == (strict.details["ci"][0] >= 0)


def test_non_regression_is_direction_aware_for_lower_is_better_metrics(diabetes: Data) -> None:
    linear, mean = diabetes.fit(LinearRegression()), diabetes.fit(DummyRegressor())
    worse = NonRegressionGate().check({"margin": 1.0}, diabetes.context(mean, linear))
    assert worse.details["metric"] == "rmse" and worse.details["difference_is"].startswith("incumbent")
    assert not worse.passed and worse.value is not None and worse.value < -5
    better = NonRegressionGate().check({"margin": 1.0}, diabetes.context(linear, mean))
    assert better.passed and better.value is not None and better.value > 5


def test_non_regression_without_incumbent_passes_with_a_note(cancer: Data, logistic: Any) -> None:
    result = NonRegressionGate().check({}, cancer.context(logistic))
    assert result.passed and result.measured == "no incumbent" and "production" in result.details["note"]


def test_non_regression_is_deterministic_for_a_seed(cancer: Data, logistic: Any) -> None:
    other = cancer.fit(make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000)))
    runs = [NonRegressionGate().check({}, cancer.context(other, logistic, seed=s)) for s in (7, 7, 8)]
    assert runs[0].details["ci"] == runs[1].details["ci"] != runs[2].details["ci"]


def test_each_model_predicts_from_its_own_input_columns(cancer: Data, logistic: Any) -> None:
    fewer = cancer.features[:-3]
    candidate = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    candidate.fit(cancer.train[fewer], cancer.train["target"])
    ctx = cancer.context(candidate, logistic)
    ctx.features = fewer
    ctx.candidate_version = _version(2, {c: "float64" for c in fewer})
    result = NonRegressionGate().check({"margin": 0.05}, ctx)
    assert result.error is None and result.passed
    assert not SignatureGate().check({}, ctx).passed  # yet three inputs were removed
    ctx.frame = cancer.test.drop(columns=cancer.features[-1])
    missing = NonRegressionGate().check({}, ctx)
    assert not missing.passed and cancer.features[-1] in (missing.error or "")


def test_paired_bootstrap_is_tighter_than_independent_resamples(cancer: Data) -> None:
    first = cancer.fit(RandomForestClassifier(n_estimators=200, random_state=1))
    second = cancer.fit(RandomForestClassifier(n_estimators=200, random_state=2))
    result = NonRegressionGate().check({"n_bootstrap": 500}, cancer.context(second, first))
    paired_width = result.details["ci"][1] - result.details["ci"][0]
    X, positive = cancer.test[cancer.features], cancer.test["target"].to_numpy() == 1
    s1, s2 = first.predict_proba(X)[:, 1], second.predict_proba(X)[:, 1]
    n = len(positive)
    (w1,), (w2,) = resample_weights(n, 500, seed=1), resample_weights(n, 500, seed=2)
    unpaired = percentile_interval(weighted_auc(s2, positive, w2) - weighted_auc(s1, positive, w1), 0.95)
    assert paired_width < (unpaired[1] - unpaired[0]) / 2


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"margin": -0.1}, "margin"),
        ({"confidence": 1}, "confidence"),
        ({"n_bootstrap": 0}, "n_bootstrap"),
        ({"n_bootstrap": 10.5}, "n_bootstrap"),
        ({"metric": 3}, "metric"),
        ({"metrik": "roc_auc"}, "metrik"),
    ],
)
def test_non_regression_validation_names_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        NonRegressionGate().validate(config)
    assert err.value.field == field


# -- signature ----------------------------------------------------------------------------------


def _signature_context(before: dict[str, str] | None, after: dict[str, str]) -> GateContext:
    return GateContext(
        task=get_task("binary"), candidate=None, candidate_version=_version(2, after), alias="production",
        incumbent_version=_version(1, before) if before is not None else None,
    )  # fmt: skip


def test_signature_gate_fails_on_removed_and_retyped_inputs_unless_allowed() -> None:
    before = {"age": "int64", "income": "float64", "plan": "object", "since": "datetime64[ns]"}
    after = {"age": "float64", "income": "object", "plan": "category", "tenure": "int64"}
    ctx = _signature_context(before, after)
    result = SignatureGate().check({}, ctx)
    assert not result.passed and result.details["removed"] == ["since"]
    assert result.details["retyped"] == [{"column": "income", "from": "float64", "to": "object"}]
    assert result.details["added"] == [{"column": "tenure", "dtype": "int64"}]
    assert result.measured == "1 removed, 1 retyped, 1 added" and result.details["failed_on"] == [
        "removed",
        "retyped",
    ]
    assert not SignatureGate().check({"allow_removed": True}, ctx).passed
    assert SignatureGate().check({"allow_removed": True, "allow_retyped": True}, ctx).passed
    strict = SignatureGate().check({"allow_removed": True, "allow_retyped": True, "allow_added": False}, ctx)
    assert not strict.passed and strict.details["failed_on"] == ["added"]


def test_signature_gate_accepts_widening_and_same_inputs() -> None:
    same = SignatureGate().check({}, _signature_context({"a": "int32"}, {"a": "int64"}))
    assert same.passed and same.measured == "same inputs"
    assert SignatureGate().check({}, _signature_context({"a": "int64"}, {"a": "float64"})).passed
    narrowed = SignatureGate().check({}, _signature_context({"a": "float64"}, {"a": "int64"}))
    assert not narrowed.passed and narrowed.details["retyped"][0]["to"] == "int64"
    assert not SignatureGate().check({}, _signature_context({"a": "bool"}, {"a": "int64"})).passed
    assert SignatureGate().check({}, _signature_context(None, {"a": "int64"})).measured == "no incumbent"


@pytest.mark.parametrize(
    ("dtype", "kind"),
    [
        ("int8", "integer"),
        ("UInt32", "integer"),
        ("Float64", "float"),
        ("boolean", "bool"),
        ("string[pyarrow]", "text"),
        ("category", "text"),
        ("datetime64[ns, UTC]", "datetime"),
        ("<M8[ns]", "datetime"),
        ("timedelta64[ns]", "timedelta"),
    ],
)
def test_dtype_kinds(dtype: str, kind: str) -> None:
    assert dtype_kind(dtype) == kind


def test_signature_gate_validation() -> None:
    with pytest.raises(InvalidInput) as err:
        SignatureGate().validate({"allow_removed": "yes"})
    assert err.value.field == "allow_removed"
    with pytest.raises(InvalidInput) as err:
        SignatureGate().validate({"allow_renamed": True})
    assert err.value.field == "allow_renamed"


# -- approval -----------------------------------------------------------------------------------


def _approval(actor: str, *, version: int = 2, alias: str = "production", auth: bool = False) -> Approval:
    return Approval("model", version, alias, actor, f"ok from {actor}", float(len(actor)), auth)


def _approval_context(*approvals: Approval) -> GateContext:
    return GateContext(
        task=get_task("binary"), candidate=None, candidate_version=_version(2, created_by="alice"),
        alias="production", approvals=list(approvals),
    )  # fmt: skip


def test_approval_gate_counts_distinct_actors_for_this_version_and_alias() -> None:
    ctx = _approval_context(
        _approval("bob"),
        _approval("bob"),
        _approval("carol", alias="staging"),
        _approval("dave", version=1),
        _approval("alice", auth=True),
    )
    one = ApprovalGate().check({"required": 2}, ctx)
    assert one.passed and one.measured == "2 of 2 (1 unauthenticated)" and one.value == 2
    assert [a["actor"] for a in one.details["approvers"]] == ["bob", "alice"]
    assert len(one.details["ignored"]) == 3
    assert not ApprovalGate().check({"required": 3}, ctx).passed
    registrant = ApprovalGate().check({"required": 2, "exclude_registrant": True}, ctx)
    assert not registrant.passed and registrant.measured.startswith("1 of 2")
    assert "1 more" in registrant.details["note"]
    authenticated = ApprovalGate().check({"authenticated_only": True}, ctx)
    assert authenticated.passed and [a["actor"] for a in authenticated.details["approvers"]] == ["alice"]
    assert "authenticated" in authenticated.threshold


def test_approval_gate_without_approvals_fails() -> None:
    result = ApprovalGate().check({}, _approval_context())
    assert not result.passed and result.measured == "0 of 1" and result.error is None


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"required": 0}, "required"),
        ({"required": True}, "required"),
        ({"authenticated_only": 1}, "authenticated_only"),
    ],
)
def test_approval_gate_validation(config: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ApprovalGate().validate(config)
    assert err.value.field == field


# -- registry and runner ------------------------------------------------------------------------


class ShapeGate:
    """A third-party gate: the evaluation data has at least ``min_rows`` rows."""

    name = "min_rows"
    description = "the evaluation data has enough rows"

    def validate(self, config: dict[str, Any]) -> None:
        if not isinstance(config.get("min_rows"), int):
            raise InvalidInput("min_rows must be a whole number", field="min_rows")

    def check(self, config: dict[str, Any], ctx: GateContext) -> GateResult:
        rows = len(ctx.require_data())
        return GateResult(
            "rows", "min_rows", rows >= config["min_rows"], str(rows), f">= {config['min_rows']}"
        )


class CrashingGate(ShapeGate):
    def check(self, config: dict[str, Any], ctx: GateContext) -> GateResult:
        raise ZeroDivisionError("division by zero")


@pytest.fixture
def third_party() -> Any:
    registry("gate").register("min_rows", ShapeGate)
    registry("gate").register("crashing", CrashingGate())
    yield registry("gate")
    registry("gate").reset()  # a fresh registry for the other tests


def test_the_registry_holds_the_built_in_gates() -> None:
    names = set(registry("gate").names())
    assert {"metric", "non_regression", "signature", "approval"} <= names
    for name in ("metric", "non_regression", "signature", "approval"):
        gate = registry("gate").get(name)
        assert isinstance(gate, Gate) and gate.name == name and gate.description


def test_the_registry_rejects_an_object_that_is_not_a_gate() -> None:
    with pytest.raises(TypeError, match="missing check"):
        registry("gate").register(
            "half", type("Half", (), {"name": "half", "description": "", "validate": None})
        )
    assert "half" not in registry("gate")


def test_run_gates_runs_in_order_reports_progress_and_contains_crashes(
    cancer: Data, logistic: Any, majority: Any, third_party: Any
) -> None:
    policy = load_policy(
        {
            "name": "p",
            "gates": [
                {"metric": "roc_auc >= 0.9", "name": "auc"},
                {"type": "non_regression"},
                {"type": "min_rows", "min_rows": 100},
                {"type": "crashing", "min_rows": 1},
                {"type": "approval"},
            ],
        }
    )
    seen: list[tuple[str, int, int]] = []
    ctx = cancer.context(logistic, majority, approvals=[_approval("bob")])
    results = run_gates(policy, ctx, progress=lambda label, i, n: seen.append((label, i, n)))
    assert seen == [
        ("auc", 1, 5),
        ("non_regression", 2, 5),
        ("min_rows", 3, 5),
        ("crashing", 4, 5),
        ("approval", 5, 5),
    ]
    assert [r.type for r in results] == ["metric", "non_regression", "min_rows", "crashing", "approval"]
    assert [r.gate for r in results] == ["auc", "non_regression roc_auc", "rows", "crashing", "approval"]
    assert [r.passed for r in results] == [True, True, True, False, True]
    assert results[2].measured == str(len(cancer.test))
    assert results[3].error == "ZeroDivisionError: division by zero"
