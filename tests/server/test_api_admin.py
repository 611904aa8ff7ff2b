"""Administration routes over real HTTP with authentication: users, roles per project and API tokens;
server admins only, except a user's own tokens; a secret appears only in its creation's answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_testkit import Api, problem, running_api

from carnet.bootstrap import open_services

USERS = {"root": {"*": "admin"}, "alice": {"proj-a": "admin"}, "bob": {"proj-a": "viewer"}}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    services = open_services(str(tmp_path / "ws"))
    try:
        with running_api(services, USERS) as api:
            yield api
    finally:
        services.close()


def test_users_and_roles(api: Api) -> None:
    root = api.as_("root")
    r = api.http.post("/users", json={"name": "dave", "roles": {"proj-a": "editor"}}, headers=root)
    assert r.status_code == 201 and r.json() == {**r.json(), "name": "dave", "disabled": False}
    assert r.json()["roles"] == {"proj-a": "editor"}
    assert [u["name"] for u in api.http.get("/users", headers=root).json()] == [
        "alice",
        "bob",
        "dave",
        "root",
    ]
    r = api.http.put("/users/dave/roles/proj-b", json={"role": "approver"}, headers=root)
    assert r.status_code == 200 and r.json()["roles"] == {"proj-a": "editor", "proj-b": "approver"}
    r = api.http.put("/users/dave/roles/*", json={"role": "viewer"}, headers=root)
    assert r.json()["roles"]["*"] == "viewer"
    r = api.http.delete("/users/dave/roles/proj-a", headers=root)
    assert r.status_code == 200 and "proj-a" not in r.json()["roles"]
    problem(api.http.delete("/users/dave/roles/proj-a", headers=root), 404, "NotFound", "project")
    secret = api.http.post("/users/dave/tokens", json={"label": "ci"}, headers=root).json()["token"]
    dave = {"Authorization": f"Bearer {secret}"}
    assert api.http.get("/projects", headers=dave).status_code == 200
    r = api.http.post("/users/dave/disable", headers=root)
    assert r.status_code == 200 and r.json()["disabled"] is True
    problem(api.http.get("/projects", headers=dave), 401, "Unauthenticated", "token")
    problem(api.http.post("/users/dave/tokens", headers=root), 409, "Conflict", "user")
    assert api.http.post("/users/dave/enable", headers=root).json()["disabled"] is False
    assert api.http.get("/projects", headers=dave).status_code == 200
    actions = [e.action for e in api.services.audit.log("user", "dave")]
    assert {"user.create", "user.role.grant", "user.role.revoke", "user.disable", "user.enable"} <= set(
        actions
    )
    assert {e.actor for e in api.services.audit.log("user", "dave")} == {"root"}


def test_user_errors_name_the_field(api: Api) -> None:
    root = api.as_("root")
    problem(api.http.post("/users", json={"name": "alice"}, headers=root), 409, "AlreadyExists", "user")
    problem(api.http.post("/users", json={"name": "no spaces"}, headers=root), 422, "InvalidInput", "user")
    problem(api.http.post("/users", json={}, headers=root), 422, "InvalidInput", "name")
    problem(
        api.http.post("/users", json={"name": "x", "roles": {"p": "god"}}, headers=root),
        422,
        "InvalidInput",
        "role",
    )
    problem(
        api.http.post("/users", json={"name": "x", "roles": {"p": 3}}, headers=root),
        422,
        "InvalidInput",
        "roles.p",
    )
    problem(
        api.http.post("/users", json={"name": "x", "admin": True}, headers=root), 422, "InvalidInput", "admin"
    )
    problem(
        api.http.put("/users/bob/roles/p", json={"role": "god"}, headers=root), 422, "InvalidInput", "role"
    )
    problem(api.http.put("/users/bob/roles/p", json={}, headers=root), 422, "InvalidInput", "role")
    problem(
        api.http.put("/users/bob/roles/bad name", json={"role": "viewer"}, headers=root),
        422,
        "InvalidInput",
        "project",
    )
    problem(
        api.http.put("/users/nobody/roles/p", json={"role": "viewer"}, headers=root), 404, "NotFound", "user"
    )
    problem(api.http.post("/users/nobody/disable", headers=root), 404, "NotFound", "user")
    problem(api.http.get("/users/nobody/tokens", headers=root), 404, "NotFound", "user")
    problem(
        api.http.post("/users/bob/tokens", json={"label": "x" * 300}, headers=root),
        422,
        "InvalidInput",
        "label",
    )
    problem(api.http.delete("/tokens/999999", headers=root), 404, "NotFound", "token")
    problem(api.http.delete("/tokens/abc", headers=root), 422, "InvalidInput", "token_id")
    problem(api.http.delete(f"/tokens/{10**23}", headers=root), 422, "InvalidInput", "token_id")


def test_tokens_secret_shown_once_and_own_tokens(api: Api) -> None:
    root = api.as_("root")
    created = api.http.post("/users/bob/tokens", json={"label": "laptop"}, headers=root)
    assert created.status_code == 201
    body = created.json()
    secret = body["token"]
    assert secret.startswith("carnet_") and secret.startswith(body["prefix"]) and body["user"] == "bob"
    listed = api.http.get("/users/bob/tokens", headers=root)
    assert [t["label"] for t in listed.json()] == ["tests", "laptop"]
    assert secret not in listed.text and api.tokens["bob"] not in listed.text
    assert all("token" not in t for t in listed.json())
    events = api.http.get("/audit/events", params={"subject_type": "user"}, headers=root)
    assert secret not in events.text
    # bob manages his own tokens, and only his
    bob = api.as_("bob")
    own = api.http.post("/users/bob/tokens", headers=bob)
    assert own.status_code == 201 and own.json()["label"] == ""
    assert len(api.http.get("/users/bob/tokens", headers=bob).json()) == 3
    problem(api.http.get("/users/alice/tokens", headers=bob), 403, "PermissionDenied", "project")
    problem(api.http.post("/users/alice/tokens", headers=bob), 403, "PermissionDenied", "project")
    alice_token = api.services.auth.list_tokens("alice")[0].id
    problem(api.http.delete(f"/tokens/{alice_token}", headers=bob), 403, "PermissionDenied", "project")
    revoked = api.http.delete(f"/tokens/{body['id']}", headers=bob)
    assert (
        revoked.status_code == 200
        and revoked.json()["revoked_at"] is not None
        and "token" not in revoked.json()
    )
    problem(
        api.http.get("/projects", headers={"Authorization": f"Bearer {secret}"}),
        401,
        "Unauthenticated",
        "token",
    )
    problem(api.http.delete(f"/tokens/{body['id']}", headers=bob), 409, "Conflict", "token")
    assert api.http.delete(f"/tokens/{alice_token}", headers=root).status_code == 200


def test_administration_needs_admin_on_every_project(api: Api) -> None:
    problem(api.http.get("/users"), 401, "Unauthenticated", "authorization")
    for user in ("alice", "bob"):  # admin of one project is not a server admin
        who = api.as_(user)
        problem(api.http.get("/users", headers=who), 403, "PermissionDenied", "project")
        problem(
            api.http.post("/users", json={"name": "eve"}, headers=who), 403, "PermissionDenied", "project"
        )
        problem(api.http.post("/users/bob/disable", headers=who), 403, "PermissionDenied", "project")
        problem(api.http.post("/users/bob/enable", headers=who), 403, "PermissionDenied", "project")
        problem(
            api.http.put(f"/users/{user}/roles/*", json={"role": "admin"}, headers=who),
            403,
            "PermissionDenied",
            "project",
        )
        problem(api.http.delete("/users/bob/roles/proj-a", headers=who), 403, "PermissionDenied", "project")
    assert api.http.get("/users", headers=api.as_("root")).status_code == 200
    assert api.services.auth.get_user("bob").roles == {"proj-a": "viewer"}
