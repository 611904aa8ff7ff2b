"""Writing in one project with a reference to another project's object needs read access there.

Over real HTTP with authentication: ``ed`` edits project ``monitoring`` only; project ``secret``
holds a dataset ``ed`` may not read. Every route that takes a second reference refuses it with 403
(no change, no audit event), and the same call with a reference ``ed`` may read succeeds, so each
test can fail.
"""

from __future__ import annotations

import json
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
    client.add_encoder("secret-words", "hashing", project="secret")
    runs = {
        "mine": client.train(_spec("mine@1")).run_id,  # a run of monitoring on its own data
        "secret": client.train(_spec("theirs@1", project="secret")).run_id,
        "mixed": client.train(_spec("theirs@1")).run_id,  # made by someone who may read both
    }
    try:
        with running_api(client.services, USERS) as api:
            api.extra.update(client=client, runs=runs)
            yield api
    finally:
        client.close()


def _spec(dataset: str, project: str = "monitoring") -> dict[str, Any]:
    return {"dataset": dataset, "task": "binary", "target": "target", "split": "holdout", "seed": 1,
            "model": {"name": "logistic_regression", "params": {"max_iter": 500}},
            "preprocess": {"scale": "standard"}, "project": project}  # fmt: skip


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


def test_a_run_cannot_have_a_parent_in_another_project(api: Api) -> None:
    parent = api.extra["runs"]["secret"]

    def send(user: str, parent_id: str = parent) -> Any:
        body = {"project": "monitoring", "name": "child", "parent_id": parent_id}
        return api.http.post("/runs", json=body, headers=api.as_(user))

    _refused(api, send)
    r = send("ed", api.extra["runs"]["mine"])
    assert r.status_code == 201 and r.json()["parent_id"] == api.extra["runs"]["mine"], r.text
    # read access to the parent's project: the service's own rule (same project) answers
    problem(send("reader"), 422, "InvalidInput", "parent_id")


def test_a_dataset_cannot_derive_from_another_projects_dataset(api: Api) -> None:
    csv = b"a,b\n1,2\n3,4\n"

    def send(user: str, parent: str = "theirs@1", name: str = "derived") -> Any:
        params = {"project": "monitoring", "parent": parent, "filename": "d.csv"}
        return api.http.post(f"/datasets/{name}", params=params, content=csv, headers=api.as_(user))

    _refused(api, send)
    _refused(api, lambda user: send(user, "theirs"))  # the latest version: its number is not shown
    assert api.http.get("/datasets/derived", headers=api.as_("ed")).status_code == 404
    r = send("ed", "mine@1")
    assert r.status_code == 201 and r.json()["parent"] == "mine@1", r.text
    r = send("reader", "theirs@1", "derived-read")
    assert r.status_code == 201, r.text


def test_a_model_cannot_be_registered_from_another_projects_run(api: Api) -> None:
    runs = api.extra["runs"]

    def send(user: str, run: str = runs["secret"], name: str = MODEL) -> Any:
        return api.http.post(f"/models/{name}/versions", json={"run_id": run}, headers=api.as_(user))

    versions = len(api.http.get(f"/models/{MODEL}/versions", headers=api.as_("ed")).json())
    _refused(api, send)
    _refused(api, lambda user: send(user, name="stolen"))  # a new model goes to the run's project
    assert len(api.http.get(f"/models/{MODEL}/versions", headers=api.as_("ed")).json()) == versions
    r = send("ed", runs["mine"])
    assert r.status_code == 201 and r.json()["run_id"] == runs["mine"], r.text
    r = send("reader", runs["secret"])
    assert r.status_code == 201, r.text


def _trained(r: Any) -> dict[str, Any]:
    """The result of a training stream (it ran: the caller had every role it needs)."""
    from carnet.client.wire_training import read_events

    assert r.status_code == 200, r.text
    return read_events(r.text.splitlines())[1]


def test_training_cannot_read_another_projects_dataset(api: Api) -> None:
    post = api.http.post
    _refused(api, lambda user: post("/train", json={"spec": _spec("theirs@1")}, headers=api.as_(user)))
    assert _trained(post("/train", json={"spec": _spec("mine@1")}, headers=api.as_("ed")))["run_id"]

    def automl(user: str, data: str = "theirs@1") -> Any:
        body = {"data": data, "target": "target", "project": "monitoring", "time_budget": 1}
        return post("/automl", json=body, headers=api.as_(user))

    _refused(api, automl)
    # allowed: the stream starts (what a one-second budget finds does not matter here)
    r = automl("ed", "mine@1")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson"), r.text
    assert json.loads(r.text.splitlines()[0])["event"] == "started"


def test_evaluation_cannot_read_another_projects_dataset(api: Api) -> None:
    run = api.extra["runs"]["mine"]

    def send(user: str, data: str = "theirs@1") -> Any:
        return api.http.post(f"/runs/{run}/evaluate", json={"data": data}, headers=api.as_(user))

    _refused(api, send)
    assert _trained(send("ed", "mine@1"))["run_id"] != run
    assert _trained(send("reader"))["run_id"] != run


def test_reproduction_cannot_read_another_projects_dataset(api: Api) -> None:
    runs = api.extra["runs"]

    def send(user: str, run: str = runs["mixed"]) -> Any:
        return api.http.post(f"/runs/{run}/reproduce", json={}, headers=api.as_(user))

    _refused(api, send)
    assert _trained(send("ed", runs["mine"]))["run_id"] == runs["mine"]
    assert _trained(send("reader"))["run_id"] == runs["mixed"]


def _run_with_spec(api: Api, text: str, *, end: bool = True) -> str:
    """A run of ``ed``'s with a ``spec.yaml`` artifact of their own writing (ended: frozen)."""
    run = _run(api, "ed")
    r = api.http.put(f"/runs/{run}/artifacts/spec.yaml", content=text.encode(), headers=api.as_("ed"))
    assert r.status_code == 201, r.text
    if end:
        r = api.http.patch(f"/runs/{run}", json={"status": "finished"}, headers=api.as_("ed"))
        assert r.status_code == 200, r.text
    return run


def test_a_hand_written_spec_cannot_reach_another_project(api: Api) -> None:
    import yaml

    def reproduce(run: str) -> Any:
        return lambda user: api.http.post(f"/runs/{run}/reproduce", json={}, headers=api.as_(user))

    _refused(api, reproduce(_run_with_spec(api, yaml.safe_dump(_spec("theirs@1")))))
    # a spec that trains in another project needs the editor role there
    _refused(api, reproduce(_run_with_spec(api, yaml.safe_dump(_spec("mine@1", project="secret")))))
    # a spec that is a file name is never read as one
    for text in ("/etc/hostname.yaml", "spec.yaml"):
        run = _run_with_spec(api, text)
        problem(reproduce(run)("ed"), 422, "InvalidInput", "run_id")
        r = api.http.post(f"/runs/{run}/evaluate", json={"data": "mine@1"}, headers=api.as_("ed"))
        problem(r, 422, "InvalidInput", "run_id")
    # a running run's spec could still be replaced after the checks: it is reproduced once ended
    running = _run_with_spec(api, yaml.safe_dump(_spec("mine@1")), end=False)
    problem(reproduce(running)("ed"), 409, "Conflict", "run_id")
    # the same spec on the caller's own data reproduces
    run = _run_with_spec(api, yaml.safe_dump(_spec("mine@1")))
    assert _trained(reproduce(run)("ed"))["run_id"] == run


def test_a_monitor_cannot_retrain_in_another_project(api: Api) -> None:
    def send(user: str, name: str = "m-retrain-there", project: str = "secret") -> Any:
        spec = _monitor(name, "mine@1", retrain=_spec("mine@1", project=project))
        return api.http.post("/monitors", json=spec, headers=api.as_(user))

    _refused(api, send)
    _refused(api, send, "reader")  # reading the project is not enough to write runs there
    r = send("ed", "m-retrain-here", "monitoring")
    assert r.status_code == 201, r.text


def test_an_encoder_of_another_project_cannot_get_a_version_from_outside(api: Api) -> None:
    def send(user: str, name: str = "secret-words", project: str = "monitoring") -> Any:
        body = {"name": name, "encoder": "hashing", "project": project}
        return api.http.post("/encoders", json=body, headers=api.as_(user))

    before = _events(api)
    problem(send("ed"), 403, "PermissionDenied", "project")  # the encoder lives in secret
    problem(send("reader"), 403, "PermissionDenied", "project")  # viewer there is not editor
    assert _events(api) == before
    assert [v.version for v in api.extra["client"].services.registry.versions("secret-words")] == [1]
    r = send("ed", name="my-words")
    assert r.status_code == 201 and r.json()["name"] == "my-words", r.text


def test_embedding_with_another_projects_encoder_needs_read_access_there(api: Api) -> None:
    column = next(iter(api.extra["client"].get_dataset("mine@1").schema)).name

    def send(user: str, encoder: str = "secret-words") -> Any:
        body = {"encoder": encoder, "data": "mine@1", "column": column}
        return api.http.post("/embed", json=body, headers=api.as_(user))

    _refused(api, send)
    assert send("reader").status_code == 200  # viewer on secret is enough to use its encoder
    r = send("ed", "hashing")  # an installed encoder belongs to no project
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.parquet", r.text
