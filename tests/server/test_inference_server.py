"""carnet serve over real HTTP on 127.0.0.1: v2 and MLflow protocols, validation, errors,
metrics, batching, overload, live alias changes, shadows and the prediction log."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from serving_models import Constant, Failing, Slow
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from carnet import Client
from carnet.inference.predlog import PredictionLog
from carnet.server.runtime import BatchingConfig, ServingRuntime
from carnet.server.v2 import create_app


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    client: Client
    runtime: ServingRuntime
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def serve(
    client: Client,
    refs: tuple[str, ...] = (),
    *,
    endpoints: list[str] | None = None,
    batching: BatchingConfig | None = None,
    predlog: PredictionLog | None = None,
    max_body_bytes: int = 1 << 20,
    poll: float = 0.2,
    allow_pickle: bool = False,
) -> Served:
    runtime = ServingRuntime(
        client.services,
        refs,
        endpoints=endpoints,
        batching=batching,
        poll_interval=poll,
        allow_pickle=allow_pickle,
    )
    app = create_app(runtime, predlog=predlog, max_body_bytes=max_body_bytes)
    port = _port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return Served(url, client, runtime, server, thread)
        except httpx.HTTPError:
            pass
        if not thread.is_alive():
            break
        time.sleep(0.05)
    server.should_exit = True
    raise RuntimeError("the server did not become ready")


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, Any]:
    data = load_breast_cancer(as_frame=True)
    X = data.data
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, data.target)
    return X, model


@pytest.fixture
def ws(tmp_path: Path, cancer: tuple[pd.DataFrame, Any]) -> Iterator[Client]:
    X, model = cancer
    client = Client(str(tmp_path / "ws"))
    client.log_model(model, "cancer", X.head(5), task="binary", project="serve")
    client.set_model_alias("cancer", "production", 1)
    yield client
    client.close()


@pytest.fixture
def served(ws: Client) -> Iterator[Served]:
    s = serve(ws, ("cancer@production",))
    yield s
    s.stop()


def v2_body(frame: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].tolist()}
            for c in frame.columns
        ],
        **extra,
    }


def outputs(response: httpx.Response) -> dict[str, np.ndarray]:
    body = response.json()
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in body["outputs"]}


def test_v2_inference_equals_the_model(served: Served, cancer: tuple[pd.DataFrame, Any]) -> None:
    X, model = cancer
    rows = X.iloc[:25]
    r = httpx.post(f"{served.url}/v2/models/cancer/infer", json=v2_body(rows, id="req-1"))
    assert r.status_code == 200, r.text
    assert r.json()["model_name"] == "cancer" and r.json()["model_version"] == "1"
    assert r.json()["id"] == "req-1" and r.headers["x-request-id"] == "req-1"
    out = outputs(r)
    assert (out["predict"] == model.predict(rows)).all()
    assert np.allclose(out["predict_proba"], model.predict_proba(rows), rtol=0, atol=1e-12)
    one = httpx.post(f"{served.url}/v2/models/cancer/versions/1/infer", json=v2_body(X.iloc[[3]]))
    assert outputs(one)["predict"].tolist() == model.predict(X.iloc[[3]]).tolist()
    assert len(one.headers["x-request-id"]) == 32
    # the registered input example chose the fast path: preprocessing once, arrays not frames
    assert served.runtime.loaded["cancer/1"].predict_path == "shared+array"


def test_health_and_metadata(served: Served, cancer: tuple[pd.DataFrame, Any]) -> None:
    X, _ = cancer
    assert httpx.get(f"{served.url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{served.url}/v2/health/ready").status_code == 200
    assert httpx.get(f"{served.url}/ping").status_code == 200
    assert httpx.get(f"{served.url}/v2/models/cancer/ready").json()["ready"] is True
    meta = httpx.get(f"{served.url}/v2/models/cancer").json()
    assert meta["name"] == "cancer" and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == list(X.columns)
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
    assert httpx.get(f"{served.url}/v2/models/nope").status_code == 404


def test_a_real_triton_client_works_unchanged(served: Served, cancer: tuple[pd.DataFrame, Any]) -> None:
    import tritonclient.http as triton

    X, model = cancer
    rows = X.iloc[:7]
    client = triton.InferenceServerClient(url=served.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_model_ready("cancer")
    inputs = []
    for c in rows.columns:
        tensor = triton.InferInput(c, [len(rows)], "FP64")
        tensor.set_data_from_numpy(rows[c].to_numpy(dtype=np.float64), binary_data=False)
        inputs.append(tensor)
    requested = [triton.InferRequestedOutput("predict", binary_data=False)]
    result = client.infer("cancer", inputs, outputs=requested)
    assert (result.as_numpy("predict") == model.predict(rows)).all()
    assert client.get_model_metadata("cancer")["name"] == "cancer"


@pytest.mark.parametrize("form", ["dataframe_split", "dataframe_records", "instances", "inputs", "csv"])
def test_mlflow_invocations(served: Served, cancer: tuple[pd.DataFrame, Any], form: str) -> None:
    X, model = cancer
    rows = X.iloc[10:14]
    if form == "csv":
        buf = io.StringIO()
        rows.to_csv(buf, index=False)
        r = httpx.post(
            f"{served.url}/invocations", content=buf.getvalue(), headers={"content-type": "text/csv"}
        )
    else:
        payload: Any = {
            "dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()},
            "dataframe_records": rows.to_dict("records"),
            "instances": rows.to_dict("records"),
            "inputs": {c: rows[c].tolist() for c in rows.columns},
        }[form]
        r = httpx.post(f"{served.url}/invocations", json={form: payload})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == model.predict(rows).tolist()


def test_bad_input_is_a_4xx_naming_the_problem(served: Served, cancer: tuple[pd.DataFrame, Any]) -> None:
    X, _ = cancer
    url = f"{served.url}/v2/models/cancer/infer"
    assert httpx.post(url, json=v2_body(X.iloc[:2])).status_code == 200
    missing = httpx.post(url, json=v2_body(X.iloc[:2].drop(columns=["mean radius"])))
    assert missing.status_code == 400 and "mean radius" in missing.json()["error"]
    extra = httpx.post(url, json=v2_body(X.iloc[:2].assign(surprise=1.0)))
    assert extra.status_code == 400 and "surprise" in extra.json()["error"]
    body = v2_body(X.iloc[:1])
    body["inputs"][0] = {"name": "mean radius", "shape": [1], "datatype": "BYTES", "data": ["large"]}
    typed = httpx.post(url, json=body)
    assert typed.status_code == 400 and "mean radius" in typed.json()["error"]
    assert (
        httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    )
    mlflow = httpx.post(f"{served.url}/invocations", json={"nothing": []})
    assert mlflow.status_code == 400 and mlflow.json()["error_code"] == "BAD_REQUEST"
    big = httpx.post(url, content=b"x" * (2 << 20), headers={"content-type": "application/json"})
    assert big.status_code == 413
    metrics = httpx.get(f"{served.url}/metrics").text
    assert 'kind="bad_request"' in metrics and 'kind="too_large"' in metrics
    assert "carnet_request_latency_seconds_bucket" in metrics and "carnet_batch_rows_bucket" in metrics


def test_a_model_that_raises_is_a_500_with_the_request_id(ws: Client) -> None:
    sample = pd.DataFrame({"x": [1.0, 2.0]})
    ws.log_model(Failing(), "failing", sample, task="regression", allow_pickle=True)
    ws.set_model_alias("failing", "production", 1)
    s = serve(ws, ("failing@production",), allow_pickle=True)
    try:
        ok = httpx.post(f"{s.url}/v2/models/failing/infer", json=v2_body(sample))
        assert ok.status_code == 200
        bad = httpx.post(
            f"{s.url}/v2/models/failing/infer",
            json=v2_body(pd.DataFrame({"x": [-1e9]})),
            headers={"x-request-id": "abc"},
        )
        assert bad.status_code == 500 and bad.json()["request_id"] == "abc"
        assert "abc" in bad.json()["error"]
        assert 'kind="model_error"' in httpx.get(f"{s.url}/metrics").text
        assert httpx.post(f"{s.url}/v2/models/failing/infer", json=v2_body(sample)).status_code == 200
    finally:
        s.stop()


def test_batching_coalesces_and_gives_identical_predictions(
    ws: Client, cancer: tuple[pd.DataFrame, Any]
) -> None:
    X, model = cancer
    rows = [X.iloc[[i]] for i in range(120)]
    results: dict[int, list[int]] = {}
    for batch_rows in (64, 1):
        s = serve(
            ws, ("cancer@production",), batching=BatchingConfig(max_batch_rows=batch_rows, max_wait_ms=5.0)
        )
        try:
            with httpx.Client() as http, ThreadPoolExecutor(8) as pool:

                def call(frame: pd.DataFrame, url: str = s.url) -> int:
                    r = http.post(f"{url}/v2/models/cancer/infer", json=v2_body(frame))
                    return int(outputs(r)["predict"][0])

                results[batch_rows] = list(pool.map(call, rows))
            metrics = httpx.get(f"{s.url}/metrics").text
        finally:
            s.stop()
        if batch_rows == 64:
            count = next(line for line in metrics.splitlines() if line.startswith("carnet_batch_rows_count"))
            assert float(count.rsplit(" ", 1)[1]) < 120  # fewer predict calls than requests
    assert results[64] == results[1] == model.predict(X.iloc[:120]).tolist()


def test_overload_answers_503_with_retry_after_quickly(ws: Client) -> None:
    sample = pd.DataFrame({"a": [1.0], "b": [2.0]})
    ws.log_model(Slow(1.5), "slow", sample, task="regression", allow_pickle=True)
    ws.set_model_alias("slow", "production", 1)
    s = serve(
        ws,
        ("slow@production",),
        batching=BatchingConfig(max_batch_rows=1, max_wait_ms=0, max_queue_rows=2),
        allow_pickle=True,
    )
    try:
        finished: list[int] = []  # status codes in the order the answers came back
        lock = threading.Lock()

        def call(_: int) -> httpx.Response:
            r = httpx.post(f"{s.url}/v2/models/slow/infer", json=v2_body(sample), timeout=60)
            with lock:
                finished.append(r.status_code)
            return r

        with ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(call, range(12)))
        codes = [r.status_code for r in responses]
        assert 503 in codes and 200 in codes and set(codes) <= {200, 503}
        refused = next(r for r in responses if r.status_code == 503)
        assert int(refused.headers["retry-after"]) >= 1 and "overloaded" in refused.json()["error"]
        # every refusal came back before the first prediction finished (each takes 1.5 s): the
        # server answers 503 at once instead of queueing the request
        assert finished[: codes.count(503)] == [503] * codes.count(503)
    finally:
        s.stop()


def test_moving_the_alias_reroutes_live_without_failing_requests(
    ws: Client, cancer: tuple[pd.DataFrame, Any]
) -> None:
    X, _ = cancer
    ws.log_model(Constant(7), "cancer", X.head(5), task="binary", allow_pickle=True)
    s = serve(ws, ("cancer@production",), poll=0.1, allow_pickle=True)
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client() as http:
            while not stop.is_set():
                r = http.post(f"{s.url}/v2/models/cancer/infer", json=v2_body(X.iloc[[0]]))
                seen.append((r.status_code, r.json().get("model_version", "")))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
        ws.set_model_alias("cancer", "production", 2, reason="live switch")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(v == "2" for _, v in seen[-20:]):
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        s.stop()
    assert all(code == 200 for code, _ in seen), {c for c, _ in seen}
    versions = [v for _, v in seen]
    assert versions[0] == "1" and versions[-1] == "2"
    assert versions.index("2") > 0 and "1" not in versions[versions.index("2") + 10 :]


def test_prediction_log_is_flushed_at_shutdown(ws: Client, cancer: tuple[pd.DataFrame, Any]) -> None:
    import pyarrow.parquet as pq

    X, _ = cancer
    predlog = PredictionLog(ws.services.deployments.prediction_sink(), max_rows_per_file=10_000)
    s = serve(ws, ("cancer@production",), predlog=predlog)
    ids = []
    for i in range(5):
        r = httpx.post(f"{s.url}/v2/models/cancer/infer", json=v2_body(X.iloc[i : i + 2], id=f"r{i}"))
        ids.append(r.headers["x-request-id"])
    s.stop()
    files = ws.services.deployments.prediction_files(model="cancer")
    assert sum(f.rows for f in files) == 10
    table = pq.read_table(io.BytesIO(ws.services.ctx.artifacts.get_bytes(files[0].digest)))
    assert sorted(set(table.column("request_id").to_pylist())) == sorted(ids)


def test_a_deployment_splits_traffic_shadows_and_sticks(ws: Client, cancer: tuple[pd.DataFrame, Any]) -> None:
    import pyarrow.parquet as pq

    X, model = cancer
    ws.log_model(Constant(7), "cancer", X.head(5), task="binary", allow_pickle=True)  # version 2
    ws.log_model(Constant(9), "cancer", X.head(5), task="binary", allow_pickle=True)  # version 3
    ws.set_deployment(
        {
            "endpoint": "cancer",
            "routes": [{"model": "cancer@production", "weight": 80}, {"model": "cancer/2", "weight": 20}],
            "shadows": ["cancer/3"],
            "sticky_header": "x-user",
        }
    )
    predlog = PredictionLog(ws.services.deployments.prediction_sink())
    s = serve(ws, endpoints=["cancer"], predlog=predlog, allow_pickle=True, poll=0.1)
    try:
        with httpx.Client() as http:
            versions = [
                http.post(f"{s.url}/v2/models/cancer/infer", json=v2_body(X.iloc[[0]])).json()[
                    "model_version"
                ]
                for _ in range(200)
            ]
            assert set(versions) == {"1", "2"} and 10 <= versions.count("2") <= 70  # 20% of 200, loosely
            sticky = {
                http.post(
                    f"{s.url}/v2/models/cancer/infer", json=v2_body(X.iloc[[0]]), headers={"x-user": "alice"}
                ).json()["model_version"]
                for _ in range(30)
            }
            assert len(sticky) == 1
            # the canary goes to 100%: live, no restart
            ws.set_deployment({"endpoint": "cancer", "routes": ["cancer/2"], "shadows": ["cancer/3"]})

            def version() -> str:
                r = http.post(f"{s.url}/v2/models/cancer/infer", json=v2_body(X.iloc[[0]]))
                return str(r.json()["model_version"])

            deadline = time.monotonic() + 15
            while not all(version() == "2" for _ in range(20)):
                assert time.monotonic() < deadline, "the deployment change did not reach the server"
                time.sleep(0.1)
    finally:
        s.stop()
    files = ws.services.deployments.prediction_files(endpoint="cancer")
    shadow_rows = [f for f in files if f.shadow]
    assert shadow_rows and all(f.version == 3 for f in shadow_rows)
    table = pq.read_table(io.BytesIO(ws.services.ctx.artifacts.get_bytes(shadow_rows[0].digest)))
    assert set(table.column("output.predict").to_pylist()) == {9}
    assert model.predict(X.iloc[[0]])[0] in (0, 1)


def test_an_unsupported_content_type_is_415(served: Served) -> None:
    r = httpx.post(
        f"{served.url}/invocations", content=b"<xml/>", headers={"content-type": "application/xml"}
    )
    assert r.status_code == 415 and r.json()["error_code"] == "BAD_REQUEST"


def test_a_real_triton_client_with_binary_tensors(served: Served, cancer: tuple[pd.DataFrame, Any]) -> None:
    import tritonclient.http as triton

    X, model = cancer
    rows = X.iloc[:40]
    client = triton.InferenceServerClient(url=served.url.removeprefix("http://"))
    matrix = triton.InferInput("input", list(rows.shape), "FP64")
    matrix.set_data_from_numpy(rows.to_numpy(dtype=np.float64), binary_data=True)
    requested = [triton.InferRequestedOutput(n, binary_data=True) for n in ("predict", "predict_proba")]
    result = client.infer("cancer", [matrix], outputs=requested)
    assert (result.as_numpy("predict") == model.predict(rows)).all()
    assert np.allclose(result.as_numpy("predict_proba"), model.predict_proba(rows), rtol=0, atol=1e-12)
    assert all("binary_data_size" in o["parameters"] for o in result.get_response()["outputs"])
    columns = []
    for c in rows.columns:  # one binary tensor per column; no outputs named: the client asks all in binary
        tensor = triton.InferInput(c, [len(rows)], "FP64")
        tensor.set_data_from_numpy(rows[c].to_numpy(dtype=np.float64), binary_data=True)
        columns.append(tensor)
    assert (client.infer("cancer", columns).as_numpy("predict") == model.predict(rows)).all()
    # the wire: the JSON header's length in the response header, then raw bytes
    body, size = triton.InferenceServerClient.generate_request_body([matrix], outputs=requested)
    url = f"{served.url}/v2/models/cancer/infer"
    r = httpx.post(url, content=body, headers={"Inference-Header-Content-Length": str(size)})
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert 0 < int(r.headers["inference-header-content-length"]) < len(r.content)
    bad = httpx.post(url, content=body, headers={"Inference-Header-Content-Length": str(len(body) + 1)})
    assert bad.status_code == 400 and bad.json()["field"] == "Inference-Header-Content-Length"
    short = httpx.post(url, content=body[:-8], headers={"Inference-Header-Content-Length": str(size)})
    assert short.status_code == 400 and short.json()["field"] == "input"
