"""carnet users / carnet tokens on a real workspace: JSON output, the secret shown once, one-line
errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from carnet import Client
from carnet.cli.main import cli
from carnet.errors import Unauthenticated


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result


def invoke(*args: str, code: int = 0) -> str:
    return run(*args, code=code).output


@pytest.fixture
def uri(tmp_path: Path) -> str:
    path = str(tmp_path / "ws")
    Client(path, create=True).close()
    return path


def test_users_add_list_grant_revoke_disable_enable(uri: str) -> None:
    added = json.loads(
        invoke(
            "--uri", uri, "users", "add", "alice", "--role", "churn=approver", "--role", "*=viewer", "--json"
        )
    )
    assert added["name"] == "alice" and added["disabled"] is False
    assert added["roles"] == {"churn": "approver", "*": "viewer"}
    assert "created user bob (enabled)  roles -" in invoke("--uri", uri, "users", "add", "bob")

    listed = json.loads(invoke("--uri", uri, "users", "list", "--json"))
    assert [(u["name"], u["roles"]) for u in listed] == [
        ("alice", {"*": "viewer", "churn": "approver"}),
        ("bob", {}),
    ]
    table = invoke("--uri", uri, "users", "list")
    assert "alice" in table and "churn=approver" in table and "enabled" in table

    granted = json.loads(invoke("--uri", uri, "users", "grant", "bob", "fraud", "editor", "--json"))
    assert granted["roles"] == {"fraud": "editor"}
    assert "roles *=admin, fraud=editor" in invoke("--uri", uri, "users", "grant", "bob", "*", "admin")
    revoked = json.loads(invoke("--uri", uri, "users", "revoke", "bob", "fraud", "--json"))
    assert revoked["roles"] == {"*": "admin"}

    assert json.loads(invoke("--uri", uri, "users", "disable", "alice", "--json"))["disabled"] is True
    assert "user alice (disabled)" in invoke("--uri", uri, "users", "disable", "alice")
    assert "user alice (enabled)" in invoke("--uri", uri, "users", "enable", "alice")

    with Client(uri) as client:
        actions = [e.action for e in reversed(client.audit_log("user", limit=None))]
    assert actions == [
        "user.create",
        "user.create",
        "user.role.grant",
        "user.role.grant",
        "user.role.revoke",
        "user.disable",
        "user.enable",
    ]


def test_a_token_is_printed_once_then_listed_and_revoked(uri: str) -> None:
    invoke("--uri", uri, "users", "add", "alice", "--role", "churn=editor")
    created = run("--uri", uri, "tokens", "create", "alice", "--label", "laptop")
    secret = created.stdout.strip()
    assert created.stdout == secret + "\n" and secret.startswith("carnet_")  # alone on stdout
    assert "API token #1 for alice (laptop)" in created.stderr
    assert "cannot be shown again" in created.stderr

    as_json = json.loads(invoke("--uri", uri, "tokens", "create", "alice", "--json"))
    assert set(as_json) == {"token", "id", "user", "label"}
    assert (as_json["id"], as_json["user"], as_json["label"]) == (2, "alice", "")
    with Client(uri) as client:
        assert client.services.auth.authenticate(secret).roles == {"churn": "editor"}
        assert client.services.auth.authenticate(as_json["token"]).token_id == 2

    listed = invoke("--uri", uri, "tokens", "list", "--json")
    assert secret not in listed and as_json["token"] not in listed
    tokens = json.loads(listed)
    assert [(x["id"], x["user"], x["label"], x["revoked_at"]) for x in tokens] == [
        (1, "alice", "laptop", None),
        (2, "alice", "", None),
    ]
    assert tokens[0]["prefix"] == secret[:15] and tokens[0]["last_used_at"] is not None
    assert json.loads(invoke("--uri", uri, "tokens", "list", "alice", "--json")) == tokens
    table = invoke("--uri", uri, "tokens", "list")
    assert "laptop" in table and "active" in table and secret not in table

    assert "revoked API token #1 of alice" in invoke("--uri", uri, "tokens", "revoke", "1")
    assert json.loads(invoke("--uri", uri, "tokens", "revoke", "2", "--json"))["revoked_at"] is not None
    with Client(uri) as client, pytest.raises(Unauthenticated, match="revoked"):
        client.services.auth.authenticate(secret)
    assert "revoked" in invoke("--uri", uri, "tokens", "list", "alice")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "add", "bad name"), "user name 'bad name' must be"),
        (("users", "add", "carol", "--role", "churn"), "write PROJECT=ROLE"),
        (("users", "add", "carol", "--role", "churn=owner"), "unknown role 'owner'; choose among viewer"),
        (("users", "add", "carol", "--role", "a=viewer", "--role", "a=editor"), "given twice"),
        (("users", "add", "alice"), "user 'alice' already exists"),
        (("users", "disable", "nobody"), "no user named 'nobody'; list them with: carnet users list"),
        (("users", "grant", "alice", "churn", "boss"), "unknown role 'boss'"),
        (("users", "grant", "alice", "bad project", "viewer"), "project"),
        (("users", "revoke", "alice", "churn"), "holds no role on project 'churn'"),
        (("tokens", "create", "nobody"), "no user named 'nobody'"),
        (("tokens", "list", "nobody"), "no user named 'nobody'"),
        (("tokens", "revoke", "99"), "no API token #99"),
    ],
)
def test_mistakes_exit_2_with_one_line(uri: str, args: tuple[str, ...], message: str) -> None:
    invoke("--uri", uri, "users", "add", "alice")
    result = run("--uri", uri, *args, code=2)
    assert result.output.startswith("error: ") and message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_a_disabled_users_token_cannot_be_made_and_revoking_twice_fails(uri: str) -> None:
    invoke("--uri", uri, "users", "add", "alice")
    token_id = json.loads(invoke("--uri", uri, "tokens", "create", "alice", "--json"))["id"]
    invoke("--uri", uri, "tokens", "revoke", str(token_id))
    assert "already revoked" in invoke("--uri", uri, "tokens", "revoke", str(token_id), code=2)
    invoke("--uri", uri, "users", "disable", "alice")
    out = invoke("--uri", uri, "tokens", "create", "alice", code=2)
    assert out == "error: user 'alice' is disabled; enable it first: carnet users enable alice\n"


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
