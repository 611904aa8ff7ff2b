"""The ledger's head row and key: a missing head is named, and a process whose CARNET_AUDIT_KEY
does not match the ledger's refuses to write instead of appending an event that breaks the chain."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, create_engine, text

from carnet import Client
from carnet.cli.main import cli
from carnet.domain.audit import HEAD_MISSING, key_fingerprint
from carnet.errors import AuditIntegrityError, AuditKeyMismatch
from conftest import Workspace, serve_workspace


@contextmanager
def raw_db(c: Client) -> Iterator[Connection]:
    engine = create_engine(c.settings.metadata_url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def head_row(c: Client) -> tuple:
    with raw_db(c) as conn:
        return tuple(conn.execute(text("SELECT seq, keyed, key_check, workspace_id FROM audit_head")).one())


def n_events(c: Client) -> int:
    return len(c.services.audit.log(limit=None))


def cli_write(workspace: Workspace) -> list[str]:
    """``carnet data add`` (a change, so an audit event) on the workspace: exit 2, its output lines."""
    csv = workspace.path / "tiny.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    args = ["--uri", workspace.uri, "data", "add", str(csv), "--name", "tiny", "--project", "p"]
    if workspace.artifacts:
        args[2:2] = ["--artifacts", workspace.artifacts]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    return result.output.strip().splitlines()


# -- the head row ---------------------------------------------------------------------
def test_a_missing_head_fails_writes_by_name_and_verify_reports_it(workspace: Workspace) -> None:
    with workspace.client() as c:
        c.create_project("p")
        with raw_db(c) as conn:
            conn.execute(text("DELETE FROM audit_head"))
        with pytest.raises(AuditIntegrityError, match="audit head missing") as err:
            c.create_run("p")
        assert "AlreadyExists" not in type(err.value).__name__
        assert c.search_runs("p").runs == []  # the change was rolled back with its event
        v = c.verify_audit()
        assert (v.ok, v.count, v.broken_seq, v.reason) == (False, 1, None, HEAD_MISSING)
    args = ["--uri", workspace.uri] + (["--artifacts", workspace.artifacts] if workspace.artifacts else [])
    result = CliRunner().invoke(cli, [*args, "audit", "verify"])
    assert result.exit_code == 1
    assert result.output.startswith("BROKEN: audit head missing"), result.output
    assert cli_write(workspace) == [f"error: {HEAD_MISSING}"]


# -- the key ----------------------------------------------------------------------------
def test_the_first_event_records_the_key_fingerprint_never_the_key(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_AUDIT_KEY", "s3cret-key-value")
    with workspace.client() as c:
        assert head_row(c)[1:] == (None, None, None)  # nothing recorded before the first event
        c.create_project("p")
        seq, keyed, check, workspace_id = head_row(c)
        expected = hmac.new(b"s3cret-key-value", b"carnet-audit-key-check", hashlib.sha256).hexdigest()
        assert (seq, bool(keyed), check) == (1, True, expected)
        assert check == key_fingerprint("s3cret-key-value")
        assert len(workspace_id) == 32
        c.create_run("p")
        assert head_row(c)[1:] == (keyed, check, workspace_id)  # recorded once
        with raw_db(c) as conn:
            for table in ("audit_head", "audit_events"):
                rows = conn.execute(text(f"SELECT * FROM {table}")).all()
                assert "s3cret-key-value" not in repr(rows)
    if workspace.backend == "sqlite":
        assert b"s3cret-key-value" not in (Path(workspace.uri) / "carnet.db").read_bytes()


CASES = {  # ledger written with -> process key: the error names the fix
    "keyed ledger, no key": ("k1", None, "is keyed but CARNET_AUDIT_KEY is not set"),
    "keyed ledger, other key": ("k1", "k2", "is not the key this workspace's audit ledger"),
    "unkeyed ledger, a key": (None, "k1", "written without a key but CARNET_AUDIT_KEY is set"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_process_with_another_key_refuses_to_write(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    written_with, process_key, words = CASES[case]
    if written_with:
        monkeypatch.setenv("CARNET_AUDIT_KEY", written_with)
    with workspace.client() as c:
        c.create_project("p")
        c.create_run("p", "first")
    if process_key:
        monkeypatch.setenv("CARNET_AUDIT_KEY", process_key)
    else:
        monkeypatch.delenv("CARNET_AUDIT_KEY")
    with workspace.client() as c:
        with pytest.raises(AuditKeyMismatch, match=words) as err:
            c.create_run("p", "refused")
        assert err.value.field == "CARNET_AUDIT_KEY"
        assert [r.name for r in c.search_runs("p").runs] == ["first"]
        assert n_events(c) == 2
    lines = cli_write(workspace)
    assert len(lines) == 1 and "CARNET_AUDIT_KEY" in lines[0] and words in lines[0], lines
    if written_with:  # with the ledger's own key the ledger is intact and writable
        monkeypatch.setenv("CARNET_AUDIT_KEY", written_with)
    else:
        monkeypatch.delenv("CARNET_AUDIT_KEY")
    with workspace.client() as c:
        c.create_run("p", "second")
        v = c.verify_audit()
        assert (v.ok, v.count) == (True, 3), v


@pytest.mark.parametrize("keyed", [False, True])
def test_a_ledger_from_before_key_records_checks_its_last_event(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, keyed: bool
) -> None:
    """An existing workspace (head written before carnet recorded keys) keeps working with its own
    key, or lack of one; another is refused, judged on the last event's hash."""
    if keyed:
        monkeypatch.setenv("CARNET_AUDIT_KEY", "old")
    with workspace.client() as c:
        c.create_project("p")
        with raw_db(c) as conn:  # as migration 0006 leaves an existing ledger
            conn.execute(text("UPDATE audit_head SET keyed = NULL, key_check = NULL, workspace_id = NULL"))
    if keyed:
        monkeypatch.delenv("CARNET_AUDIT_KEY")
    else:
        monkeypatch.setenv("CARNET_AUDIT_KEY", "other")
    with workspace.client() as c:
        with pytest.raises(AuditKeyMismatch, match=r"last audit event \(1\) does not verify"):
            c.create_run("p")
        assert head_row(c)[1:] == (None, None, None)
    if keyed:
        monkeypatch.setenv("CARNET_AUDIT_KEY", "old")
    else:
        monkeypatch.delenv("CARNET_AUDIT_KEY")
    with workspace.client() as c:
        c.create_run("p")
        _, was_keyed, check, workspace_id = head_row(c)
        assert (bool(was_keyed), check) == (keyed, key_fingerprint("old") if keyed else None)
        assert workspace_id is not None
        assert c.verify_audit().ok


def test_a_server_without_the_key_answers_a_problem_not_a_traceback(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_AUDIT_KEY", "k1")
    with workspace.client() as c:
        c.create_project("p")
    monkeypatch.delenv("CARNET_AUDIT_KEY")
    with serve_workspace(workspace, auth=False) as served:
        r = httpx.post(f"{served.uri}/api/v1/projects", json={"name": "q"}, timeout=30)
        assert r.status_code == 500
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert (body["error"], body["field"], body["title"]) == (
            "AuditKeyMismatch",
            "CARNET_AUDIT_KEY",
            "Server misconfigured",
        )
        assert "CARNET_AUDIT_KEY is not set" in body["detail"]
        with Client(served.uri) as remote, pytest.raises(AuditKeyMismatch):
            remote.create_project("q")
