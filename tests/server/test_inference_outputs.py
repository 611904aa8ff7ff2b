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


def _check_every_output(url: str, name: str, rows: pd.DataFrame, model: Any, task: str) -> None:
    """Ask a real Triton client for each output ``name``'s metadata advertises, one at a time, as
    JSON and as binary data: each comes back alone, with the advertised datatype and the model's
    values; a request asking for nothing in particular gets exactly the advertised outputs."""
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    advertised = client.get_model_metadata(name)["outputs"]
    names = [o["name"] for o in advertised]
    assert names == (["predict"] if task == "regression" else ["predict", "predict_proba"])
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
            returned = result.get_response()["outputs"]
            assert [o["name"] for o in returned] == [output]  # exactly the one asked for
            assert returned[0]["datatype"] == advertised[names.index(output)]["datatype"]
            got = result.as_numpy(output)
            assert got.shape == _expected(model, rows, output).shape
            assert np.allclose(got, _expected(model, rows, output), rtol=0, atol=1e-9)
    everything = client.infer(name, inputs).get_response()["outputs"]
    assert [o["name"] for o in everything] == names  # metadata and a plain response agree


@pytest.mark.parametrize("name", list(CASES))
def test_every_advertised_output_is_returned_by_name(
    served: Served, models: dict[str, tuple[pd.DataFrame, Any]], name: str
) -> None:
    X, model = models[name]
    _check_every_output(served.url, name, X.iloc[:9], model, CASES[name][1])


def test_trained_versions_advertise_what_they_return(tmp_path: Path) -> None:
    """Versions registered from training runs (their signature names ``prediction`` and
    ``proba_<class>`` columns, the registry's table form) advertise the served outputs too."""
    client = Client(str(tmp_path / "ws"))
    frames = {}
    for name, (load, task) in CASES.items():
        frame = load(as_frame=True).frame
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        client.add_dataset(tmp_path / f"{name}.csv", name, project="serve")
        family = "ridge" if task == "regression" else "logistic_regression"
        spec = {"dataset": f"{name}@1", "task": task, "target": "target", "seed": 0, "project": "serve",
                "model": {"name": family}}  # fmt: skip
        client.register_model(client.train(spec).run_id, name)
        client.set_model_alias(name, "production", 1)
        frames[name] = frame.drop(columns=["target"]).iloc[:9]
    s = serve(client, tuple(f"{n}@production" for n in CASES))
    try:
        for name, (_, task) in CASES.items():
            model = client.load_model(f"{name}/1")
            _check_every_output(s.url, name, frames[name], model, task)
    finally:
        s.stop()
        client.close()


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


class RawBytes:
    """Predicts raw bytes: values MLflow's JSON response cannot hold."""

    def predict(self, X: Any) -> np.ndarray:
        return np.array([b"\xff\xfe"] * len(X), dtype=object)


def test_no_error_is_a_plain_text_page(served: Served) -> None:
    for method, path in (
        ("POST", "/v2/models/cancer/versions/abc/infer"),  # a path parameter that is not a number
        ("GET", "/v2/models/cancer/versions/abc"),
        ("GET", "/no/such/route"),
        ("GET", "/v2/models/cancer/versions/99"),
        ("PUT", "/v2/models/cancer/infer"),
        ("GET", "/invocations"),
        ("POST", "/v2/models/nosuch/infer"),
        ("POST", "/invocations"),  # no body
    ):
        r = httpx.request(method, served.url + path)
        assert 400 <= r.status_code < 500, (method, path)
        assert r.headers["content-type"].startswith("application/json"), (method, path, r.text)
        body = r.json()
        assert ("message" if "invocations" in path else "error") in body, (method, path, body)


def test_an_internal_failure_is_a_json_500_in_the_protocols_form(tmp_path: Path) -> None:
    client = Client(str(tmp_path / "ws"))
    sample = pd.DataFrame({"x": [1.0, 2.0]})
    client.log_model(RawBytes(), "raw", sample, task="regression", allow_pickle=True)
    client.set_model_alias("raw", "production", 1)
    s = serve(client, ("raw@production",), allow_pickle=True)
    try:
        body = {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}
        r = httpx.post(f"{s.url}/invocations", json=body, headers={"x-request-id": "r-1"})
        assert r.status_code == 500 and r.headers["content-type"] == "application/json"
        assert r.json()["error_code"] == "INTERNAL_ERROR" and r.json()["request_id"] == "r-1"
        assert "could not be encoded" in r.json()["message"] and "r-1" in r.json()["message"]
        assert 'kind="encode_error"' in httpx.get(f"{s.url}/metrics").text

        # a failure outside any handler's own error handling: the app's handler answers
        def broken(name: str) -> None:
            raise RuntimeError(f"{name} broke")

        app = s.server.config.app
        app.add_api_route("/v2/models/{name}/broken", broken)
        app.add_api_route("/endpoints/{name}/broken", broken)
        for path, key in (("/v2/models/raw/broken", "error"), ("/endpoints/raw/broken", "message")):
            r = httpx.get(s.url + path, headers={"x-request-id": "r-2"})
            assert r.status_code == 500 and r.headers["content-type"] == "application/json", r.text
            assert r.json()["request_id"] == "r-2"
            assert r.json()[key] == "internal error (RuntimeError); request id r-2"
        assert httpx.get(f"{s.url}/v2/health/live").json() == {"live": True}  # still serving
    finally:
        s.stop()
        client.close()


def _series(metrics: str) -> set[str]:
    """The labelled series of a Prometheus exposition (names with their labels, no values)."""
    return {line.rsplit(" ", 1)[0] for line in metrics.splitlines() if line and not line.startswith("#")}


def test_unknown_model_names_share_one_metrics_label(
    served: Served, models: dict[str, tuple[pd.DataFrame, Any]]
) -> None:
    X, _ = models["cancer"]
    row = {"inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [0.0]} for c in X.columns]}
    with httpx.Client(base_url=served.url) as http:

        def unknown(i: int) -> int:
            """One request naming an unknown model (or version), a different kind by i."""
            kind = i % 5
            if kind == 0:
                return http.post(f"/v2/models/nosuch-{i}/infer", json=row).status_code
            if kind == 1:
                return http.post(f"/v2/models/nosuch-{i}/versions/1/infer", json=row).status_code
            if kind == 2:
                return http.post(f"/v2/models/nosuch-{i}/explain", json=row).status_code
            if kind == 3:
                return http.post(f"/endpoints/nosuch-{i}/invocations", json={}).status_code
            return http.post(f"/v2/models/cancer/versions/{1000 + i}/infer", json=row).status_code

        assert [unknown(i) for i in range(5)] == [404] * 5  # one of each kind
        before = _series(http.get("/metrics").text)
        assert all(unknown(i) == 404 for i in range(5, 1005))  # 1,000 more distinct names
        after = _series(http.get("/metrics").text)
    assert after == before  # no new series: the counts moved, the labels did not
    assert 'endpoint="__unknown__"' in "\n".join(after)
    assert not any("nosuch" in s or 'version="10' in s for s in after)
