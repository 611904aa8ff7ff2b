"""Authentication and per-project roles over real HTTP: bearer tokens, 401 with a Bearer challenge,
403 naming the project, lists filtered to readable projects, and audit events recording the
authenticated user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_testkit import Api, problem, running_api

from carnet.bootstrap import open_services

USERS = {
    "root": {"*": "admin"},
    "alice": {"proj-a": "editor"},
    "bob": {"proj-a": "viewer"},
    "carol": {"proj-a": "approver"},
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    services = open_services(str(tmp_path / "ws"))
    try:
        with running_api(services, USERS) as api:
            yield api
    finally:
        services.close()


def new_run(api: Api, user: str, project: str = "proj-a") -> str:
    r = api.http.post("/runs", json={"project": project}, headers=api.as_(user))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_missing_or_bad_credentials_get_401_with_a_bearer_challenge(api: Api) -> None:
    for headers in ({}, {"Authorization": "Basic cm9vdDpyb290"}, {"Authorization": "Bearer"}):
        r = api.http.get("/projects", headers=headers)
        problem(r, 401, "Unauthenticated", "authorization")
        assert r.headers["www-authenticate"].startswith("Bearer")
    wrong = api.http.get("/projects", headers={"Authorization": "Bearer carnet_not-a-real-token"})
    problem(wrong, 401, "Unauthenticated", "token")
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    problem(api.http.put("/runs/x/artifacts/a.txt", content=b"data"), 401, "Unauthenticated", "authorization")
    assert httpx.get(f"{api.url}/healthz").status_code == 200
    assert httpx.get(f"{api.url}/api/v1/openapi.json").status_code == 200
    token_id = api.services.auth.list_tokens("alice")[0].id
    assert api.http.get("/projects", headers=api.as_("alice")).status_code == 200
    api.services.auth.revoke_token(token_id)
    problem(api.http.get("/projects", headers=api.as_("alice")), 401, "Unauthenticated", "token")


def test_every_change_records_the_authenticated_user(api: Api) -> None:
    rid = new_run(api, "alice")
    metrics = {"metrics": [{"key": "auc", "value": 0.9}]}
    assert api.http.post(f"/runs/{rid}/metrics", json=metrics, headers=api.as_("alice")).status_code == 200
    assert (
        api.http.put(f"/runs/{rid}/artifacts/a.txt", content=b"x", headers=api.as_("alice")).status_code
        == 201
    )
    events = api.http.get(
        "/audit/events", params={"subject_type": "run", "subject_id": rid}, headers=api.as_("root")
    ).json()
    assert {e["action"] for e in events} == {"run.create", "run.log_metrics", "run.log_artifacts"}
    assert {e["actor"] for e in events} == {"alice"}
    (project,) = [e for e in api.services.audit.log("project", "proj-a") if e.action == "project.create"]
    assert project.actor == "alice"
    verified = api.http.get("/audit/verify", headers=api.as_("root")).json()
    assert verified["ok"] is True and verified["count"] >= 3


def test_roles_are_checked_on_the_project_the_request_touches(api: Api) -> None:
    rid = new_run(api, "alice")
    other = new_run(api, "root", "proj-b")
    denied = problem(
        api.http.post("/runs", json={"project": "proj-b"}, headers=api.as_("alice")),
        403,
        "PermissionDenied",
        "project",
    )
    assert "editor" in denied["detail"] and "proj-b" in denied["detail"]
    assert api.http.get(f"/runs/{rid}", headers=api.as_("bob")).status_code == 200
    problem(api.http.get(f"/runs/{other}", headers=api.as_("bob")), 403, "PermissionDenied", "project")
    write = {"metrics": [{"key": "auc", "value": 0.1}]}
    problem(
        api.http.post(f"/runs/{rid}/metrics", json=write, headers=api.as_("bob")),
        403,
        "PermissionDenied",
        "project",
    )
    problem(
        api.http.put(f"/runs/{rid}/artifacts/a.txt", content=b"x", headers=api.as_("bob")),
        403,
        "PermissionDenied",
        "project",
    )
    problem(
        api.http.patch(f"/runs/{rid}", json={"status": "killed"}, headers=api.as_("bob")),
        403,
        "PermissionDenied",
        "project",
    )
    assert [p["name"] for p in api.http.get("/projects", headers=api.as_("bob")).json()] == ["proj-a"]
    assert sorted(p["name"] for p in api.http.get("/projects", headers=api.as_("root")).json()) == [
        "proj-a",
        "proj-b",
    ]
    found = api.http.post("/runs/search", json={}, headers=api.as_("bob")).json()["runs"]
    assert [r["id"] for r in found] == [rid]
    problem(
        api.http.post("/runs/search", json={"projects": ["proj-b"]}, headers=api.as_("bob")),
        403,
        "PermissionDenied",
        "project",
    )
    problem(api.http.get("/audit/events", headers=api.as_("alice")), 403, "PermissionDenied", "project")
    problem(api.http.get("/audit/verify", headers=api.as_("bob")), 403, "PermissionDenied", "project")
    assert api.services.tracking.get_run(rid).status.value == "running"


def test_datasets_follow_their_projects_role(api: Api) -> None:
    csv = b"a,b\n1,2\n3,4\n"
    r = api.http.post(
        "/datasets/table",
        content=csv,
        params={"filename": "t.csv", "project": "proj-a"},
        headers=api.as_("alice"),
    )
    assert r.status_code == 201, r.text
    problem(
        api.http.post(
            "/datasets/table", content=csv + b"5,6\n", params={"filename": "t.csv"}, headers=api.as_("bob")
        ),
        403,
        "PermissionDenied",
        "project",
    )
    # an existing dataset stays in its project: the role is checked there, whatever is asked for
    again = api.http.post(
        "/datasets/table",
        content=csv + b"5,6\n",
        params={"filename": "t.csv", "project": "x"},
        headers=api.as_("alice"),
    )
    assert again.status_code == 201 and again.json()["project"] == "proj-a"
    root_csv = {"filename": "s.csv", "project": "proj-b"}
    assert (
        api.http.post("/datasets/secret", content=csv, params=root_csv, headers=api.as_("root")).status_code
        == 201
    )
    assert [d["name"] for d in api.http.get("/datasets", headers=api.as_("bob")).json()] == ["table"]
    assert api.http.get("/datasets/table/file", headers=api.as_("bob")).content == csv + b"5,6\n"
    problem(api.http.get("/datasets/secret/file", headers=api.as_("bob")), 403, "PermissionDenied", "project")
    problem(api.http.get("/datasets/secret@1", headers=api.as_("bob")), 403, "PermissionDenied", "project")


def test_approvals_need_approver_and_alias_moves_need_admin(api: Api) -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    model = LogisticRegression().fit(frame, [0, 0, 1, 1])
    api.services.registry.register_object(model, "clf", frame, project="proj-a", task="binary")
    problem(
        api.http.post("/models/clf/versions/1/approvals", json={}, headers=api.as_("alice")),
        403,
        "PermissionDenied",
        "project",
    )
    ok = api.http.post("/models/clf/versions/1/approvals", json={"comment": "fine"}, headers=api.as_("carol"))
    assert ok.status_code == 201 and (ok.json()["actor"], ok.json()["authenticated"]) == ("carol", True)
    problem(
        api.http.put("/models/clf/aliases/production", json={"version": 1}, headers=api.as_("carol")),
        403,
        "PermissionDenied",
        "project",
    )
    problem(
        api.http.post("/models/clf/rollback", json={"reason": "x"}, headers=api.as_("carol")),
        403,
        "PermissionDenied",
        "project",
    )
    moved = api.http.put("/models/clf/aliases/production", json={"version": 1}, headers=api.as_("root"))
    assert moved.status_code == 200
    (event,) = api.services.audit.log("model", "clf", action="model.alias.set")
    assert event.actor == "root"
    assert api.http.get("/models/clf@production", headers=api.as_("bob")).json()["version"] == 1
    assert [m["name"] for m in api.http.get("/models", headers=api.as_("bob")).json()] == ["clf"]
