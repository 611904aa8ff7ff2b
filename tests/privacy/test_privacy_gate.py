"""The privacy gate on real promotions: a model that takes raw personal data is refused, an allowed
or pseudonymized input passes, and k-anonymity / l-diversity of the training data are judged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carnet import Client
from carnet.errors import GateFailed, InvalidInput
from carnet.privacy.risk import reidentification_risk


def _patients(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    age = rng.integers(20, 80, rows)
    return pd.DataFrame(
        {
            "age_band": (age // 20) * 20,
            "region": rng.choice(["north", "south"], rows),
            "email": [f"patient{i}@example.org" for i in range(rows)],
            "dose": rng.normal(5, 1, rows).round(2),
            "diagnosis": rng.choice(["a", "b", "c"], rows),
            "target": (age + rng.normal(0, 10, rows) > 50).astype(int),
        }
    )


def _train(ws: Client, features: list[str]) -> str:
    spec = {
        "dataset": "patients@1",
        "task": "binary",
        "target": "target",
        "features": features,
        "model": {"name": "logistic_regression", "params": {"max_iter": 300}},
        "seed": 0,
        "project": "clinic",
    }
    return str(ws.train(spec).run_id)


def test_a_model_using_raw_pii_is_refused_and_k_anonymity_is_judged(tmp_path: Path) -> None:
    ws = Client(str(tmp_path / "ws"))
    ws.log_dataframe(_patients(), "patients", project="clinic")
    with_email = ws.register_model(_train(ws, ["age_band", "region", "email", "dose"]), "risk")
    ws.set_policy(
        {
            "name": "privacy",
            "aliases": ["production"],
            "gates": [
                {
                    "type": "privacy",
                    "quasi_identifiers": ["age_band", "region"],
                    "sensitive": "diagnosis",
                    "min_k": 5,
                    "min_l": 2,
                }
            ],
        },
        model="risk",
    )
    with pytest.raises(GateFailed) as refused:
        ws.promote("risk", with_email.version, "production")
    (result,) = refused.value.promotion.results
    assert (
        result.details["refused_inputs"] == {"email": "email"}
        and "personal data" in result.details["problems"][0]
    )
    assert result.details["risk"]["k"] >= 5 and result.details["risk"]["l"] == 3  # the data itself is fine
    clean = ws.register_model(_train(ws, ["age_band", "region", "dose"]), "risk")
    promoted = ws.promote("risk", clean.version, "production")
    assert promoted.applied and promoted.results[0].measured.startswith("0 raw PII input(s); k=")
    card = ws.model_card_data("risk", clean.version)["data_protection"]
    assert card["pii_inputs"] == {} and card["datasets"][0]["pii"] == {"email": "email"}
    assert (
        card["privacy_gate"]["passed"] and card["privacy_gate"]["k"] >= 5 and card["privacy_gate"]["l"] == 3
    )
    text = ws.model_card("risk", clean.version)
    assert "Data protection" in text and "No column flagged as personal data" in text
    flagged = ws.model_card_data("risk", with_email.version)["data_protection"]
    assert flagged["pii_inputs"] == {"email": "email"}
    assert "Personal data among the model's inputs: email (email)" in ws.model_card(
        "risk", with_email.version
    )
    fine = {"type": "privacy", "allow": ["email"], "quasi_identifiers": ["age_band", "region", "dose"]}
    ws.set_policy({"name": "strict", "aliases": ["production"], "gates": [fine]}, model="risk")
    with pytest.raises(GateFailed) as too_fine:  # dose is near-unique: every row stands alone
        ws.promote("risk", with_email.version, "production", dry_run=False)
    (result,) = too_fine.value.promotion.results
    assert result.details["refused_inputs"] == {} and result.details["risk"]["k"] < 5
    assert any("k-anonymity" in p for p in result.details["problems"])


def test_privacy_settings_are_checked() -> None:
    from carnet.gates.privacy import PrivacyGate

    gate = PrivacyGate()
    for config, field in (
        ({"allow": "email"}, "allow"),
        ({"min_k": 3}, "quasi_identifiers"),
        ({"quasi_identifiers": ["a"], "min_l": 2}, "min_l"),
        ({"quasi_identifiers": ["a"], "min_k": 0}, "min_k"),
        ({"quasi": ["a"]}, "quasi"),
    ):
        with pytest.raises(InvalidInput) as err:
            gate.validate(config)
        assert err.value.field == field, config


def test_k_and_l_of_a_table() -> None:
    frame = pd.DataFrame(
        {"age": [30, 30, 30, 40, 40, None], "zip": ["75", "75", "75", "13", "13", "69"], "dx": list("abaaac")}
    )
    risk = reidentification_risk(frame, ["age", "zip"], "dx")
    assert (risk["k"], risk["l"], risk["classes"], risk["rows_at_risk"]) == (1, 1, 3, 6)
    assert [c["rows"] for c in risk["smallest_classes"]] == [1, 2, 3]
    assert "75" not in str(risk["smallest_classes"])  # sizes only, never the values
    with pytest.raises(InvalidInput, match="no column 'nope'"):
        reidentification_risk(frame, ["nope"])


def test_data_risk_reports_k_and_l_locally_and_through_a_server(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from carnet.bootstrap import open_services
    from carnet.cli.main import cli
    from carnet.server.api import create_api_app, serve_api_in_thread

    ws_path = tmp_path / "ws"
    Client(str(ws_path)).log_dataframe(_patients(), "patients")
    args = ["--uri", str(ws_path), "data", "risk", "patients@1", "--qi", "age_band,region"]
    shown = CliRunner().invoke(cli, [*args, "--sensitive", "diagnosis", "--json"])
    local = json.loads(shown.output)
    assert local["k"] >= 5 and local["l"] == 3 and local["classes"] == 6  # 3 age bands x 2 regions
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0 and "k=" in text.output and "classes" in text.output
    bad = CliRunner().invoke(cli, ["--uri", str(ws_path), "data", "risk", "patients@1", "--qi", "nope"])
    assert bad.exit_code == 2 and "nope" in bad.output
    services = open_services(str(ws_path))
    server = serve_api_in_thread(create_api_app(services, require_auth=False))
    try:
        remote = Client(server.url).dataset_risk("patients@1", ["age_band", "region"], "diagnosis")
    finally:
        server.stop()
        services.close()
    assert remote == local


def test_a_model_trained_on_a_pseudonymized_version_passes_and_its_card_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_DEID_KEY", "a-key-kept-outside-the-workspace")
    ws = Client(str(tmp_path / "ws"))
    ws.log_dataframe(_patients(), "patients", project="clinic")
    config = {
        "key": "env:CARNET_DEID_KEY",
        "columns": {"email": "pseudonymize", "dose": {"method": "generalize", "bins": [0, 5, 10]}},
    }
    version, _ = ws.deidentify_dataset("patients@1", config)
    spec = {
        "dataset": version.ref, "task": "binary", "target": "target",
        "features": ["age_band", "region", "email", "dose"],
        "model": {"name": "logistic_regression", "params": {"max_iter": 300}}, "seed": 0, "project": "clinic",
    }  # fmt: skip
    model = ws.register_model(ws.train(spec).run_id, "pseudo")
    ws.set_policy({"name": "p", "aliases": ["production"], "gates": [{"type": "privacy"}]}, model="pseudo")
    assert ws.promote("pseudo", model.version, "production").applied  # tokens are not personal data
    card = ws.model_card_data("pseudo", model.version)["data_protection"]
    (entry,) = card["datasets"]
    assert entry["deidentified_from"] == "patients@1" and entry["methods"] == {
        "email": "pseudonymize",
        "dose": "generalize",
    }
    assert "from patients@1: dose generalize, email pseudonymize" in ws.model_card("pseudo", model.version)


@pytest.mark.parametrize("mode", ["drop", "pseudonymize"])
def test_the_prediction_log_drops_or_pseudonymizes_pii_inputs(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import time

    import pyarrow.parquet as pq

    from carnet.inference.predlog import PredictionRecord
    from carnet.privacy.deidentify import pseudonymizer

    monkeypatch.setenv("LOG_KEY", "a-log-key-of-enough-bytes")
    ws = Client(str(tmp_path / "ws"))
    ws.log_dataframe(_patients(), "patients", project="clinic")
    version = ws.register_model(_train(ws, ["age_band", "region", "email", "dose"]), "risk")
    log = ws.services.deployments.prediction_log(
        pii=mode, key="env:LOG_KEY" if mode == "pseudonymize" else None
    )
    rows = _patients(3)[["age_band", "region", "email", "dose"]]
    record = PredictionRecord(
        "r1", time.time(), "risk", "risk", version.version, 1.0, rows, {"predict": [0, 1, 0]}
    )
    assert log.append(record)
    log.close()
    (written,) = ws.services.deployments.prediction_files(model="risk")
    table = pq.read_table(io.BytesIO(ws.services.ctx.artifacts.get_bytes(written.digest)))
    assert {"input.age_band", "input.dose"} <= set(table.column_names)
    if mode == "drop":
        assert "input.email" not in table.column_names
    else:
        token = pseudonymizer(b"a-log-key-of-enough-bytes")
        assert table.column("input.email").to_pylist() == [token(v) for v in rows["email"]]
    with pytest.raises(InvalidInput, match="key"):
        ws.services.deployments.prediction_log(pii="pseudonymize")
