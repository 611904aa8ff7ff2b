"""Pinned slices of the non-regression gate: a candidate as good overall but worse on one slice fails,
naming the slice; every slice's figures are in the details; the settings are checked strictly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from carnet.domain import ColumnSpec, ModelVersion, Signature
from carnet.errors import InvalidInput
from carnet.gates import GateContext, NonRegressionGate, load_policy
from carnet.gates.metrics import compare_metrics
from carnet.gates.slices import parse_slices, resolve_slices
from carnet.tasks import get_task

FEATURES = ["x", "north"]


def _customers(rows: int, seed: int) -> pd.DataFrame:
    """In the north the target goes the other way: only a model that sees the interaction gets it."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], size=rows, p=[0.12, 0.3, 0.3, 0.28])
    x, noise = rng.normal(size=rows), rng.normal(size=rows)
    north = (region == "north").astype(float)
    y = np.where(north == 1, x + 0.6 * noise < 0, x + 0.6 * noise > 0).astype(int)
    return pd.DataFrame({"x": x, "north": north, "region": region, "y": y})


def _version(number: int) -> ModelVersion:
    signature = Signature(tuple(ColumnSpec(c, "float64") for c in FEATURES))
    return ModelVersion(
        name="churn", version=number, flavor="sklearn", artifact_digest="0" * 64, file_name="model.skops",
        run_id=None, signature=signature, created_at=0.0, created_by="alice", task="binary",
    )  # fmt: skip


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    train = _customers(2000, 0)
    return {
        "tree": DecisionTreeClassifier(max_depth=3, random_state=0).fit(train[FEATURES], train["y"]),
        "linear": LogisticRegression().fit(train[FEATURES], train["y"]),
    }


def _context(candidate: Any, incumbent: Any, frame: pd.DataFrame | None = None) -> GateContext:
    return GateContext(
        task=get_task("binary"), candidate=candidate, candidate_version=_version(2), alias="production",
        frame=_customers(1000, 1) if frame is None else frame, features=FEATURES, target="y",
        incumbent=incumbent, incumbent_version=_version(1),
    )  # fmt: skip


SLICES = [{"by": "region", "min_rows": 50}, {"name": "south", "where": "region == 'south'"}]


def test_a_model_worse_on_one_slice_fails_naming_the_slice(models: dict[str, Any]) -> None:
    config = {"metric": "roc_auc", "margin": 0.1, "n_bootstrap": 200}
    ctx = _context(models["linear"], models["tree"])
    overall = NonRegressionGate().check(config, ctx)
    assert overall.passed  # within the margin on the whole evaluation data

    result = NonRegressionGate().check({**config, "slices": SLICES}, ctx)
    assert not result.passed and result.error is None
    message = result.details["message"]
    assert message.startswith("regressed on slice region=north: roc_auc -0.")
    assert "95% CI" in message and "south" not in message and "region=east" not in message
    assert message in result.measured and result.value == overall.value
    rows = {s["slice"]: s for s in result.details["slices"]}
    assert set(rows) == {"region=north", "region=south", "region=east", "region=west", "south"}
    north = rows["region=north"]
    assert north["regressed"] is True and north["rows"] > 50 and not north["pinned"]
    assert north["ci"][1] < -0.1 and north["lower_bound"] == north["ci"][0]
    assert north["incumbent"] > 0.8 > 0.2 > north["candidate"]
    for name in ("region=south", "region=east", "region=west", "south"):
        assert rows[name]["regressed"] is False and rows[name]["ci"][0] >= -0.1, name
    assert rows["south"]["rows"] == rows["region=south"]["rows"] and rows["south"]["pinned"] is True


def test_the_same_model_passes_on_every_slice(models: dict[str, Any]) -> None:
    result = NonRegressionGate().check({"slices": SLICES}, _context(models["tree"], models["tree"]))
    assert result.passed and "message" not in result.details
    assert all(s["difference"] == 0 and not s["regressed"] for s in result.details["slices"])


def test_small_values_are_left_out_and_a_pinned_empty_slice_fails(models: dict[str, Any]) -> None:
    frame = _customers(1000, 1)
    frame.loc[frame.index[:20], "region"] = "island"  # 20 rows: under min_rows
    slices = [{"by": "region", "min_rows": 30}, {"name": "nowhere", "where": "x > 100"}]
    result = NonRegressionGate().check({"slices": slices}, _context(models["tree"], models["tree"], frame))
    names = [s["slice"] for s in result.details["slices"]]
    assert "region=island" not in names and "nowhere" in names
    assert "island (20)" in result.details["slice_notes"][0]
    assert not result.passed and result.details["message"] == (
        "regressed on slice nowhere: no evaluation row is in this slice"
    )


def test_a_slice_on_a_column_the_data_lacks_fails_the_gate_with_its_name(models: dict[str, Any]) -> None:
    slices = [{"name": "vip", "where": "segment == 'vip'"}]
    result = NonRegressionGate().check({"slices": slices}, _context(models["tree"], models["tree"]))
    assert not result.passed and result.error == "slice vip: the evaluation data has no column 'segment'"


def test_resolve_slices_gives_masks_by_value_and_condition() -> None:
    frame = pd.DataFrame({"plan": ["a", "b", "a", None], "age": [70, 20, 66, 80]})
    found, notes = resolve_slices(
        parse_slices([{"by": "plan", "min_rows": 1}, {"name": "senior", "where": "age >= 65"}]), frame
    )
    masks = {s.name: s.mask.tolist() for s in found}
    assert masks == {
        "plan=a": [True, False, True, False],
        "plan=b": [False, True, False, False],
        "plan=missing": [False, False, False, True],
        "senior": [True, False, True, True],
    }
    assert notes == []


@pytest.mark.parametrize(
    ("slices", "field", "words"),
    [
        ([{"where": "region = 'north'"}], "gates[0].slices[0].where", "use == for equality"),
        ([{"where": "__import__('os')"}], "gates[0].slices[0].where", "not allowed"),
        ([{"where": ""}], "gates[0].slices[0].where", "must be a condition"),
        (
            [{"name": "a", "where": "x > 1", "colour": 1}],
            "gates[0].slices[0].colour",
            "unknown slice setting",
        ),
        ([{"name": "a"}], "gates[0].slices[0].where", "exactly one of where"),
        ([{"by": "plan", "where": "x > 1"}], "gates[0].slices[0].where", "exactly one of where"),
        ([{"by": "plan", "min_rows": 0}], "gates[0].slices[0].min_rows", ">= 1"),
        ([{"where": "x > 1", "min_rows": 5}], "gates[0].slices[0].min_rows", "applies to a by slice"),
        ([{"by": "plan", "name": "p"}], "gates[0].slices[0].name", "COLUMN=VALUE"),
        ([{"where": "x > 1"}, {"where": "x > 1"}], "gates[0].slices[1].name", "named twice"),
        ([], "gates[0].slices", "non-empty list"),
        ("region", "gates[0].slices", "non-empty list"),
        (["region"], "gates[0].slices[0]", "must be a mapping"),
    ],
)
def test_bad_slices_are_refused_naming_the_field(slices: Any, field: str, words: str) -> None:
    policy = {"name": "p", "gates": [{"type": "non_regression", "slices": slices}]}
    with pytest.raises(InvalidInput) as info:
        load_policy(policy)
    assert info.value.field == field and words in info.value.message


def test_compare_metrics_gives_both_models_with_intervals_and_a_paired_delta(models: dict[str, Any]) -> None:
    rows = compare_metrics(
        _context(models["linear"], models["tree"]), ["roc_auc", "log_loss", "nope"], resamples=100
    )
    auc, loss, unknown = rows
    assert auc["candidate"] < auc["incumbent"] and auc["delta"] == auc["candidate"] - auc["incumbent"]
    assert auc["candidate_ci"][0] <= auc["candidate"] <= auc["candidate_ci"][1]
    assert auc["incumbent_ci"][0] <= auc["incumbent"] <= auc["incumbent_ci"][1]
    assert auc["delta_ci"][0] <= auc["delta"] <= auc["delta_ci"][1] < 0 and auc["greater_is_better"]
    assert loss["greater_is_better"] is False and loss["delta"] > 0
    assert "unknown classification metric 'nope'" in unknown["error"]
    alone = compare_metrics(_context(models["tree"], None), ["roc_auc"], resamples=50)[0]
    assert "incumbent" not in alone and alone["candidate_ci"] is not None
