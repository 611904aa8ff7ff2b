"""Personal data in the prediction log: every monitoring window's inputs are scanned (``pii.*``
metrics an alert rule can read), and a monitor's reference keeps no values of flagged columns."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from carnet import Client
from carnet.inference.outputs import model_outputs
from carnet.inference.predlog import PredictionLog, PredictionRecord


def _customers(rows: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "email": [f"user{i}@example.org" for i in range(rows)],
            "tenure": rng.integers(1, 60, rows),
            "spend": rng.normal(50, 10, rows).round(2),
        }
    )
    frame["churn"] = (frame["tenure"] < 20).astype(int)
    return frame


def test_windows_report_pii_and_the_reference_holds_no_email(tmp_path: Path) -> None:
    ws = Client(str(tmp_path / "ws"))
    frame = _customers()
    ws.log_dataframe(frame, "customers")
    spec = {
        "dataset": "customers@1",
        "task": "binary",
        "target": "churn",
        "features": ["email", "tenure", "spend"],
        "model": {"name": "logistic_regression", "params": {"max_iter": 300}},
        "seed": 0,
    }
    ws.register_model(ws.train(spec).run_id, "churn")
    ws.set_model_alias("churn", "production", 1)
    monitor = ws.create_monitor(
        {
            "name": "churn-prod",
            "model": "churn@production",
            "reference": "customers@1",
            "window": "100rows",
            "rules": ["pii.columns > 0"],
        }
    )
    assert monitor.state["pii_columns"] == ["email"]
    stored = [
        ws.services.ctx.artifacts.get_bytes(monitor.state[k]) for k in ("input_profile", "quality_spec")
    ]
    assert all(b"@example.org" not in blob for blob in stored)  # no email in what drift reports show
    model = ws.load_model("churn/1")
    log = PredictionLog(ws.services.deployments.prediction_sink())
    X = frame.drop(columns="churn")
    now = time.time()
    for i in range(0, 200, 10):
        part = X.iloc[i : i + 10].reset_index(drop=True)
        outputs = model_outputs(model, part, "classification", [0, 1])
        log.append(PredictionRecord(uuid.uuid4().hex, now + i, "churn", "churn", 1, 1.0, part, outputs))
    log.close()
    result = ws.run_monitor("churn-prod")
    assert [w.rows for w in result.windows] == [100, 100]
    window = result.windows[0]
    assert window.metrics["pii.columns"] == 1 and window.metrics["pii.email"] == 1.0
    report = ws.monitor_window_report("churn-prod", window.seq)
    assert [(f["column"], f["kind"]) for f in report["pii"]] == [("email", "email")]
    assert "@example.org" not in json.dumps(report.get("drift", {}))
    assert any("pii.columns" in str(a.rule) for a in ws.list_alerts())
