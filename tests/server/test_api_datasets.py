"""Dataset routes over real HTTP: streamed CSV and Parquet uploads, versions, references, verified
downloads, and errors as problem+json naming the field."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from carnet.bootstrap import open_services
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.services import Services

CSV_1 = b"age,income,churn\n31,52000.5,0\n45,61000.0,1\n29,,0\n"
CSV_2 = CSV_1 + b"52,70500.25,1\n"


@dataclass
class Api:
    http: httpx.Client
    services: Services


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    services = open_services(str(tmp_path / "ws"))
    server = serve_api_in_thread(create_api_app(services, require_auth=False, max_body_bytes=1 << 20))
    try:
        with httpx.Client(base_url=f"{server.url}/api/v1", timeout=60) as client:
            yield Api(client, services)
    finally:
        server.stop()
        services.close()


def problem(r: httpx.Response, status: int, error: str, field: str | None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert (body["status"], body["error"], body["field"]) == (status, error, field), body
    return body


def upload(api: Api, name: str, data: bytes, **params: str) -> httpx.Response:
    return api.http.post(f"/datasets/{name}", content=data, params=params)


def test_csv_versions_are_uploaded_listed_and_resolved(api: Api) -> None:
    first = upload(api, "churn", CSV_1, filename="churn.csv", project="crm", description="January")
    assert first.status_code == 201, first.text
    v1 = first.json()
    assert (v1["ref"], v1["num_rows"], v1["num_columns"], v1["format"], v1["created"]) == (
        "churn@1",
        3,
        3,
        "csv",
        True,
    )
    assert [f["name"] for f in v1["schema"]] == ["age", "income", "churn"]
    assert v1["source"] == "upload:churn.csv" and v1["project"] == "crm" and v1["description"] == "January"
    assert {c["name"] for c in v1["profile"]} == {"age", "income", "churn"}
    same = upload(api, "churn", CSV_1, filename="again.csv")
    assert same.status_code == 200 and same.json()["version"] == 1 and same.json()["created"] is False
    second = upload(api, "churn", CSV_2, filename="churn.csv", parent="churn@1")
    assert (
        second.status_code == 201 and second.json()["version"] == 2 and second.json()["parent"] == "churn@1"
    )
    assert second.json()["project"] == "crm"  # a dataset stays in its first version's project
    listed = api.http.get("/datasets").json()
    assert [(d["name"], d["version"], d["profile"]) for d in listed] == [("churn", 2, None)]
    assert api.http.get("/datasets", params={"project": "other"}).json() == []
    assert [v["version"] for v in api.http.get("/datasets/churn/versions").json()] == [1, 2]
    assert api.http.get("/datasets/churn").json()["version"] == 2
    assert api.http.get("/datasets/churn@1").json()["num_rows"] == 3
    assert api.http.get("/datasets/churn@latest").json()["version"] == 2
    events = api.services.audit.log("dataset", "churn", action="dataset.add_version")
    assert [e.payload["version"] for e in events] == [2, 1]


def test_parquet_is_recognised_by_its_content_and_downloads_are_verified(api: Api) -> None:
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2, 3], "y": ["a", "b", "c"]}), buf)
    data = buf.getvalue()
    r = upload(api, "points", data)  # no filename, no format: the Parquet magic bytes tell
    assert r.status_code == 201 and r.json()["format"] == "parquet", r.text
    got = api.http.get("/datasets/points@1/file")
    assert got.status_code == 200 and got.content == data
    assert got.headers["x-carnet-digest"] == r.json()["digest"]
    assert 'filename="points-v1.parquet"' in got.headers["content-disposition"]
    upload(api, "churn", CSV_1, filename="churn.csv")
    assert api.http.get("/datasets/churn/file").content == CSV_1
    assert 'filename="churn-v1.csv"' in api.http.get("/datasets/churn/file").headers["content-disposition"]


def test_bad_uploads_and_references_name_the_field(api: Api) -> None:
    no_format = problem(upload(api, "anon", CSV_1), 422, "InvalidInput", "path")
    assert "carnet-upload" not in no_format["detail"] and "/tmp" not in no_format["detail"]
    assert "the uploaded file" in no_format["detail"]
    assert upload(api, "anon", CSV_1, format="csv").status_code == 201
    problem(upload(api, "x", CSV_1, format="xlsx"), 422, "InvalidInput", "format")
    problem(upload(api, "bad name!", CSV_1, format="csv"), 422, "InvalidInput", "name")
    empty = problem(upload(api, "empty", b"", filename="empty.csv"), 422, "InvalidInput", "path")
    assert "empty.csv" in empty["detail"] and "carnet-upload" not in empty["detail"]
    problem(upload(api, "child", CSV_1, filename="c.csv", parent="anon@0"), 422, "InvalidInput", "dataset")
    problem(upload(api, "child", CSV_1, filename="c.csv", parent="anon@7"), 404, "NotFound", "dataset")
    problem(api.http.get("/datasets/nothing"), 404, "NotFound", "dataset")
    problem(api.http.get("/datasets/nothing/versions"), 404, "NotFound", "dataset")
    problem(api.http.get("/datasets/anon@0"), 422, "InvalidInput", "dataset")
    problem(api.http.get("/datasets/anon@9/file"), 404, "NotFound", "dataset")
    assert [d["name"] for d in api.http.get("/datasets").json()] == ["anon"]
