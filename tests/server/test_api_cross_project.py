"""Writing in one project with a reference to another project's object needs read access there.

Over real HTTP with authentication: ``ed`` edits project ``monitoring`` only; project ``secret``
holds a dataset ``ed`` may not read. Every route that takes a second reference refuses it with 403
(no change, no audit event), and the same call with a reference ``ed`` may read succeeds, so each
test can fail.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from api_testkit import Api, problem, running_api  # noqa: E402
from monitoring_fixtures import MODEL, setup_workspace  # noqa: E402

from carnet import Client  # noqa: E402

USERS = {
    "ed": {"monitoring": "editor"},
    "boss": {"monitoring": "admin"},
    "reader": {"monitoring": "editor", "secret": "viewer"},
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    client = Client(str(tmp_path_factory.mktemp("cross") / "ws"))
    frame, _ = setup_workspace(client)
    client.log_dataframe(frame, "mine", project="monitoring")
    client.log_dataframe(frame.head(300), "theirs", project="secret")
    try:
        with running_api(client.services, USERS) as api:
            api.extra.update(client=client)
            yield api
    finally:
        client.close()


def _events(api: Api) -> int:
    return len(api.extra["client"].audit_log(limit=100_000))


def _refused(api: Api, send: Any, user: str = "ed") -> None:
    before = _events(api)
    body = problem(send(user), 403, "PermissionDenied", "project")
    assert "secret" in body["detail"]
    assert _events(api) == before


def _run(api: Api, user: str) -> str:
    r = api.http.post("/runs", json={"project": "monitoring", "name": "r"}, headers=api.as_(user))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_a_run_cannot_record_another_projects_dataset(api: Api) -> None:
    run = _run(api, "ed")

    def send(user: str, ref: str = "theirs@1") -> Any:
        return api.http.post(f"/runs/{run}/inputs", json={"datasets": [ref]}, headers=api.as_(user))

    _refused(api, send)
    # mixed with a readable one: still refused, nothing recorded
    both = {"datasets": ["mine@1", "theirs@1"]}
    _refused(api, lambda user: api.http.post(f"/runs/{run}/inputs", json=both, headers=api.as_(user)))
    assert api.http.get(f"/runs/{run}/inputs", headers=api.as_("ed")).json() == []
    ok = send("ed", "mine@1")
    assert ok.status_code == 200 and ok.json()[0]["dataset"] == "mine"
    # read access to the other project is enough
    run2 = _run(api, "reader")
    r = api.http.post(f"/runs/{run2}/inputs", json={"datasets": ["theirs@1"]}, headers=api.as_("reader"))
    assert r.status_code == 200, r.text


def _monitor(name: str, reference: str, **over: Any) -> dict[str, Any]:
    return {
        "name": name,
        "model": f"{MODEL}@production",
        "reference": reference,
        "target": "target",
        "window": "50rows",
        **over,
    }


def test_a_monitor_cannot_take_another_projects_dataset_as_reference(api: Api) -> None:
    def send(user: str) -> Any:
        return api.http.post("/monitors", json=_monitor("m-cross", "theirs@1"), headers=api.as_(user))

    _refused(api, send)
    assert api.http.get("/monitors/m-cross", headers=api.as_("ed")).status_code == 404
    r = api.http.post("/monitors", json=_monitor("m-own", "mine@1"), headers=api.as_("ed"))
    assert r.status_code == 201, r.text
    r = api.http.post("/monitors", json=_monitor("m-read", "theirs@1"), headers=api.as_("reader"))
    assert r.status_code == 201, r.text


def test_a_monitor_cannot_retrain_on_another_projects_dataset(api: Api) -> None:
    retrain = {"project": "monitoring", "task": "binary", "dataset": "theirs@1", "target": "target",
               "model": {"name": "logistic_regression"}}  # fmt: skip

    def send(user: str) -> Any:
        spec = _monitor("m-retrain", "mine@1", retrain=retrain)
        return api.http.post("/monitors", json=spec, headers=api.as_(user))

    _refused(api, send)


def test_a_policy_cannot_evaluate_on_another_projects_dataset(api: Api) -> None:
    policy = {"name": "p", "evaluation_data": "theirs@1", "target": "target",
              "gates": [{"type": "metric", "metric": "accuracy", "op": ">=", "value": 0.5}]}  # fmt: skip
    # setting a policy takes admin on the model's project, and read access to the data's project
    put = api.http.put
    _refused(api, lambda user: put(f"/models/{MODEL}/policy", json=policy, headers=api.as_(user)), "boss")
    _refused(api, lambda user: put("/projects/monitoring/policy", json=policy, headers=api.as_(user)), "boss")
    promote = {"version": 1, "alias": "candidate", "dry_run": True, "policy": policy}
    _refused(
        api,
        lambda user: api.http.post(f"/models/{MODEL}/promote", json=promote, headers=api.as_(user)),
        "boss",
    )
    own = {**policy, "evaluation_data": "mine@1"}
    r = api.http.post(f"/models/{MODEL}/promote", json={**promote, "policy": own}, headers=api.as_("boss"))
    assert r.status_code == 200, r.text


def test_drift_between_projects_needs_read_access_to_both(api: Api) -> None:
    body = {"reference": "mine@1", "current": "theirs@1"}
    _refused(api, lambda user: api.http.post("/drift", json=body, headers=api.as_(user)))
    r = api.http.post("/drift", json=body, headers=api.as_("reader"))
    assert r.status_code == 200, r.text
