"""carnet serve: the outputs the v2 metadata advertises are exactly the ones inference returns, each
can be asked for by name with a real Triton client, an unknown one is a 400 naming the valid ones,
every error is JSON, and unknown model names never create Prometheus series."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from test_inference_server import Served, serve

from carnet import Client

CASES: dict[str, tuple[Any, str]] = {
    "cancer": (load_breast_cancer, "binary"),
    "wine": (load_wine, "multiclass"),
    "diabetes": (load_diabetes, "regression"),
}


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[pd.DataFrame, Any]]:
    out = {}
    for name, (load, task) in CASES.items():
        data = load(as_frame=True)
        est = LogisticRegression(max_iter=2000) if task != "regression" else Ridge()
        out[name] = (data.data, make_pipeline(StandardScaler(), est).fit(data.data, data.target))
    return out


@pytest.fixture
def served(tmp_path: Path, models: dict[str, tuple[pd.DataFrame, Any]]) -> Iterator[Served]:
    client = Client(str(tmp_path / "ws"))
    for name, (X, model) in models.items():
        client.log_model(model, name, X.head(5), task=CASES[name][1], project="serve")
        client.set_model_alias(name, "production", 1)
    s = serve(client, tuple(f"{n}@production" for n in models))
    yield s
    s.stop()
    client.close()


def _expected(model: Any, rows: pd.DataFrame, output: str) -> np.ndarray:
    return np.asarray(model.predict(rows) if output == "predict" else model.predict_proba(rows))


@pytest.mark.parametrize("name", list(CASES))
def test_every_advertised_output_is_returned_by_name(
    served: Served, models: dict[str, tuple[pd.DataFrame, Any]], name: str
) -> None:
    import tritonclient.http as triton

    X, model = models[name]
    rows = X.iloc[:9]
    client = triton.InferenceServerClient(url=served.url.removeprefix("http://"))
    advertised = client.get_model_metadata(name)["outputs"]
    names = [o["name"] for o in advertised]
    assert names == (["predict"] if CASES[name][1] == "regression" else ["predict", "predict_proba"])
    if "predict_proba" in names:
        proba = advertised[1]
        assert proba["datatype"] == "FP64" and proba["shape"] == [-1, len(model.classes_)]
        assert proba["parameters"]["classes"] == model.classes_.tolist()
    inputs = []
    for c in rows.columns:
        tensor = triton.InferInput(c, [len(rows)], "FP64")
        tensor.set_data_from_numpy(rows[c].to_numpy(dtype=np.float64), binary_data=False)
        inputs.append(tensor)
    for output in names:
        for binary in (False, True):
            asked = [triton.InferRequestedOutput(output, binary_data=binary)]
            result = client.infer(name, inputs, outputs=asked)
            returned = [o["name"] for o in result.get_response()["outputs"]]
            assert returned == [output]  # exactly the one asked for
            got = result.as_numpy(output)
            assert got.shape == _expected(model, rows, output).shape
            assert np.allclose(got, _expected(model, rows, output), rtol=0, atol=1e-9)
            assert (
                advertised[names.index(output)]["datatype"] == result.get_response()["outputs"][0]["datatype"]
            )
    everything = client.infer(name, inputs).get_response()["outputs"]
    assert [o["name"] for o in everything] == names  # metadata and a plain response agree


def test_an_unknown_output_is_a_400_naming_the_valid_ones(
    served: Served, models: dict[str, tuple[pd.DataFrame, Any]]
) -> None:
    X, _ = models["cancer"]
    body = {
        "inputs": [
            {"name": c, "shape": [1], "datatype": "FP64", "data": [float(X[c].iloc[0])]} for c in X.columns
        ],
        "outputs": [{"name": "prediction"}],
    }
    r = httpx.post(f"{served.url}/v2/models/cancer/infer", json=body)
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert r.json()["field"] == "outputs"
    assert "'prediction'" in r.json()["error"] and "'predict', 'predict_proba'" in r.json()["error"]


def test_no_error_is_a_plain_text_page(served: Served) -> None:
    for method, path in (
        ("POST", "/v2/models/cancer/versions/abc/infer"),  # a path parameter that is not a number
        ("GET", "/v2/models/cancer/versions/abc"),
        ("GET", "/no/such/route"),
        ("GET", "/v2/models/cancer/versions/99"),
        ("PUT", "/v2/models/cancer/infer"),
        ("POST", "/v2/models/nosuch/infer"),
        ("POST", "/invocations"),  # no body
    ):
        r = httpx.request(method, served.url + path)
        assert 400 <= r.status_code < 600, (method, path)
        assert r.headers["content-type"].startswith("application/json"), (method, path, r.text)
        body = r.json()
        assert "error" in body or "message" in body, (method, path, body)


def test_unknown_model_names_share_one_metrics_label(served: Served) -> None:
    for i in range(300):
        r = httpx.post(f"{served.url}/v2/models/nosuch-{i}/infer", json={"inputs": []})
        assert r.status_code == 404
    text = httpx.get(f"{served.url}/metrics").text
    assert "nosuch" not in text
    assert 'endpoint="__unknown__"' in text
