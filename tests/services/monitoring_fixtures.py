"""Shared set-up of the monitoring tests: a workspace with two versions of a classifier, a reference
dataset, prediction-log files written the way the server writes them, and a webhook receiver."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from carnet import Client
from carnet.inference.outputs import model_outputs
from carnet.inference.predlog import PredictionLog, PredictionRecord

MODEL = "cancer"


def cancer_frame() -> pd.DataFrame:
    """The breast-cancer data with its ``target`` column."""
    data = load_breast_cancer(as_frame=True)
    return data.frame


def setup_workspace(client: Client) -> tuple[pd.DataFrame, list[Any]]:
    """Two versions of the classifier (production moved 1 -> 2) and the reference ``cancer-ref@1``."""
    frame = cancer_frame()
    X, y = frame.drop(columns=["target"]), frame["target"]
    models = [
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y),
        make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000)).fit(X, y),
    ]
    for m in models:
        client.log_model(m, MODEL, X.head(5), task="binary", project="monitoring")
    client.set_model_alias(MODEL, "production", 1)
    client.set_model_alias(MODEL, "production", 2)
    client.log_dataframe(frame, "cancer-ref", project="monitoring")
    return frame, models


def shifted(frame: pd.DataFrame, columns: int = 20, factor: float = 3.0) -> pd.DataFrame:
    """``frame`` with its first ``columns`` feature columns scaled (a strong covariate shift)."""
    out = frame.copy()
    for c in [c for c in out.columns if c != "target"][:columns]:
        out[c] = out[c] * factor
    return out


def log_rows(
    client: Client,
    model: Any,
    rows: pd.DataFrame,
    *,
    version: int = 2,
    start: float | None = None,
    step: float = 1.0,
    per_request: int = 1,
) -> list[str]:
    """Predict ``rows`` and write them to the prediction log as the server would; the request ids.

    Rows are logged from ``start`` (default: now, as a live server logs them: after the monitors
    the test made, which read from their creation on).
    """
    if start is None:
        import time

        start = time.time()
    X = rows.drop(columns=["target"], errors="ignore").reset_index(drop=True)
    log = PredictionLog(client.services.deployments.prediction_sink())
    ids = []
    try:
        for i in range(0, len(X), per_request):
            part = X.iloc[i : i + per_request].reset_index(drop=True)
            rid = uuid.uuid4().hex
            ids.append(rid)
            outputs = model_outputs(model, part, "classification", [0, 1])
            log.append(PredictionRecord(rid, start + i * step, MODEL, MODEL, version, 1.0, part, outputs))
    finally:
        log.close()
    return ids


class Receiver:
    """A webhook receiver on 127.0.0.1 recording every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server protocol
                n = int(self.headers.get("content-length", 0))
                received.append(json.loads(self.rfile.read(n)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def v2_body(rows: pd.DataFrame) -> dict[str, Any]:
    """An Open Inference Protocol request with one FP64 tensor per column."""
    X = rows.drop(columns=["target"], errors="ignore")
    return {
        "inputs": [
            {"name": c, "shape": [len(X)], "datatype": "FP64", "data": X[c].astype(float).tolist()}
            for c in X.columns
        ]
    }


def seeded(n: int, seed: int = 0) -> np.random.Generator:
    """A seeded generator (kept here so every test draws the same rows)."""
    return np.random.default_rng(seed + n)
