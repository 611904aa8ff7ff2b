"""A model trained on de-identified columns (``preprocess.deidentify``) is served with raw inputs:
carnet serve applies the training's transforms with the same key before predicting, and refuses to
load the model with another key."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from test_inference_server import serve

from carnet import Client
from carnet.errors import InvalidInput

KEY = "0123456789abcdef-test-key"


def _customers(rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "email": [f"user{i % 40}@example.org" for i in range(rows)],
            "age": rng.integers(18, 90, rows),
            "spend": rng.normal(50, 10, rows).round(2),
        }
    )
    frame["churn"] = ((frame["age"] > 50) ^ frame["email"].str.contains("user1")).astype(int)
    return frame


def _spec(**deid: object) -> dict[str, object]:
    columns = {"email": "pseudonymize", "age": {"method": "generalize", "bins": [0, 30, 50, 70, 120]}}
    return {
        "dataset": "customers@1",
        "task": "binary",
        "target": "churn",
        "features": ["email", "age", "spend"],
        "preprocess": {"deidentify": {"key": "env:CARNET_DEID_KEY", "columns": columns, **deid}},
        "model": {"name": "random_forest", "params": {"n_estimators": 20}},
        "seed": 0,
    }


def test_raw_inputs_are_transformed_with_the_training_key_when_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_DEID_KEY", KEY)
    ws = Client(str(tmp_path / "ws"))
    frame = _customers()
    ws.log_dataframe(frame, "customers")
    trained = ws.train(_spec())
    mv = ws.register_model(trained.run_id, "churn")
    transforms = mv.signature.transforms or {}
    assert transforms["columns"]["email"] == {"method": "pseudonymize"} and KEY not in str(transforms)
    assert len(transforms["key_fingerprint"]) == 16
    assert [c.dtype for c in mv.signature.inputs][1] == "int64"  # requests carry the raw age
    assert all(row["email"] is None and row["age"] is None for row in mv.input_example)  # no raw PII kept
    rows = frame.drop(columns="churn").head(8)
    expected = ws.load_model("churn/1").predict(rows)
    assert (expected == frame["churn"].head(8).to_numpy()).mean() >= 0.75  # learnt from the tokens
    ws.set_model_alias("churn", "production", 1)
    s = serve(ws, ("churn@production",))
    try:
        answer = httpx.post(f"{s.url}/invocations", json={"dataframe_records": rows.to_dict("records")})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == expected.tolist()
    finally:
        s.stop()
    ws.set_policy({"name": "privacy", "aliases": ["staging"], "gates": [{"type": "privacy"}]}, model="churn")
    promoted = ws.promote("churn", 1, "staging")  # email is an input, but never a raw one
    assert promoted.passed
    monkeypatch.setenv("CARNET_DEID_KEY", "another key, sixteen bytes or more")
    with pytest.raises(InvalidInput, match="not the one the model was trained with"):
        ws.load_model("churn/1")


def test_a_bad_training_transform_is_named_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_DEID_KEY", KEY)
    ws = Client(str(tmp_path / "ws"))
    ws.log_dataframe(_customers(60), "customers")
    bad = _spec()
    bad["preprocess"] = {"deidentify": {"key": "env:CARNET_DEID_KEY", "columns": {"email": "drop"}}}
    with pytest.raises(InvalidInput) as dropped:
        ws.train(bad)
    assert dropped.value.field == "preprocess.deidentify.columns.email" and "leave" in dropped.value.message
    bad["preprocess"] = {"deidentify": {"columns": {"email": "hash"}}}
    with pytest.raises(InvalidInput) as unknown:
        ws.train(bad)
    assert unknown.value.field == "preprocess.deidentify.columns.email.method"
    bad["preprocess"] = {"deidentify": {"key": "env:CARNET_DEID_KEY", "columns": {"churn": "pseudonymize"}}}
    with pytest.raises(InvalidInput) as not_feature:
        ws.train(bad)
    assert not_feature.value.field == "preprocess.deidentify.columns.churn"
    searched = {
        **_spec(),
        "search": {"space": {"n_estimators": {"type": "int", "low": 5, "high": 10}}, "n_trials": 2},
    }
    with pytest.raises(InvalidInput) as no_search:
        ws.train(searched)
    assert no_search.value.field == "preprocess.deidentify"
    monkeypatch.delenv("CARNET_DEID_KEY")
    with pytest.raises(InvalidInput, match="CARNET_DEID_KEY"):
        ws.train(_spec())
