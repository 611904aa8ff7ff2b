"""Users, roles and API tokens through the SDK, on a local workspace and through ``carnet server``
with authentication on (real uvicorn on 127.0.0.1, a server admin's token): the same calls, the
same answers (the auth service's own), the same error classes and fields; through the server a
non-admin token is PermissionDenied (but manages its own tokens) and a revoked one Unauthenticated."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from carnet.client import Client, LocalClient, RemoteClient
from carnet.domain.auth import TokenInfo, User
from carnet.errors import (
    AlreadyExists,
    CarnetError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from carnet.server.api import create_api_app, serve_api_in_thread


@dataclass
class Side:
    """The SDK under test (local, or remote as the server admin ``root``) and the workspace it reaches."""

    kind: str
    client: Any
    workspace: LocalClient
    url: str = ""

    @property
    def auth(self) -> Any:
        return self.workspace.services.auth

    def state(self) -> tuple[Any, ...]:
        """Users, tokens (not when last used: bookkeeping) and the audit ledger's length."""
        tokens = [(t.id, t.user, t.label, t.revoked_at) for t in self.auth.list_tokens()]
        return self.auth.list_users(), tokens, len(self.workspace.audit_log(limit=None))

    def events(self) -> list[str]:
        """The audit actions on users, oldest first."""
        return [e.action for e in reversed(self.workspace.audit_log("user", limit=None))]


def _open(kind: str, tmp: Path) -> Iterator[Side]:
    workspace = Client(str(tmp / "ws"))
    workspace.services.auth.add_user("root", {"*": "admin"})
    secret = workspace.services.auth.create_token("root", "admin")[0]
    if kind == "local":
        try:
            yield Side("local", workspace, workspace)
        finally:
            workspace.close()
        return
    server = serve_api_in_thread(create_api_app(workspace.services, require_auth=True))
    remote = Client(server.url, token=secret)
    try:
        yield Side("remote", remote, workspace, server.url)
    finally:
        remote.close()
        server.stop()
        workspace.close()


@pytest.fixture(params=["local", "remote"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Side]:
    yield from _open(request.param, tmp_path)


@pytest.fixture(scope="module", params=["local", "remote"])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    """A side with the user alice, for calls that must change nothing."""
    for opened in _open(request.param, tmp_path_factory.mktemp(request.param)):
        opened.auth.add_user("alice")
        yield opened


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Side]:
    yield from _open("remote", tmp_path)


def test_the_client_is_the_expected_kind(side: Side) -> None:
    assert isinstance(side.client, RemoteClient if side.kind == "remote" else LocalClient)


# -- users and roles --------------------------------------------------------------------------------
def test_users_are_added_listed_granted_revoked_disabled_and_enabled(side: Side) -> None:
    c, auth = side.client, side.auth
    alice = c.add_user("alice", {"churn": "approver", "*": "viewer"})
    assert isinstance(alice, User) and alice == auth.get_user("alice")
    assert (alice.disabled, alice.roles) == (False, {"churn": "approver", "*": "viewer"})
    bob = c.add_user("bob")
    assert bob == auth.get_user("bob") and bob.roles == {}
    listed = c.list_users()
    assert listed == auth.list_users() and [u.name for u in listed] == ["alice", "bob", "root"]
    assert all(isinstance(u, User) for u in listed)

    assert c.grant_role("bob", "fraud", "editor").roles == {"fraud": "editor"}
    assert c.grant_role("bob", "*", "admin").roles == {"fraud": "editor", "*": "admin"}
    assert c.grant_role("bob", "*", "admin") == auth.get_user("bob")  # the same role again: no change
    assert c.revoke_role("bob", "fraud") == auth.get_user("bob")
    assert auth.get_user("bob").roles == {"*": "admin"}

    disabled = c.disable_user("alice")
    assert disabled.disabled is True and disabled == auth.get_user("alice")
    assert c.disable_user("alice") == disabled  # already disabled: no change
    assert c.enable_user("alice") == auth.get_user("alice") and not auth.get_user("alice").disabled

    assert side.events() == [
        "user.create",  # root and its token, made by the fixture
        "token.create",
        "user.create",
        "user.create",
        "user.role.grant",
        "user.role.grant",
        "user.role.revoke",
        "user.disable",
        "user.enable",
    ]
    if side.kind == "remote":  # the server records the authenticated caller
        assert {e.actor for e in side.workspace.audit_log("user", "bob", limit=None)} == {"root"}


# -- API tokens -------------------------------------------------------------------------------------
def test_a_token_is_given_once_then_listed_and_revoked(side: Side) -> None:
    c, auth = side.client, side.auth
    c.add_user("alice", {"churn": "editor"})
    secret, info = c.create_token("alice", "laptop")
    assert isinstance(info, TokenInfo) and secret.startswith("carnet_") and secret.startswith(info.prefix)
    assert (info.user, info.label, info.revoked_at) == ("alice", "laptop", None)
    assert info == auth.list_tokens("alice")[0]
    assert auth.authenticate(secret).roles == {"churn": "editor"}
    second, other = c.create_token("alice")
    assert other.label == "" and other.id == info.id + 1 and second != secret

    mine = c.list_tokens("alice")
    assert mine == auth.list_tokens("alice") and [t.id for t in mine] == [info.id, other.id]
    assert mine[0].last_used_at is not None  # authenticated once above
    everyone = c.list_tokens()
    assert everyone == auth.list_tokens() and [t.user for t in everyone] == ["root", "alice", "alice"]
    assert secret not in repr(everyone)

    revoked = c.revoke_token(info.id)
    assert isinstance(revoked, TokenInfo) and revoked.revoked_at is not None
    assert revoked == auth.list_tokens("alice")[0]
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate(secret)
    assert auth.authenticate(second).user == "alice"
    assert side.events()[-3:] == ["token.create", "token.create", "token.revoke"]


def test_a_disabled_users_token_cannot_be_made_and_a_token_is_revoked_once(side: Side) -> None:
    c = side.client
    c.add_user("alice")
    _, info = c.create_token("alice")
    c.revoke_token(info.id)
    with pytest.raises(Conflict, match="already revoked") as err:
        c.revoke_token(info.id)
    assert err.value.field == "token"
    c.disable_user("alice")
    with pytest.raises(Conflict, match="enable it first: carnet users enable alice") as err:
        c.create_token("alice")
    assert err.value.field == "user"


# -- mistakes ---------------------------------------------------------------------------------------
MISTAKES: list[tuple[str, Callable[[Any], Any], type[CarnetError], str, str]] = [
    ("taken name", lambda c: c.add_user("alice"), AlreadyExists, "user", "already exists"),
    ("bad name", lambda c: c.add_user("bad name"), InvalidInput, "user", "must be"),
    ("bad role", lambda c: c.add_user("carol", {"churn": "owner"}), InvalidInput, "role", "'owner'"),
    ("bad project", lambda c: c.add_user("carol", {"a b": "viewer"}), InvalidInput, "project", "'a b'"),
    ("roles not a map", lambda c: c.add_user("carol", ["churn"]), InvalidInput, "roles", "map a project"),
    ("disable nobody", lambda c: c.disable_user("nobody"), NotFound, "user", "carnet users list"),
    ("enable a path", lambda c: c.enable_user("a/b"), NotFound, "user", "no user named 'a/b'"),
    ("grant a bad role", lambda c: c.grant_role("alice", "churn", "boss"), InvalidInput, "role", "'boss'"),
    ("grant on a path", lambda c: c.grant_role("alice", "a/b", "viewer"), InvalidInput, "project", "'a/b'"),
    ("grant on nothing", lambda c: c.grant_role("alice", "", "viewer"), InvalidInput, "project", "''"),
    ("grant nobody", lambda c: c.grant_role("nobody", "churn", "viewer"), NotFound, "user", "'nobody'"),
    ("revoke no role", lambda c: c.revoke_role("alice", "churn"), NotFound, "project", "holds no role"),
    ("revoke on a path", lambda c: c.revoke_role("alice", "../x"), InvalidInput, "project", "'../x'"),
    ("tokens of nobody", lambda c: c.list_tokens("nobody"), NotFound, "user", "'nobody'"),
    ("tokens of a path", lambda c: c.list_tokens(".."), NotFound, "user", "no user named '..'"),
    ("token for nobody", lambda c: c.create_token("nobody"), NotFound, "user", "'nobody'"),
    ("long label", lambda c: c.create_token("alice", "x" * 300), InvalidInput, "label", "256 characters"),
    ("unknown token", lambda c: c.revoke_token(99), NotFound, "token", "no API token #99"),
    ("token 0", lambda c: c.revoke_token(0), InvalidInput, "token_id", "whole number >= 1"),
    ("token 2**63", lambda c: c.revoke_token(2**63), InvalidInput, "token_id", "whole number >= 1"),
    ("token as text", lambda c: c.revoke_token("1"), InvalidInput, "token_id", "whole number >= 1"),
]


@pytest.mark.parametrize(
    ("call", "error", "field", "text"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_mistakes_raise_the_same_error_and_change_nothing(
    shared: Side, call: Callable[[Any], Any], error: type[CarnetError], field: str, text: str
) -> None:
    side = shared
    before = side.state()
    with pytest.raises(error) as err:
        call(side.client)
    assert type(err.value) is error and err.value.field == field and text in err.value.message
    assert side.state() == before


# -- through the server only: who may do what -------------------------------------------------------
def test_a_non_admin_token_is_refused_but_manages_its_own_tokens(served: Side) -> None:
    auth = served.auth
    auth.add_user("bob", {"churn": "admin"})  # admin of one project is not a server admin
    secret = auth.create_token("bob", "own")[0]
    root_token = auth.list_tokens("root")[0].id
    before = served.state()
    with Client(served.url, token=secret) as bob:
        refused: list[Callable[[], Any]] = [
            bob.list_users,
            lambda: bob.add_user("eve"),
            lambda: bob.disable_user("root"),
            lambda: bob.enable_user("bob"),
            lambda: bob.grant_role("bob", "*", "admin"),
            lambda: bob.revoke_role("root", "*"),
            bob.list_tokens,
            lambda: bob.list_tokens("root"),
            lambda: bob.create_token("root"),
            lambda: bob.revoke_token(root_token),
        ]
        for call in refused:
            with pytest.raises(PermissionDenied, match=r"needs the admin role on every project") as err:
                call()
            assert err.value.field == "project"
        assert served.state() == before

        own_secret, own = bob.create_token("bob", "second")
        assert own.user == "bob" and auth.authenticate(own_secret).user == "bob"
        assert bob.list_tokens("bob") == auth.list_tokens("bob") and len(bob.list_tokens("bob")) == 2
        assert bob.revoke_token(own.id).revoked_at is not None
    assert auth.list_tokens("root")[0].revoked_at is None


def test_a_revoked_or_missing_token_is_unauthenticated(served: Side) -> None:
    c = served.client
    c.add_user("alice", {"*": "admin"})
    secret, info = c.create_token("alice", "soon revoked")
    other = c.create_token("alice", "kept")[0]
    with Client(served.url, token=secret) as alice:
        assert [u.name for u in alice.list_users()] == ["alice", "root"]
        c.revoke_token(info.id)
        with pytest.raises(Unauthenticated, match="was revoked") as err:
            alice.list_users()
        assert err.value.field == "token"
    with Client(served.url, token=other) as alice:
        assert [t.label for t in alice.list_tokens("alice")] == ["soon revoked", "kept"]
        c.disable_user("alice")
        with pytest.raises(Unauthenticated, match="'alice' is disabled"):
            alice.list_tokens("alice")
    with RemoteClient(served.url, token="") as nobody, pytest.raises(Unauthenticated) as err:
        nobody.list_users()
    assert err.value.field == "authorization"
