"""The REST API's tracking routes over real HTTP (uvicorn on 127.0.0.1), on SQLite and PostgreSQL:
projects, runs, params, metric batches, tags, inputs, search, and errors as problem+json."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from carnet.bootstrap import open_services
from carnet.server.api import create_api_app, serve_api_in_thread
from carnet.services import Services
from conftest import Workspace


@dataclass
class Api:
    http: httpx.Client
    services: Services


@pytest.fixture
def api(workspace: Workspace) -> Iterator[Api]:
    services = open_services(workspace.uri, artifacts=workspace.artifacts)
    server = serve_api_in_thread(create_api_app(services, require_auth=False, max_body_bytes=1 << 20))
    try:
        with httpx.Client(base_url=f"{server.url}/api/v1", timeout=60) as http:
            yield Api(http, services)
    finally:
        server.stop()
        services.close()


def problem(r: httpx.Response, status: int, error: str, field: str | None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert (body["status"], body["error"], body["field"]) == (status, error, field), body
    assert body["type"].startswith("urn:carnet:problem:") and body["title"] and body["detail"]
    return body


def new_run(api: Api, project: str = "demo", **extra: object) -> dict:
    r = api.http.post("/runs", json={"project": project, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_projects_are_created_listed_and_unique(api: Api) -> None:
    r = api.http.post("/projects", json={"name": "churn", "description": "who leaves"})
    assert r.status_code == 201 and r.json()["name"] == "churn" and r.json()["runs"] == 0
    problem(api.http.post("/projects", json={"name": "churn"}), 409, "AlreadyExists", "project")
    problem(api.http.post("/projects", json={"name": "no spaces"}), 422, "InvalidInput", "project")
    problem(api.http.post("/projects", json={}), 422, "InvalidInput", "name")
    new_run(api, "churn")
    listed = {p["name"]: p for p in api.http.get("/projects").json()}
    assert listed["churn"]["runs"] == 1 and listed["churn"]["description"] == "who leaves"


def test_a_run_is_created_read_by_id_or_prefix_and_errors_name_the_field(api: Api) -> None:
    run = new_run(api, name="first", params={"lr": 0.1, "model": "lgbm", "deep": True}, tags={"team": "a"})
    assert run["status"] == "running" and run["params"] == {"lr": "0.1", "model": "lgbm", "deep": "True"}
    assert api.http.get(f"/runs/{run['id']}").json()["name"] == "first"
    assert api.http.get(f"/runs/{run['id'][:8]}").json()["id"] == run["id"]
    problem(api.http.get("/runs/" + "0" * 32), 404, "NotFound", "run_id")
    problem(api.http.get("/runs/zz"), 404, "NotFound", "run_id")
    problem(api.http.post("/runs", json={"params": {"a": [1, 2]}}), 422, "InvalidInput", "params.a")
    problem(api.http.post("/runs", json={"project": "demo", "color": "red"}), 422, "InvalidInput", "color")
    problem(api.http.post("/runs", json={"name": "x" * 300}), 422, "InvalidInput", "name")
    problem(
        api.http.post("/runs", json={"project": "other", "parent_id": run["id"]}),
        422,
        "InvalidInput",
        "parent_id",
    )
    bad_json = api.http.post("/runs", content=b"{nope", headers={"content-type": "application/json"})
    problem(bad_json, 422, "InvalidInput", "body")


def test_metric_batches_are_one_transaction_and_nan_travels_as_null(api: Api) -> None:
    run = new_run(api)
    rid = run["id"]
    batch = {
        "metrics": [
            {"key": "loss", "value": 0.9, "step": 0, "timestamp": 1000.0},
            {"key": "loss", "value": None, "step": 1, "timestamp": 1001.0},
            {"key": "loss", "value": 0.5, "step": 2, "timestamp": 1002.0},
            {"key": "train/acc", "value": 0.75, "step": 2},
        ],
        "params": {"epochs": 3},
    }
    r = api.http.post(f"/runs/{rid}/metrics", json=batch)
    assert r.status_code == 200 and r.json() == {"logged": 4}
    history = api.http.get(f"/runs/{rid}/metrics/loss").json()
    assert [(m["step"], m["value"]) for m in history] == [(0, 0.9), (1, None), (2, 0.5)]
    assert api.http.get(f"/runs/{rid}/metrics/train/acc").json()[0]["value"] == 0.75
    stored = api.services.tracking.metric_history(rid, "loss")
    assert math.isnan(stored[1].value) and stored[0].timestamp == 1000.0
    got = api.http.get(f"/runs/{rid}").json()
    assert got["metrics"] == {"loss": 0.5, "train/acc": 0.75} and got["params"] == {"epochs": "3"}
    events = [e for e in api.services.audit.log("run", rid) if e.action.startswith("run.log")]
    assert len(events) == 1 and events[0].payload["count"] == 4  # one batch, one audit event
    wrong = {"metrics": [{"key": "loss", "value": "high", "step": 0}]}
    problem(api.http.post(f"/runs/{rid}/metrics", json=wrong), 422, "InvalidInput", "metrics.0.value")
    problem(
        api.http.post(f"/runs/{rid}/metrics", json={"metrics": [{"value": 1.0}]}),
        422,
        "InvalidInput",
        "metrics.0.key",
    )
    problem(
        api.http.post(f"/runs/{rid}/metrics", json={"metrics": [{"key": "", "value": 1.0}]}),
        422,
        "InvalidInput",
        "metric",
    )
    problem(api.http.post("/runs/" + "1" * 32 + "/metrics", json=batch), 404, "NotFound", "run_id")


def test_infinities_travel_as_strings_and_steps_must_be_integers(api: Api) -> None:
    rid = new_run(api)["id"]
    values = [{"key": "x", "value": v, "step": i} for i, v in enumerate(["Infinity", "-Infinity", 2.0])]
    assert api.http.post(f"/runs/{rid}/metrics", json={"metrics": values}).json() == {"logged": 3}
    history = api.http.get(f"/runs/{rid}/metrics/x").json()
    assert [m["value"] for m in history] == ["Infinity", "-Infinity", 2.0]
    assert [m.value for m in api.services.tracking.metric_history(rid, "x")] == [math.inf, -math.inf, 2.0]
    api.http.post(f"/runs/{rid}/metrics", json={"metrics": [{"key": "y", "value": "Infinity", "step": 9}]})
    assert api.http.get(f"/runs/{rid}").json()["metrics"]["y"] == "Infinity"
    for step in ("3", True, 2**70):
        one = {"metrics": [{"key": "z", "value": 1.0, "step": step}]}
        r = api.http.post(f"/runs/{rid}/metrics", json=one)
        assert r.status_code == 422 and r.json()["error"] == "InvalidInput", (step, r.text)
    r = api.http.post("/runs/search", json={"max_results": True})
    problem(r, 422, "InvalidInput", "max_results")


def test_params_are_immutable_and_tags_can_change(api: Api) -> None:
    rid = new_run(api, params={"lr": 0.1})["id"]
    assert api.http.post(f"/runs/{rid}/params", json={"params": {"depth": 3}}).json() == {"logged": 1}
    problem(api.http.post(f"/runs/{rid}/params", json={"params": {"lr": 0.2}}), 409, "Conflict", "params.lr")
    problem(
        api.http.post(f"/runs/{rid}/params", json={"params": {"x": {"a": 1}}}),
        422,
        "InvalidInput",
        "params.x",
    )
    assert api.http.post(f"/runs/{rid}/tags", json={"tags": {"note": "ok", "a/b": 1}}).json() == {"logged": 2}
    assert api.http.delete(f"/runs/{rid}/tags/a/b").status_code == 204
    assert api.http.get(f"/runs/{rid}").json()["tags"] == {"note": "ok"}


def test_patch_ends_a_run_with_its_last_values_and_deletes_or_restores_it(api: Api) -> None:
    rid = new_run(api)["id"]
    problem(api.http.patch(f"/runs/{rid}", json={"name": "renamed"}), 422, "InvalidInput", "name")
    problem(api.http.patch(f"/runs/{rid}", json={}), 422, "InvalidInput", "status")
    problem(api.http.patch(f"/runs/{rid}", json={"status": "paused"}), 422, "InvalidInput", "status")
    problem(
        api.http.patch(f"/runs/{rid}", json={"metrics": [{"key": "a", "value": 1.0}]}),
        422,
        "InvalidInput",
        "status",
    )
    ended = api.http.patch(
        f"/runs/{rid}",
        json={
            "status": "finished",
            "metrics": [{"key": "auc", "value": 0.91, "step": 5}],
            "params": {"k": 1},
        },
    )
    assert ended.status_code == 200, ended.text
    body = ended.json()
    assert body["status"] == "finished" and body["metrics"] == {"auc": 0.91} and body["end_time"] is not None
    assert api.http.patch(f"/runs/{rid}", json={"status": "finished"}).status_code == 200  # same: no-op
    problem(api.http.patch(f"/runs/{rid}", json={"status": "failed"}), 409, "Conflict", "status")
    problem(api.http.post(f"/runs/{rid}/params", json={"params": {"z": 1}}), 409, "Conflict", "run_id")
    late = {"metrics": [{"key": "late", "value": 1.0}], "allow_ended": True}
    assert api.http.post(f"/runs/{rid}/metrics", json=late).json() == {"logged": 1}
    assert api.http.patch(f"/runs/{rid}", json={"deleted": True}).json()["deleted"] is True
    ids = [r["id"] for r in api.http.post("/runs/search", json={}).json()["runs"]]
    assert rid not in ids
    assert api.http.patch(f"/runs/{rid}", json={"deleted": False}).json()["deleted"] is False


def test_search_filters_orders_and_pages(api: Api) -> None:
    for i in range(5):
        rid = new_run(api, "search", name=f"r{i}", params={"model": "lgbm" if i % 2 else "tree"})["id"]
        api.http.post(f"/runs/{rid}/metrics", json={"metrics": [{"key": "auc", "value": 0.5 + i / 10}]})
    new_run(api, "elsewhere")
    body = {"projects": ["search"], "filter": "metrics.auc > 0.55", "order_by": ["metrics.auc DESC"]}
    page = api.http.post("/runs/search", json={**body, "max_results": 3}).json()
    assert [r["name"] for r in page["runs"]] == ["r4", "r3", "r2"] and page["next_page_token"]
    rest = api.http.post(
        "/runs/search", json={**body, "max_results": 3, "page_token": page["next_page_token"]}
    )
    assert [r["name"] for r in rest.json()["runs"]] == ["r1"] and rest.json()["next_page_token"] is None
    lgbm = api.http.post("/runs/search", json={"filter": "params.model = 'lgbm'"}).json()["runs"]
    assert sorted(r["name"] for r in lgbm) == ["r1", "r3"]
    assert len(api.http.post("/runs/search", json={}).json()["runs"]) == 6
    bad = problem(
        api.http.post("/runs/search", json={"filter": "metrics.auc >"}), 422, "FilterSyntaxError", "filter"
    )
    assert bad["position"] == 13
    problem(api.http.post("/runs/search", json={"max_results": 0}), 422, "InvalidInput", "max_results")
    problem(api.http.post("/runs/search", json={"page_token": "garbage"}), 422, "InvalidInput", "page_token")
    problem(api.http.post("/runs/search", json={"projects": ["nope"]}), 404, "NotFound", "project")


def test_inputs_record_dataset_versions(api: Api, tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("a,b\n1,2\n3,4\n")
    version, _ = api.services.datasets.add(csv, "table", project="demo")
    rid = new_run(api)["id"]
    r = api.http.post(f"/runs/{rid}/inputs", json={"datasets": ["table"], "context": "training"})
    assert r.status_code == 200 and r.json() == [
        {"dataset": "table", "version": 1, "digest": version.digest, "context": "training"}
    ]
    assert api.http.get(f"/runs/{rid}/inputs").json() == r.json()
    problem(api.http.post(f"/runs/{rid}/inputs", json={"datasets": ["table@9"]}), 404, "NotFound", "dataset")
    problem(api.http.post(f"/runs/{rid}/inputs", json={"datasets": []}), 422, "InvalidInput", "datasets")


def test_changes_through_the_server_are_audited_as_the_servers_actor(api: Api) -> None:
    rid = new_run(api)["id"]
    (event,) = [e for e in api.services.audit.log("run", rid) if e.action == "run.create"]
    assert event.actor == "tester"  # the configured actor: authentication is off
