"""``carnet audit keygen``, ``carnet audit anchor``, ``carnet audit verify --anchors`` and the
scheduled anchoring options, end to end on real workspaces and files."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from carnet.cli.main import cli


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def ws(tmp_path: Path) -> str:
    path = str(tmp_path / "ws")
    assert invoke("init", path).exit_code == 0
    return path


@pytest.fixture
def witness(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'anchors.jsonl'}"


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A key pair made by ``carnet audit keygen``; CARNET_ANCHOR_KEY names its private half."""
    path = tmp_path / "keys" / "anchor.pem"
    path.parent.mkdir()
    result = invoke("audit", "keygen", str(path), "--json")
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("CARNET_ANCHOR_KEY", str(path))
    return path


def add_events(ws: str, n: int) -> None:
    """``n`` audited changes (tags on one run), through the CLI's workspace."""
    from carnet import Client

    with Client(ws) as c:
        run = c.create_run("p")
        for i in range(n - 2):
            c.set_tag(run.id, "i", i)


def test_keygen_writes_a_private_key_only_its_owner_reads_and_prints_the_public_key(tmp_path: Path) -> None:
    path = tmp_path / "anchor.pem"
    result = invoke("audit", "keygen", str(path))
    assert result.exit_code == 0, result.output
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    public = Path(f"{path}.pub").read_text()
    assert public.startswith("-----BEGIN PUBLIC KEY-----") and public.strip() in result.output
    assert path.read_text().strip() not in result.output  # the private key is never printed
    again = invoke("audit", "keygen", str(path))
    assert (
        again.exit_code == 2
        and again.output.strip() == f"error: {path} already exists; choose another path or remove it first"
    )


def test_anchor_then_verify_with_and_without_anchors(
    ws: str, key: Path, witness: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_events(ws, 5)  # project.create, run.create and 3 tags
    result = invoke("--uri", ws, "audit", "anchor", "--witness", witness, "--json")
    assert result.exit_code == 0, result.output
    anchored = json.loads(result.output)
    assert (anchored["ok"], anchored["seq"], anchored["event_seq"]) == (True, 5, 6)
    assert anchored["deliveries"] == [
        {"witness": witness, "ok": True, "location": witness[len("file://") :], "error": None}
    ]
    result = invoke("--uri", ws, "audit", "verify", "--anchors", "--witness", witness)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "OK: 6 events verified"
    assert result.output.splitlines()[1].startswith(
        f"anchor {witness}: OK: checkpoint {anchored['digest'][:12]}"
    )

    with sqlite3.connect(Path(ws, "carnet.db")) as db:  # delete the tail and move the head
        (h,) = db.execute("SELECT hash FROM audit_events WHERE seq = 3").fetchone()
        db.execute("DELETE FROM audit_events WHERE seq > 3")
        db.execute("UPDATE audit_head SET seq = 3, hash = ?", (h,))
    plain = invoke("--uri", ws, "audit", "verify")
    assert (plain.exit_code, plain.output.strip()) == (0, "OK: 3 events verified")  # not seen
    result = invoke("--uri", ws, "audit", "verify", "--anchors", "--witness", witness)
    assert result.exit_code == 1, result.output
    first, finding = result.output.strip().splitlines()
    assert first.startswith(
        f"BROKEN at event 4: the ledger ends at event 3 but checkpoint {anchored['digest'][:12]}"
    )
    assert finding.startswith(f"anchor {witness}: TRUNCATED: ") and anchored["hash"] in finding
    monkeypatch.setenv("CARNET_AUDIT_WITNESSES", witness)  # the configured witnesses, as JSON
    result = invoke("--uri", ws, "audit", "verify", "--anchors", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert (doc["ok"], doc["broken_seq"], doc["count"]) == (False, 4, 3)
    assert [(a["status"], a["expected"], a["found"]) for a in doc["anchors"]] == [("truncated", "5", "3")]


def test_anchoring_errors_are_one_line_with_exit_2(
    ws: str, witness: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = [
        (["audit", "anchor", "--witness", witness], "CARNET_ANCHOR_KEY"),
        (["audit", "anchor"], "CARNET_AUDIT_WITNESSES"),
        (["audit", "verify", "--anchors", "--witness", witness], "CARNET_ANCHOR_PUBLIC_KEY"),
        (["audit", "verify", "--witness", witness], "--anchors"),
        (["audit", "anchor", "--witness", "gopher://x/y"], "no witness for gopher://"),
    ]
    for args, words in cases:
        result = invoke("--uri", ws, *args)
        lines = result.output.strip().splitlines()
        assert (result.exit_code, len(lines)) == (2, 1), (args, result.output)
        assert lines[0].startswith("error: ") and words in lines[0], (args, lines)
    monkeypatch.setenv("CARNET_ANCHOR_KEY", str(tmp_path / "nowhere.pem"))
    result = invoke("--uri", ws, "audit", "anchor", "--witness", witness)
    assert result.exit_code == 2 and "cannot be read" in result.output and "nowhere" not in result.output
    result = invoke("--uri", "http://127.0.0.1:9", "audit", "anchor", "--witness", witness)
    assert result.exit_code == 2 and "needs a local workspace" in result.output


def test_anchor_exits_1_when_a_witness_did_not_store_the_checkpoint(ws: str, key: Path, witness: str) -> None:
    result = invoke(
        "--uri", ws, "audit", "anchor", "--witness", witness, "--witness", "http://127.0.0.1:9/hook"
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == f"{witness}: stored at {witness[len('file://') :]}"
    assert lines[1].startswith(
        "http://127.0.0.1:9/hook: FAILED: StorageError: POST http://127.0.0.1:9/hook failed"
    )
    assert lines[2].endswith("recorded as event 1")


def test_monitor_run_anchor_anchors_after_a_pass_and_skips_an_idle_ledger(
    ws: str, key: Path, witness: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_AUDIT_WITNESSES", witness)
    add_events(ws, 3)
    result = invoke("--uri", ws, "monitor", "run", "--all", "--anchor", "--every", "1s", "--passes", "2")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in Path(witness[len("file://") :]).read_text().splitlines()]
    assert [r["checkpoint"]["seq"] for r in records] == [3]  # the second pass found only the anchor
    assert "covers event 3" in result.output
    monkeypatch.delenv("CARNET_ANCHOR_KEY")
    result = invoke("--uri", ws, "monitor", "run", "--all", "--anchor")
    assert result.exit_code == 2 and "CARNET_ANCHOR_KEY" in result.output  # before any pass


def test_server_anchor_every_checks_its_settings_before_listening(ws: str, witness: str) -> None:
    result = invoke("server", "--uri", ws, "--port", "9", "--anchor-every", "often")
    assert result.exit_code == 2 and "--anchor-every" in result.output
    result = invoke("server", "--uri", ws, "--port", "9", "--anchor-every", "10m")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: anchoring signs checkpoints with an Ed25519 private key: set CARNET_ANCHOR_KEY to its PEM "
        "file (or anchor_key in carnet.toml); carnet audit keygen PATH makes one"
    ]
    assert not os.environ.get("CARNET_ANCHOR_KEY")
