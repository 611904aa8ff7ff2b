"""carnet users / carnet tokens on a real workspace, and with CARNET_URI naming a live ``carnet server``
(authentication on, CARNET_TOKEN a server admin's token): the same output and --json, the secret
shown once, one-line errors with exit code 2 (a non-admin or revoked token included)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from carnet import Client
from carnet.cli.main import cli
from carnet.client import LocalClient
from carnet.errors import Unauthenticated
from carnet.server.api import create_api_app, serve_api_in_thread


@dataclass
class Target:
    """Where the commands go: a workspace folder (``--uri``), or a server in front of it (CARNET_URI,
    with the token of the server admin ``root``). Both hold ``root`` and its token (#1)."""

    kind: str
    path: str
    workspace: LocalClient
    root_token: str
    url: str = ""

    def run(self, *args: str, code: int = 0, token: str | None = None) -> Result:
        """``carnet ARGS`` on this target (``token`` replaces the admin's on a server)."""
        env: dict[str, str | None] = {"CARNET_URI": None, "CARNET_TOKEN": None, "CARNET_ARTIFACTS": None}
        argv = list(args)
        if self.kind == "remote":
            env.update(CARNET_URI=self.url, CARNET_TOKEN=self.root_token if token is None else token)
        else:
            argv = ["--uri", self.path, *argv]
        result = CliRunner().invoke(cli, argv, env=env)
        assert result.exit_code == code, result.output
        return result

    def invoke(self, *args: str, code: int = 0, token: str | None = None) -> str:
        return self.run(*args, code=code, token=token).output


@contextmanager
def open_target(kind: str, tmp: Path) -> Iterator[Target]:
    path = str(tmp / "ws")
    workspace = Client(path, create=True)
    workspace.services.auth.add_user("root", {"*": "admin"})
    secret = workspace.services.auth.create_token("root", "admin")[0]
    server = None
    try:
        if kind == "remote":
            server = serve_api_in_thread(create_api_app(workspace.services, require_auth=True))
        yield Target(kind, path, workspace, secret, server.url if server is not None else "")
    finally:
        if server is not None:
            server.stop()
        workspace.close()


@pytest.fixture(params=["local", "remote"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    with open_target(request.param, tmp_path) as t:
        yield t


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Target]:
    with open_target("remote", tmp_path) as t:
        yield t


def invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_users_add_list_grant_revoke_disable_enable(target: Target) -> None:
    t = target
    added = json.loads(
        t.invoke("users", "add", "alice", "--role", "churn=approver", "--role", "*=viewer", "--json")
    )
    assert added["name"] == "alice" and added["disabled"] is False
    assert added["roles"] == {"churn": "approver", "*": "viewer"}
    assert t.invoke("users", "add", "bob") == "created user bob (enabled)  roles -\n"

    listed = json.loads(t.invoke("users", "list", "--json"))
    assert [(u["name"], u["roles"]) for u in listed] == [
        ("alice", {"*": "viewer", "churn": "approver"}),
        ("bob", {}),
        ("root", {"*": "admin"}),
    ]
    assert listed == [u.to_dict() for u in t.workspace.services.auth.list_users()]
    table = t.invoke("users", "list")
    assert "alice" in table and "churn=approver" in table and "enabled" in table

    granted = json.loads(t.invoke("users", "grant", "bob", "fraud", "editor", "--json"))
    assert granted["roles"] == {"fraud": "editor"}
    assert (
        t.invoke("users", "grant", "bob", "*", "admin") == "user bob (enabled)  roles *=admin, fraud=editor\n"
    )
    revoked = json.loads(t.invoke("users", "revoke", "bob", "fraud", "--json"))
    assert revoked["roles"] == {"*": "admin"}

    assert json.loads(t.invoke("users", "disable", "alice", "--json"))["disabled"] is True
    assert t.invoke("users", "disable", "alice") == "user alice (disabled)  roles *=viewer, churn=approver\n"
    assert t.invoke("users", "enable", "alice") == "user alice (enabled)  roles *=viewer, churn=approver\n"

    events = list(reversed(t.workspace.audit_log("user", limit=None)))[2:]  # after root and its token
    assert [e.action for e in events] == [
        "user.create",
        "user.create",
        "user.role.grant",
        "user.role.grant",
        "user.role.revoke",
        "user.disable",
        "user.enable",
    ]
    if t.kind == "remote":  # the server records the token's user
        assert {e.actor for e in events} == {"root"}


def test_a_token_is_printed_once_then_listed_and_revoked(target: Target) -> None:
    t, auth = target, target.workspace.services.auth
    t.invoke("users", "add", "alice", "--role", "churn=editor")
    created = t.run("tokens", "create", "alice", "--label", "laptop")
    secret = created.stdout.strip()
    assert created.stdout == secret + "\n" and secret.startswith("carnet_")  # alone on stdout
    assert created.stderr == (
        "API token #2 for alice (laptop):\nCopy it now: it cannot be shown again (only its hash is stored).\n"
    )

    as_json = json.loads(t.invoke("tokens", "create", "alice", "--json"))
    assert set(as_json) == {"token", "id", "user", "label"}
    assert (as_json["id"], as_json["user"], as_json["label"]) == (3, "alice", "")
    assert auth.authenticate(secret).roles == {"churn": "editor"}
    assert auth.authenticate(as_json["token"]).token_id == 3

    listed = t.invoke("tokens", "list", "--json")
    assert secret not in listed and as_json["token"] not in listed
    tokens = json.loads(listed)
    assert [(x["id"], x["user"], x["label"], x["revoked_at"]) for x in tokens] == [
        (1, "root", "admin", None),
        (2, "alice", "laptop", None),
        (3, "alice", "", None),
    ]
    assert tokens[1]["prefix"] == secret[:15] and tokens[1]["last_used_at"] is not None
    assert json.loads(t.invoke("tokens", "list", "alice", "--json")) == tokens[1:]
    table = t.invoke("tokens", "list")
    assert "laptop" in table and "active" in table and secret not in table

    assert t.invoke("tokens", "revoke", "2") == "revoked API token #2 of alice\n"
    assert json.loads(t.invoke("tokens", "revoke", "3", "--json"))["revoked_at"] is not None
    with pytest.raises(Unauthenticated, match="revoked"):
        auth.authenticate(secret)
    assert "revoked" in t.invoke("tokens", "list", "alice")


@pytest.fixture(scope="module", params=["local", "remote"])
def with_alice(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A target holding alice, for commands that must fail and change nothing."""
    with open_target(request.param, tmp_path_factory.mktemp(request.param)) as t:
        t.workspace.services.auth.add_user("alice")
        yield t


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "add", "bad name"), "user name 'bad name' must be"),
        (("users", "add", "carol", "--role", "churn"), "write PROJECT=ROLE"),
        (("users", "add", "carol", "--role", "churn=owner"), "unknown role 'owner'; choose among viewer"),
        (("users", "add", "carol", "--role", "a=viewer", "--role", "a=editor"), "given twice"),
        (("users", "add", "alice"), "user 'alice' already exists"),
        (("users", "disable", "nobody"), "no user named 'nobody'; list them with: carnet users list"),
        (("users", "enable", "a/b"), "no user named 'a/b'; list them with: carnet users list"),
        (("users", "grant", "alice", "churn", "boss"), "unknown role 'boss'"),
        (("users", "grant", "alice", "bad project", "viewer"), "invalid project 'bad project'"),
        (("users", "grant", "alice", "a/b", "viewer"), "invalid project 'a/b'"),
        (("users", "revoke", "alice", "churn"), "holds no role on project 'churn'"),
        (("tokens", "create", "nobody"), "no user named 'nobody'"),
        (("tokens", "create", "alice", "--label", "x" * 300), "at most 256 characters"),
        (("tokens", "list", "nobody"), "no user named 'nobody'"),
        (("tokens", "revoke", "99"), "no API token #99"),
        (("tokens", "revoke", "0"), "token_id must be a whole number >= 1"),
    ],
)
def test_mistakes_exit_2_with_one_line(with_alice: Target, args: tuple[str, ...], message: str) -> None:
    before = len(with_alice.workspace.audit_log(limit=None))
    result = with_alice.run(*args, code=2)
    assert result.output.startswith("error: ") and message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert len(with_alice.workspace.audit_log(limit=None)) == before


def test_a_disabled_users_token_cannot_be_made_and_revoking_twice_fails(target: Target) -> None:
    t = target
    t.invoke("users", "add", "alice")
    token_id = json.loads(t.invoke("tokens", "create", "alice", "--json"))["id"]
    t.invoke("tokens", "revoke", str(token_id))
    assert (
        t.invoke("tokens", "revoke", str(token_id), code=2)
        == f"error: API token #{token_id} is already revoked\n"
    )
    t.invoke("users", "disable", "alice")
    out = t.invoke("tokens", "create", "alice", code=2)
    assert out == "error: user 'alice' is disabled; enable it first: carnet users enable alice\n"


# -- through a server: the same output, and who may do what ---------------------------------------
#: what differs from one workspace to another: times, secrets (and the admin's token is used remotely)
_VARYING = re.compile(
    r"(\d{4}-\d\d-\d\d )?\d\d:\d\d(:\d\d)?|carnet_[\w-]+"
    r'|"(created_at|revoked_at)": [\d.]+|"last_used_at": (null|[\d.]+)'
)

SCRIPT: list[tuple[str, ...]] = [
    ("users", "add", "alice", "--role", "churn=approver", "--role", "*=viewer"),
    ("users", "add", "bob", "--json"),
    ("users", "grant", "bob", "fraud", "editor"),
    ("users", "grant", "bob", "*", "viewer", "--json"),
    ("users", "revoke", "bob", "fraud"),
    ("users", "disable", "bob", "--json"),
    ("users", "enable", "bob"),
    ("users", "list"),
    ("users", "list", "--json"),
    ("tokens", "create", "alice", "--label", "laptop"),
    ("tokens", "create", "bob", "--json"),
    ("tokens", "revoke", "2"),
    ("tokens", "revoke", "3", "--json"),
    ("tokens", "list", "bob"),
    ("tokens", "list", "--json"),
]


def test_a_server_prints_what_the_workspace_prints(tmp_path: Path) -> None:
    with open_target("local", tmp_path / "a") as local, open_target("remote", tmp_path / "b") as remote:
        for args in SCRIPT:
            here, there = local.run(*args), remote.run(*args)
            for a, b in ((here.stdout, there.stdout), (here.stderr, there.stderr)):
                assert _VARYING.sub("<t>", a) == _VARYING.sub("<t>", b), args


def test_a_non_admin_token_gets_one_line_and_exit_2(served: Target) -> None:
    auth = served.workspace.services.auth
    auth.add_user("bob", {"churn": "admin"})  # admin of one project is not a server admin
    bob = auth.create_token("bob", "own")[0]
    denied = "error: user 'bob' needs the admin role on every project ('*') (has no role; roles: "
    for args in (
        ("users", "list"),
        ("users", "add", "eve", "--json"),
        ("users", "disable", "root"),
        ("users", "enable", "bob"),
        ("users", "grant", "bob", "*", "admin"),
        ("users", "revoke", "root", "*"),
        ("tokens", "list"),
        ("tokens", "list", "root"),
        ("tokens", "create", "root"),
        ("tokens", "revoke", "1"),
    ):
        out = served.invoke(*args, code=2, token=bob)
        assert out.startswith(denied) and out.count("\n") == 1, args
    assert [u.name for u in auth.list_users()] == ["bob", "root"]
    assert auth.get_user("root").roles == {"*": "admin"}
    assert auth.list_tokens("root")[0].revoked_at is None

    # a user manages their own tokens
    created = served.run("tokens", "create", "bob", "--label", "second", token=bob)
    assert auth.authenticate(created.stdout.strip()).user == "bob"
    mine = json.loads(served.invoke("tokens", "list", "bob", "--json", token=bob))
    assert [x["label"] for x in mine] == ["own", "second"]
    assert (
        served.invoke("tokens", "revoke", str(mine[1]["id"]), token=bob)
        == f"revoked API token #{mine[1]['id']} of bob\n"
    )


def test_a_missing_or_revoked_token_gets_one_line_and_exit_2(served: Target) -> None:
    out = served.invoke("users", "list", code=2, token="")
    assert out.startswith("error: this server requires an API token") and out.count("\n") == 1
    spare = json.loads(served.invoke("tokens", "create", "root", "--label", "spare", "--json"))["token"]
    served.invoke("tokens", "revoke", "1")  # the admin revokes the token in use
    out = served.invoke("users", "list", code=2)
    assert out.startswith("error: API token carnet_") and "(#1) was revoked" in out and out.count("\n") == 1
    assert "root" in served.invoke("users", "list", token=spare)


@pytest.mark.parametrize(
    "command",
    [
        ("users",),
        ("users", "add"),
        ("users", "list"),
        ("users", "disable"),
        ("users", "enable"),
        ("users", "grant"),
        ("users", "revoke"),
        ("tokens",),
        ("tokens", "create"),
        ("tokens", "list"),
        ("tokens", "revoke"),
    ],
)
def test_every_verb_has_help_with_an_example(command: tuple[str, ...]) -> None:
    out = invoke(*command, "--help")
    assert "Example:" in out and f"carnet {' '.join(command)}" in out
