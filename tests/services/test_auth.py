"""Users, API tokens and roles end to end on SQLite and PostgreSQL: hashed tokens, authentication,
role checks, audit events without secrets, and the approval gate over authenticated approvers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from carnet import Client
from carnet.domain.audit_digests import token_check
from carnet.domain.auth import Principal
from carnet.errors import (
    AlreadyExists,
    Conflict,
    GateFailed,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from carnet.services import Services
from carnet.services.auth import AuthService
from carnet.store.sql import tables as t
from conftest import Workspace


class Clock:
    """A settable clock for the services."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ws(workspace: Workspace) -> Iterator[Client]:
    client = workspace.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def clock(ws: Client) -> Clock:
    c = Clock()
    ws.services.ctx.clock = c
    return c


@pytest.fixture
def auth(ws: Client, clock: Clock) -> AuthService:
    return ws.services.auth


def _token_rows(ws: Client) -> list[Any]:
    with ws.services.ctx.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return list(conn.execute(select(t.api_tokens).order_by(t.api_tokens.c.id)))


def _events(ws: Client, subject_type: str = "user") -> list[Any]:
    return list(reversed(ws.audit_log(subject_type, limit=None)))


def as_user(ws: Client, principal: Principal) -> Services:
    """The workspace's services acting for an authenticated caller (as a server does per request)."""
    return Services(replace(ws.services.ctx, principal=principal))


# -- users and roles ------------------------------------------------------------------------------


def test_users_are_created_listed_and_validated(auth: AuthService, clock: Clock) -> None:
    alice = auth.add_user("alice@example.com", {"churn": "approver", "*": "viewer"})
    assert (alice.name, alice.disabled, alice.created_at) == ("alice@example.com", False, clock.now)
    assert alice.roles == {"churn": "approver", "*": "viewer"}
    auth.add_user("bob")
    assert [(u.name, u.roles) for u in auth.list_users()] == [
        ("alice@example.com", {"*": "viewer", "churn": "approver"}),
        ("bob", {}),
    ]
    assert auth.get_user("bob").roles == {}
    with pytest.raises(AlreadyExists, match="already exists"):
        auth.add_user("bob")
    for name in ("", "bad name", "-x", "x" * 129, "a/b"):
        with pytest.raises(InvalidInput) as err:
            auth.add_user(name)
        assert err.value.field == "user"
    with pytest.raises(InvalidInput) as err:
        auth.add_user("carol", {"churn": "owner"})
    assert err.value.field == "role" and "viewer, editor, approver, admin" in err.value.message
    with pytest.raises(InvalidInput) as err:
        auth.add_user("carol", {"bad project": "viewer"})
    assert err.value.field == "project"
    assert [u.name for u in auth.list_users()] == ["alice@example.com", "bob"]  # nothing half-made
    with pytest.raises(NotFound, match="carnet users list"):
        auth.get_user("nobody")


def test_grant_replaces_and_revoke_removes_a_role(ws: Client, auth: AuthService) -> None:
    auth.add_user("alice")
    assert auth.grant("alice", "churn", "editor").roles == {"churn": "editor"}
    assert auth.grant("alice", "churn", "admin").roles == {"churn": "admin"}
    assert auth.grant("alice", "churn", "admin").roles == {"churn": "admin"}  # unchanged: no event
    assert auth.grant("alice", "*", "viewer").roles == {"churn": "admin", "*": "viewer"}
    assert auth.revoke_role("alice", "churn").roles == {"*": "viewer"}
    with pytest.raises(NotFound, match="holds no role on project 'churn'"):
        auth.revoke_role("alice", "churn")
    with pytest.raises(NotFound):
        auth.grant("nobody", "churn", "viewer")
    with pytest.raises(InvalidInput) as err:
        auth.grant("alice", "churn", "superuser")
    assert err.value.field == "role"
    grants = [e.payload for e in _events(ws) if e.action == "user.role.grant"]
    assert grants == [
        {"project": "churn", "role": "editor", "previous": None},
        {"project": "churn", "role": "admin", "previous": "editor"},
        {"project": "*", "role": "viewer", "previous": None},
    ]
    assert [e.payload for e in _events(ws) if e.action == "user.role.revoke"] == [
        {"project": "churn", "previous": "admin"}
    ]


# -- tokens ---------------------------------------------------------------------------------------


def test_a_token_is_shown_once_and_only_its_hash_is_stored(ws: Client, auth: AuthService) -> None:
    auth.add_user("alice")
    secret, info = auth.create_token("alice", "laptop")
    other, _ = auth.create_token("alice")
    assert secret.startswith("carnet_") and len(secret) >= 7 + 43 and secret != other
    assert (info.user, info.label, info.revoked_at, info.last_used_at) == ("alice", "laptop", None, None)
    assert info.prefix == secret[:15] and "secret" not in info.to_dict()
    row = _token_rows(ws)[0]
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.prefix == secret[:15]
    assert all(secret not in str(value) for value in row)  # the secret itself is nowhere
    listed = auth.list_tokens("alice")
    assert [tok.id for tok in listed] == [info.id, info.id + 1]
    assert all(secret not in json.dumps(tok.to_dict()) for tok in listed)
    assert auth.list_tokens() == listed
    with pytest.raises(NotFound):
        auth.list_tokens("nobody")
    with pytest.raises(NotFound):
        auth.create_token("nobody")
    with pytest.raises(InvalidInput) as err:
        auth.create_token("alice", "x" * 257)
    assert err.value.field == "label"


def test_authenticate_ok_unknown_revoked_and_disabled(ws: Client, auth: AuthService, clock: Clock) -> None:
    auth.add_user("alice", {"churn": "approver"})
    secret, info = auth.create_token("alice")
    principal = auth.authenticate(secret)
    assert principal == Principal("alice", {"churn": "approver"}, info.id)

    for missing in (None, ""):
        with pytest.raises(Unauthenticated, match="no API token given"):
            auth.authenticate(missing)
    for wrong in ("carnet_" + "A" * 43, secret[:-1], secret + "x", "nonsense"):
        with pytest.raises(Unauthenticated, match="unknown API token") as err:
            auth.authenticate(wrong)
        assert wrong not in err.value.message

    auth.disable_user("alice")
    with pytest.raises(Unauthenticated, match="user 'alice' is disabled"):
        auth.authenticate(secret)
    with pytest.raises(Conflict, match="disabled"):
        auth.create_token("alice")
    assert auth.disable_user("alice").disabled  # already disabled: unchanged, no event
    assert auth.enable_user("alice").disabled is False
    assert auth.authenticate(secret).user == "alice"

    revoked = auth.revoke_token(info.id)
    assert revoked.revoked_at == clock.now
    with pytest.raises(Unauthenticated, match="was revoked") as err:
        auth.authenticate(secret)
    assert isinstance(err.value, PermissionDenied) and secret not in err.value.message
    with pytest.raises(Conflict, match="already revoked"):
        auth.revoke_token(info.id)
    with pytest.raises(NotFound, match="carnet tokens list"):
        auth.revoke_token(info.id + 100)
    actions = [e.action for e in _events(ws)]
    assert actions == ["user.create", "token.create", "user.disable", "user.enable", "token.revoke"]


def test_last_use_is_written_at_most_once_a_minute(ws: Client, auth: AuthService, clock: Clock) -> None:
    auth.add_user("alice")
    secret, _ = auth.create_token("alice")
    first = clock.now
    auth.authenticate(secret)
    assert _token_rows(ws)[0].last_used_at == first
    clock.now += 59
    auth.authenticate(secret)
    assert _token_rows(ws)[0].last_used_at == first
    clock.now += 1
    auth.authenticate(secret)
    assert _token_rows(ws)[0].last_used_at == first + 60
    assert auth.list_tokens()[0].last_used_at == first + 60
    assert [e.action for e in _events(ws)] == ["user.create", "token.create"]  # use is not audited


def test_audit_events_never_hold_a_secret_or_its_hash(ws: Client, auth: AuthService) -> None:
    auth.add_user("alice", {"*": "viewer"})
    secret, info = auth.create_token("alice", "ci")
    auth.revoke_token(info.id)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    events = ws.audit_log(limit=None)
    assert {e.action for e in events} >= {"user.create", "token.create", "token.revoke"}
    text = json.dumps([e.payload for e in events])
    assert secret not in text and digest not in text and secret[7:15] not in text
    created = next(e for e in events if e.action == "token.create")
    assert (created.subject_type, created.subject_id, created.payload) == (
        "user",
        "alice",
        # a one-way check of the stored hash (audit verify --deep finds a replaced hash), not the hash
        {"token_id": info.id, "label": "ci", "hash_check": token_check(digest)},
    )
    assert ws.verify_audit().ok


# -- roles and the actor ---------------------------------------------------------------------------


def test_roles_are_ordered_and_star_covers_every_project(auth: AuthService) -> None:
    auth.add_user("alice", {"*": "viewer", "churn": "approver"})
    auth.add_user("root", {"*": "admin"})
    alice = auth.authenticate(auth.create_token("alice")[0])
    root = auth.authenticate(auth.create_token("root")[0])
    for role in ("viewer", "editor", "approver"):
        auth.require(alice, "churn", role)
    auth.require(alice, "fraud", "viewer")
    auth.require(alice, None, "viewer")
    with pytest.raises(PermissionDenied) as err:
        auth.require(alice, "churn", "admin")
    assert not isinstance(err.value, Unauthenticated)
    assert "admin role on project 'churn'" in err.value.message and "has approver" in err.value.message
    with pytest.raises(PermissionDenied, match=r"editor role on project 'fraud'.*has viewer"):
        auth.require(alice, "fraud", "editor")
    with pytest.raises(PermissionDenied, match=r"every project \('\*'\)"):
        auth.require(alice, None, "editor")
    with pytest.raises(InvalidInput, match="unknown role 'owner'"):
        auth.require(alice, "churn", "owner")
    for project in ("churn", "anything", None):
        auth.require(root, project, "admin")
    assert root.is_admin and not alice.is_admin


def test_changes_made_by_a_principal_are_recorded_under_its_name(ws: Client, auth: AuthService) -> None:
    auth.add_user("root", {"*": "admin"})
    root = auth.authenticate(auth.create_token("root")[0])
    services = as_user(ws, root)
    assert services.ctx.actor == "root" and ws.services.ctx.actor == "tester"
    services.auth.add_user("bob")
    actors = {e.payload.get("name"): e.actor for e in _events(ws) if e.action == "user.create"}
    assert actors == {"root": "tester", "bob": "root"}
    assert next(u for u in auth.list_users() if u.name == "bob").roles == {}


# -- the approval gate over authenticated approvers -----------------------------------------------

POLICY = {
    "name": "two-people",
    "aliases": ["production"],
    "gates": [{"type": "approval", "required": 2, "authenticated_only": True}],
}


@pytest.fixture
def model(ws: Client) -> str:
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    ws.log_model(LogisticRegression().fit(x, [0, 1, 0, 1]), "churn", x, task="binary")
    ws.set_policy(POLICY, model="churn")
    return "churn"


def _approval_details(ws: Client, name: str) -> dict[str, Any]:
    result = ws.promote(name, 1, "production", dry_run=True)
    (gate,) = result.results
    return {"passed": gate.passed, "measured": gate.measured, **gate.details}


def test_the_gate_counts_only_distinct_authenticated_approvers(
    ws: Client, auth: AuthService, model: str
) -> None:
    for name in ("alice", "bob"):
        auth.add_user(name, {"*": "approver"})
    alice = auth.authenticate(auth.create_token("alice")[0])
    bob = auth.authenticate(auth.create_token("bob")[0])

    local = ws.approve(model, 1, comment="looks fine")  # the configured actor, not authenticated
    assert (local.actor, local.authenticated) == ("tester", False)
    signed = as_user(ws, alice).registry.approve(model, 1, "production", "reviewed")
    assert (signed.actor, signed.authenticated) == ("alice", True)
    with pytest.raises(AlreadyExists, match="alice already approved"):
        as_user(ws, alice).registry.approve(model, 1, "production", "again")

    details = _approval_details(ws, model)
    assert not details["passed"] and details["measured"] == "1 of 2"
    assert [a["actor"] for a in details["approvers"]] == ["alice"]
    assert [(a["actor"], a["reason"]) for a in details["ignored"]] == [("tester", "not authenticated")]
    with pytest.raises(GateFailed):
        ws.promote(model, 1, "production")

    as_user(ws, bob).registry.approve(model, 1, "production")
    stored = {a.actor: a.authenticated for a in ws.services.registry.approvals(model, 1, "production")}
    assert stored == {"tester": False, "alice": True, "bob": True}
    details = _approval_details(ws, model)
    assert details["passed"] and details["measured"] == "2 of 2"
    assert ws.promote(model, 1, "production").applied

    events = [e for e in ws.audit_log("model", limit=None) if e.action == "model.approve"]
    assert sorted((e.actor, e.payload["authenticated"]) for e in events) == [
        ("alice", True),
        ("bob", True),
        ("tester", False),
    ]


def test_an_authenticated_approval_confirms_the_same_persons_unauthenticated_one(
    ws: Client, workspace: Workspace, auth: AuthService, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth.add_user("alice", {"*": "approver"})
    alice = auth.authenticate(auth.create_token("alice")[0])
    monkeypatch.setenv("CARNET_USER", "alice")
    with workspace.client() as claimed:
        first = claimed.approve(model, 1, comment="from my laptop")
    assert (first.actor, first.authenticated) == ("alice", False)
    assert _approval_details(ws, model)["measured"] == "0 of 2"

    signed = as_user(ws, alice).registry.approve(model, 1, "production", "reviewed")
    assert (signed.actor, signed.authenticated) == ("alice", True)
    stored = ws.services.registry.approvals(model, 1, "production")
    assert [(a.actor, a.authenticated, a.comment) for a in stored] == [("alice", True, "reviewed")]
    assert _approval_details(ws, model)["measured"] == "1 of 2"
    with pytest.raises(AlreadyExists, match="alice already approved"):
        as_user(ws, alice).registry.approve(model, 1, "production", "again")
    with pytest.raises(AlreadyExists, match="alice already approved"), workspace.client() as claimed:
        claimed.approve(model, 1)
    events = [e for e in ws.audit_log("model", limit=None) if e.action == "model.approve"]
    assert [(e.payload["authenticated"], e.payload["confirms_unauthenticated"]) for e in events] == [
        (True, True),
        (False, False),
    ]


def test_without_authenticated_only_local_approvals_count(ws: Client, model: str) -> None:
    ws.set_policy({**POLICY, "gates": [{"type": "approval", "required": 1}]}, model=model)
    ws.approve(model, 1)
    assert _approval_details(ws, model)["passed"]
