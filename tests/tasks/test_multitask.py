"""Multitask models end to end: several targets (classes and values) trained from one spec, scored per
target with intervals, listed in the signature, gated by ``target.metric`` and served by name over
both protocols."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from carnet import Client
from carnet.errors import InvalidInput
from carnet.tasks import get_task
from carnet.testing import check_task

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from test_inference_server import serve  # noqa: E402 - the live-server helper of the serving tests

TARGETS = ["churned", "spend", "plan"]


def customers(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Generated customers with three targets: churn (yes/no), monthly spend, plan (three tiers)."""
    rng = np.random.default_rng(seed)
    X, y = make_classification(n_samples=n, n_features=5, n_informative=4, n_redundant=0, random_state=seed)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    frame["region"] = rng.choice(["north", "south"], n)
    frame["churned"] = np.array(["no", "yes"])[y]
    frame["spend"] = 40 + 8 * frame["f0"] - 4 * frame["f1"] + rng.normal(0, 1, n)
    frame["plan"] = np.where(frame["f2"] > 0.4, "pro", np.where(frame["f2"] < -0.4, "basic", "plus"))
    return frame


def _spec(ref: str, model: str = "hist_gradient_boosting", **extra: Any) -> dict[str, Any]:
    return {
        "dataset": ref,
        "task": "multitask",
        "task_options": {"targets": TARGETS},
        "model": model,
        **extra,
    }


@pytest.fixture
def ws(tmp_path: Path) -> Any:
    client = Client(str(tmp_path / "ws"))
    path = tmp_path / "customers.csv"
    customers().to_csv(path, index=False)
    client.ref = client.add_dataset(path, "customers")[0].ref  # type: ignore[attr-defined]
    yield client
    client.close()


@pytest.mark.parametrize("model", ["hist_gradient_boosting", "lightgbm", "random_forest", "torch_mlp"])
def test_every_target_is_learned_and_scored_with_intervals(ws: Any, model: str) -> None:
    outcome = ws.train(_spec(ws.ref, model, seed=2))
    metrics = outcome.metrics
    assert metrics["churned.roc_auc"] > 0.85 and metrics["plan.f1_macro"] > 0.8 and metrics["spend.r2"] > 0.8
    assert 0.8 < metrics["mean_primary"] <= 1.0
    low, high = outcome.intervals["mean_primary"]
    assert low <= metrics["mean_primary"] <= high
    plots = {p.name for p in outcome.evaluation.plots}
    assert {name.split("_", 1)[0] for name in plots} == set(TARGETS)  # each target's own charts


def test_the_signature_lists_every_output_and_serving_answers_each_by_name(ws: Any) -> None:
    outcome = ws.train(_spec(ws.ref, "lightgbm"))
    mv = ws.register_model(outcome.run_id, "customers")
    outputs = [c["name"] for c in mv.signature.to_dict()["outputs"]]
    assert outputs == [
        "churned", "churned_proba_no", "churned_proba_yes", "spend", "plan",
        "plan_proba_basic", "plan_proba_plus", "plan_proba_pro",
    ]  # fmt: skip
    assert [c.name for c in mv.signature.inputs] == ["f0", "f1", "f2", "f3", "f4", "region"]
    ws.set_model_alias("customers", "production", mv.version)
    rows = customers(5, seed=9).drop(columns=TARGETS)
    model = ws.load_model("customers/1")
    served = serve(ws, ("customers@production",))
    try:
        meta = httpx.get(f"{served.url}/v2/models/customers").json()
        assert [o["name"] for o in meta["outputs"]] == [
            "churned",
            "churned_proba",
            "spend",
            "plan",
            "plan_proba",
        ]
        inputs = [
            {
                "name": c,
                "shape": [5],
                "datatype": "BYTES" if c == "region" else "FP64",
                "data": rows[c].tolist(),
            }
            for c in rows.columns
        ]
        answer = httpx.post(f"{served.url}/v2/models/customers/infer", json={"inputs": inputs}).json()
        by_name = {o["name"]: o for o in answer["outputs"]}
        expected = model.predict(rows)
        assert by_name["churned"]["data"] == expected["churned"].tolist()
        assert by_name["plan_proba"]["shape"] == [5, 3]
        np.testing.assert_allclose(by_name["spend"]["data"], expected["spend"], rtol=1e-6)
        mlflow = httpx.post(
            f"{served.url}/invocations", json={"dataframe_records": rows.to_dict("records")}
        ).json()
        assert [set(r) for r in mlflow["predictions"]] == [set(TARGETS)] * 5
        assert [r["plan"] for r in mlflow["predictions"]] == expected["plan"].tolist()
    finally:
        served.stop()


def test_gates_name_a_target_s_metric(ws: Any) -> None:
    outcome = ws.train(_spec(ws.ref, "lightgbm"))
    ws.register_model(outcome.run_id, "customers")
    policy = {
        "name": "multi",
        "evaluation_data": ws.ref,
        "gates": [
            {"metric": "churned.roc_auc >= 0.8"},
            {"metric": "spend.rmse <= 0.5"},
            {"metric": "mean_primary >= 0.8"},
        ],
    }
    result = ws.promote("customers", 1, "production", policy=policy, dry_run=True)
    verdicts = {r.gate: r.passed for r in result.results}
    assert verdicts == {
        "metric churned.roc_auc": True,
        "metric spend.rmse": False,
        "metric mean_primary": True,
    }
    assert result.results[0].details["ci"]  # a bootstrap interval on the target's rows
    wrong = {**policy, "gates": [{"metric": "nobody.roc_auc >= 0.8"}]}
    failed = ws.promote("customers", 1, "production", policy=wrong, dry_run=True).results[0]
    assert not failed.passed and "no target 'nobody'" in (failed.error or "")


def test_a_bad_multitask_spec_is_refused_before_anything_runs(ws: Any) -> None:
    cases = [
        ({"targets": ["churned"]}, "task_options.targets"),
        ({"targets": ["churned", "nope"]}, "task_options.targets"),
        (
            {"targets": ["churned", "spend"], "target_types": {"spend": "ordinal"}},
            "task_options.target_types",
        ),
    ]
    for options, field in cases:
        with pytest.raises(InvalidInput) as info:
            ws.train({"dataset": ws.ref, "task": "multitask", "task_options": options})
        assert info.value.field == field
    with pytest.raises(InvalidInput, match="leave target out") as info:
        ws.train({**_spec(ws.ref), "target": "churned"})
    assert ws.search_runs().runs == []


def test_declared_target_types_win_and_targets_are_never_features(ws: Any) -> None:
    options = {"targets": ["churned", "spend"], "target_types": {"spend": "regression"}}
    outcome = ws.train({"dataset": ws.ref, "task": "multitask", "task_options": options, "model": "linear"})
    assert "spend.r2" in outcome.metrics and "churned.roc_auc" in outcome.metrics
    mv = ws.register_model(outcome.run_id, "two")
    assert "churned" not in mv.signature.input_names() and "spend" not in mv.signature.input_names()
    assert "plan" in mv.signature.input_names()  # not a target here: a feature


def test_multitask_passes_the_conformance_kit() -> None:
    report = check_task(get_task("multitask"), customers(300), None, options={"targets": TARGETS})
    assert report["deterministic"] and "mean_primary" in report["scores"]
