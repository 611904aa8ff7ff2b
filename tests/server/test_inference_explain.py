"""``POST /v2/models/{m}/explain`` in ``carnet serve`` over HTTP: the v2 infer body, attributions per
row that add up to the prediction; a bad or missing method is a 400 naming ``parameters``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from test_inference_server import serve

from carnet import Client


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_breast_cancer

    root = tmp_path_factory.mktemp("explain-serve")
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [*range(8), -1]]  # 8 columns + target
    frame["site"] = np.where(frame.index % 3 == 0, "north", "south")  # a categorical column too
    frame.to_csv(root / "cancer.csv", index=False)
    with Client(str(root / "ws")) as c:
        c.add_dataset(root / "cancer.csv", "cancer")
        spec = {"dataset": "cancer@1", "task": "binary", "target": "target", "seed": 0,
                "model": {"name": "random_forest", "params": {"n_estimators": 30}}}  # fmt: skip
        c.register_model(c.train(spec).run_id, "clf")
        c.set_model_alias("clf", "production", 1)
    return root


def test_serving_explain_route(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(str(ws / "ws")) as c:
        served = serve(c, ("clf@production",))
        try:
            X = c.services.datasets.load_frame("cancer@1")[1].drop(columns=["target"]).head(3)
            body: dict[str, Any] = {
                "inputs": [
                    {
                        "name": col,
                        "shape": [3],
                        "datatype": "BYTES" if col == "site" else "FP64",
                        "data": X[col].tolist(),
                    }
                    for col in X.columns
                ]
            }
            r = httpx.post(f"{served.url}/v2/models/clf/explain", json=body, timeout=120)
            assert r.status_code == 200, r.text
            doc = r.json()
            assert doc["model_name"] == "clf" and doc["method"] == "shap" and len(doc["rows"]) == 3
            proba = c.load_model("clf/1").predict_proba(X)[:, 1]
            for row, p in zip(doc["rows"], proba, strict=True):
                assert row["base_value"] + sum(row["attributions"].values()) == pytest.approx(p, abs=1e-6)
            bad = httpx.post(
                f"{served.url}/v2/models/clf/explain", json={**body, "parameters": {"method": "x"}}
            )
            assert bad.status_code == 400 and bad.json()["field"] == "parameters"
            lime = httpx.post(
                f"{served.url}/v2/models/clf/versions/1/explain",
                json={**body, "id": "why-1", "parameters": {"method": "lime"}},
                timeout=120,
            )
            assert (
                lime.status_code == 200 and lime.json()["method"] == "lime" and lime.json()["id"] == "why-1"
            )
            assert [len(row["attributions"]) for row in lime.json()["rows"]] == [9, 9, 9]
            monkeypatch.setitem(sys.modules, "lime", None)  # a third-party library made unimportable
            missing = httpx.post(
                f"{served.url}/v2/models/clf/explain", json={**body, "parameters": {"method": "lime"}}
            )
            assert missing.status_code == 400 and missing.json()["field"] == "parameters"
            assert 'pip install "carnet[explain]"' in missing.json()["error"]
            too_many = httpx.post(f"{served.url}/v2/models/clf/explain", json=v2_rows(X, 101))
            assert too_many.status_code == 400 and "at most 100 rows" in too_many.json()["error"]
        finally:
            served.stop()


def v2_rows(X: Any, n: int) -> dict[str, Any]:
    """A v2 body of ``n`` rows (``X``'s first row repeated)."""
    row = X.iloc[[0] * n]
    return {
        "inputs": [
            {"name": c, "shape": [n], "datatype": "BYTES" if c == "site" else "FP64", "data": row[c].tolist()}
            for c in row.columns
        ]
    }
