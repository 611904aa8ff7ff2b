"""The whole privacy journey through the CLI, as a user runs it: a table with emails, phone
numbers and NIRs is flagged and hidden, de-identified into a new version with its k reported, a
model on raw PII is refused while one that pseudonymizes its inputs passes and predicts on raw
rows, a person is erased on request, and the ledger verifies, every step on record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from stdnum.fr import nir

from carnet.cli.main import cli

KEY = "0123456789abcdef-journey-key"


def _customers(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    ids = np.arange(1, rows + 1)
    base = [
        f"{rng.integers(1, 3)}{rng.integers(40, 99):02d}{rng.integers(1, 13):02d}75"
        f"{rng.integers(100, 999)}{rng.integers(100, 999)}"
        for _ in ids
    ]
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "email": [f"client{i}@example.fr" for i in ids],
            "phone": [
                f"06 {i % 90 + 10:02d} {i % 80 + 10:02d} {i % 70 + 10:02d} {i % 60 + 10:02d}" for i in ids
            ],
            "nir": [b + nir.calc_check_digits(b) for b in base],
            "age_band": rng.choice([20, 40, 60], rows),
            "region": rng.choice(["north", "south"], rows),
            "tenure": rng.integers(1, 60, rows),
        }
    )
    frame["churn"] = (frame["tenure"] < 20).astype(int)
    return frame


def _run(runner: CliRunner, ws: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(cli, ["--uri", ws, *args])
    assert result.exit_code == code, (args, result.output)
    return result.output


def test_flag_hide_deidentify_gate_serve_and_erase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARNET_DEID_KEY", KEY)
    runner, ws = CliRunner(), str(tmp_path / "ws")
    frame = _customers()
    frame.to_csv(tmp_path / "customers.csv", index=False)

    _run(runner, ws, "data", "add", str(tmp_path / "customers.csv"), "--name", "customers")
    shown = _run(runner, ws, "data", "show", "customers@1", "--json")
    flagged = {c["name"]: c["pii"]["kind"] for c in json.loads(shown)["profile"] if c.get("pii")}
    assert flagged == {"email": "email", "phone": "phone", "nir": "fr_nir"}
    assert "client1@example.fr" not in shown and frame["nir"][0] not in shown  # values hidden

    (tmp_path / "deid.yaml").write_text(
        yaml.safe_dump(
            {
                "key": "env:CARNET_DEID_KEY",
                "columns": {"nir": "drop", "phone": "mask", "email": "pseudonymize"},
            }
        )
    )
    deid = json.loads(
        _run(
            runner, ws, "data", "deidentify", "customers@1", "--config", str(tmp_path / "deid.yaml"), "--json"
        )
    )
    assert deid["ref"] == "customers@2" and deid["parent"] == "customers@1"
    risk = json.loads(_run(runner, ws, "data", "risk", "customers@2", "--qi", "age_band,region", "--json"))
    assert risk["k"] >= 5

    features = ["email", "tenure", "age_band"]
    model = {"name": "logistic_regression", "params": {"max_iter": 300}}
    raw_spec = {
        "dataset": "customers@1",
        "task": "binary",
        "target": "churn",
        "features": features,
        "model": model,
    }
    safe_spec = {
        **raw_spec,
        "preprocess": {"deidentify": {"key": "env:CARNET_DEID_KEY", "columns": {"email": "pseudonymize"}}},
    }
    for name, spec in (("raw", raw_spec), ("safe", safe_spec)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(spec))
        run_id = json.loads(_run(runner, ws, "train", str(tmp_path / f"{name}.yaml"), "--json"))["run_id"]
        _run(runner, ws, "models", "register", run_id, "--name", name)
        policy = {
            "name": "privacy",
            "gates": [{"type": "privacy", "quasi_identifiers": ["age_band", "region"]}],
        }
        (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
        _run(runner, ws, "models", "policy", "set", str(tmp_path / "policy.yaml"), "--model", name)
    refused = json.loads(
        _run(runner, ws, "models", "promote", "raw/1", "--to", "production", "--json", code=1)
    )
    assert "email" in json.dumps(refused)
    _run(runner, ws, "models", "promote", "safe/1", "--to", "production")
    fresh = frame.drop(columns="churn").head(20)
    fresh.to_csv(tmp_path / "new.csv", index=False)
    _run(
        runner,
        ws,
        "predict",
        "safe@production",
        str(tmp_path / "new.csv"),
        "-o",
        str(tmp_path / "out.parquet"),
    )
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert len(scored) == 20 and set(scored["prediction"]) <= {0, 1}

    erase = ["data", "erase", "customers", "--where", "customer_id == 7", "--reason", "DSR-7", "--purge"]
    erased = json.loads(_run(runner, ws, *erase, "--json"))
    assert [(v["version"], v["rows_removed"]) for v in erased["versions"]] == [(1, 1), (2, 1)]
    assert {m["model"] for m in erased["models"]} == {"raw", "safe"}
    card = _run(runner, ws, "models", "card", "safe/1")
    assert "erased on request" in card and "de-identifies these inputs before use" in card
    assert "email (pseudonymize)" in card and "Personal data among the model's inputs" not in card
    verified = _run(runner, ws, "audit", "verify", "--deep")
    assert "OK" in verified or "ok" in verified.lower()
    events = json.loads(_run(runner, ws, "audit", "log", "--json", "--limit", "1000"))
    actions = {e["action"] for e in events}
    assert {"dataset.add_version", "model.promote.refused", "dataset.erase", "dataset.purge"} <= actions
