"""Anchoring the audit ledger: signed checkpoints at witnesses outside the database catch what the
hash chain alone cannot (truncation, a tail rewritten with recomputed hashes, a swapped database),
and a forged checkpoint is reported, never trusted. Real files, a real S3-compatible server and a
real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text

from carnet import Client
from carnet.domain.anchors import ANCHOR_ACTION, Checkpoint, SignedCheckpoint
from carnet.domain.audit import AuditEvent, chain_hash, payload_digest
from carnet.errors import AuditKeyMismatch, ConfigurationError, InvalidInput
from carnet.plugins.api import Witness
from carnet.plugins.loader import registry
from carnet.server.scheduler import start_anchoring
from carnet.services.anchors import write_key_pair
from carnet.testing import S3Server, moto_s3_server
from carnet.witnesses import signing, witness_for
from carnet.witnesses.s3 import S3Witness
from conftest import Workspace, serve_workspace


# -- fixtures and helpers ------------------------------------------------------------------------
@dataclass
class Keys:
    private: str
    public: str


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    (tmp_path / "keys").mkdir()
    pair = write_key_pair(tmp_path / "keys" / "anchor.pem")
    return Keys(pair.private_path, pair.public_path)


@pytest.fixture
def sqlite_ws(tmp_path: Path) -> Workspace:
    """A folder workspace (for the tests whose subject is not the metadata backend)."""
    return Workspace(str(tmp_path / "ws"), None, "sqlite", tmp_path)


@pytest.fixture
def anchor_env(keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The anchor key pair and a file witness in the environment; returns the witness URL."""
    url = f"file://{tmp_path / 'witness' / 'anchors.jsonl'}"
    (tmp_path / "witness").mkdir()
    monkeypatch.setenv("CARNET_ANCHOR_KEY", keys.private)
    monkeypatch.setenv("CARNET_ANCHOR_PUBLIC_KEY", keys.public)
    monkeypatch.setenv("CARNET_AUDIT_WITNESSES", url)
    return url


@contextmanager
def raw_db(c: Client) -> Iterator[Connection]:
    """A plain SQLAlchemy connection on the workspace database, behind carnet's back."""
    engine = create_engine(c.settings.metadata_url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def events(c: Client) -> list[AuditEvent]:
    return list(reversed(c.services.audit.log(limit=None)))


def populate(c: Client, project: str = "p") -> None:
    """Six events: project.create, run.create, log_params, set_tags, log_metrics, end."""
    c.create_project(project)
    run = c.create_run(project, "r", params={"lr": 0.1})
    c.log_params(run.id, {"depth": 3})
    c.set_tags(run.id, {"team": "ml"})
    c.log_metrics(run.id, {"loss": 0.5}, step=1)
    c.end_run(run.id)


def truncate(c: Client, keep: int) -> None:
    """Delete every event after ``keep`` and point the head row at event ``keep`` (its stored hash)."""
    with raw_db(c) as conn:
        h = conn.execute(text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": keep}).scalar_one()
        conn.execute(text("DELETE FROM audit_events WHERE seq > :s"), {"s": keep})
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": keep, "h": h})


def rewrite_from(c: Client, seq: int, payload: dict[str, Any], key: str | None = None) -> None:
    """Replace event ``seq``'s payload and recompute every digest and hash from there (what someone
    with write access to the database can do to a ledger without a key), head row included."""
    evs = events(c)
    prev = evs[seq - 2].hash if seq > 1 else "0" * 64
    with raw_db(c) as conn:
        for ev in evs[seq - 1 :]:
            body_payload = payload if ev.seq == seq else ev.payload
            new = AuditEvent(
                **{**ev.__dict__, "payload": body_payload, "payload_digest": payload_digest(body_payload)}
            )
            h = chain_hash(prev, new.body(), key)
            conn.execute(
                text(
                    "UPDATE audit_events SET payload = :p, payload_digest = :d, prev_hash = :ph, hash = :h "
                    "WHERE seq = :s"
                ),
                {"p": json.dumps(body_payload), "d": new.payload_digest, "ph": prev, "h": h, "s": ev.seq},
            )
            prev = h
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": evs[-1].seq, "h": prev})


def statuses(v: Any) -> list[str]:
    return [f.status for f in v.anchors]


def witness_lines(url: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(url[len("file://") :]).read_text().splitlines()]


# -- anchoring ----------------------------------------------------------------------------------
def test_an_anchor_signs_the_head_before_its_own_event_and_chains_checkpoints(
    anchor_env: str, workspace: Workspace, keys: Keys
) -> None:
    with workspace.client() as c:
        populate(c)
        head = events(c)[-1]
        first = c.services.anchors.anchor()
        cp = first.checkpoint.checkpoint
        assert first.ok and [d.witness for d in first.deliveries] == [anchor_env]
        assert (cp.seq, cp.hash, cp.prev) == (head.seq, head.hash, None)  # the head before the anchor
        assert first.event_seq == head.seq + 1
        ev = events(c)[-1]
        assert (ev.seq, ev.action, ev.subject_type, ev.subject_id) == (
            7,
            ANCHOR_ACTION,
            "workspace",
            cp.workspace_id,
        )
        assert ev.payload == {
            "seq": 6,
            "hash": head.hash,
            "digest": first.checkpoint.digest,
            "prev": None,
            "key_id": cp.key_id,
            "time": cp.time,
            "witnesses": [anchor_env],
            "failed": [],
        }
        second = c.services.anchors.anchor()
        assert second.checkpoint.checkpoint.seq == 7  # covers the first anchor's event
        assert second.checkpoint.checkpoint.prev == first.checkpoint.digest
        stored = witness_lines(anchor_env)
        assert [r["digest"] for r in stored] == [first.checkpoint.digest, second.checkpoint.digest]
        public = signing.load_public_key(keys.public)
        assert all(signing.signature_ok(public, SignedCheckpoint.from_record(r)) for r in stored)
        v = c.verify_audit(anchors=True)
        assert (v.ok, v.count, statuses(v)) == (True, 8, ["ok"])
        assert c.verify_audit().anchors == ()  # the chain alone reads no witness


def test_the_private_key_never_reaches_the_witness_or_the_ledger(
    anchor_env: str, workspace: Workspace, keys: Keys
) -> None:
    with workspace.client() as c:
        c.create_project("p")
        c.services.anchors.anchor()
        secret_lines = Path(keys.private).read_text().strip().splitlines()[1:-1]
        shown = Path(anchor_env[len("file://") :]).read_text() + repr(events(c))
        assert all(line not in shown for line in secret_lines)
    assert oct(os.stat(keys.private).st_mode & 0o777) == "0o600"


# -- what only anchors detect ----------------------------------------------------------------------
@pytest.mark.parametrize("key", [None, "s3cret"])
def test_truncation_with_the_head_moved_is_detected_only_with_anchors(
    anchor_env: str, workspace: Workspace, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    if key:
        monkeypatch.setenv("CARNET_AUDIT_KEY", key)
    with workspace.client() as c:
        populate(c)
        anchored = c.services.anchors.anchor()  # covers event 6; its own event is 7
        c.create_run("p", "later")  # event 8
        truncate(c, keep=5)
        plain = c.verify_audit()
        assert (plain.ok, plain.count) == (True, 5)  # the chain alone cannot see it, even with a key
        v = c.verify_audit(anchors=True)
        assert (v.ok, v.count, v.broken_seq) == (False, 5, 6)
        [finding] = v.anchors
        assert (finding.status, finding.witness, finding.seq) == ("truncated", anchor_env, 6)
        assert (finding.expected, finding.found) == ("6", "5")
        assert finding.digest == anchored.checkpoint.digest
        for words in ("the ledger ends at event 5", anchored.checkpoint.digest[:12], anchor_env, "event 6"):
            assert words in v.reason


def test_a_tail_rewritten_with_recomputed_hashes_is_detected_only_with_anchors(
    anchor_env: str, workspace: Workspace
) -> None:
    with workspace.client() as c:
        populate(c)
        anchored = c.services.anchors.anchor()
        old = events(c)[5].hash
        rewrite_from(c, 3, {"params": {"depth": "30"}})  # a plain SHA-256 ledger: anyone can recompute
        assert c.verify_audit().ok is True
        new = events(c)[5].hash
        assert new != old
        v = c.verify_audit(anchors=True)
        assert (v.ok, v.broken_seq) == (False, 6)
        [finding] = v.anchors
        assert (finding.status, finding.seq, finding.expected, finding.found) == ("rewritten", 6, old, new)
        assert anchored.checkpoint.digest[:12] in finding.message and anchor_env in finding.message
        assert f"event 6 has hash {new}" in v.reason and f"recorded {old}" in v.reason


def test_a_database_swapped_for_another_workspaces_is_detected(
    anchor_env: str, workspace: Workspace, tmp_path: Path
) -> None:
    art = workspace.artifacts and f"file://{tmp_path / 'other-art'}"
    other = Workspace(str(tmp_path / "other"), art, "sqlite", tmp_path)
    with workspace.client() as a, other.client() as b:
        populate(a)
        populate(b, "q")
        anchored = a.services.anchors.anchor()
        b.create_run("q")
        a_id, b_id = anchored.checkpoint.checkpoint.workspace_id, _workspace_id(b)
        assert b.verify_audit().ok  # a perfectly valid ledger, of another workspace
        v = b.verify_audit(anchors=True, witnesses=[anchor_env])
        [finding] = v.anchors
        assert (v.ok, finding.status, finding.expected, finding.found) == (False, "replaced", a_id, b_id)
        assert f"is for workspace {a_id}, but this database is workspace {b_id}" in v.reason
    if workspace.backend == "sqlite":  # the database file itself swapped under the workspace's path
        shutil.copy(Path(other.uri) / "carnet.db", Path(workspace.uri) / "carnet.db")
        with workspace.client() as a:
            v = a.verify_audit(anchors=True)
            assert (v.ok, statuses(v), v.anchors[0].found) == (False, ["replaced"], b_id)
    with other.client() as b:
        with raw_db(b) as conn:  # a swapper who copies the workspace id too: the events still differ
            conn.execute(text("UPDATE audit_head SET workspace_id = :w"), {"w": a_id})
        v = b.verify_audit(anchors=True, witnesses=[anchor_env])
        assert (v.ok, statuses(v)) == (False, ["rewritten"])
        assert v.anchors[0].expected == anchored.checkpoint.checkpoint.hash


def _workspace_id(c: Client) -> str:
    with raw_db(c) as conn:
        return str(conn.execute(text("SELECT workspace_id FROM audit_head")).scalar_one())


def test_a_forged_checkpoint_is_reported_and_not_trusted(
    anchor_env: str, workspace: Workspace, tmp_path: Path
) -> None:
    with workspace.client() as c:
        populate(c)
        real = c.services.anchors.anchor()
        truncate(c, keep=4)
        head = events(c)[-1]
        mallory = write_key_pair(tmp_path / "mallory.pem")
        forged_cp = Checkpoint(
            real.checkpoint.checkpoint.workspace_id,
            head.seq,
            head.hash,
            "2030-01-01T00:00:00.000000Z",
            real.checkpoint.digest,
            mallory.key_id,
        )
        forged = signing.sign(signing.load_private_key(mallory.private_path), forged_cp)
        # a re-signed claim, a valid record whose body was edited, and garbage: all newer than the real one
        edited = real.checkpoint.to_record()
        edited["checkpoint"] = {**edited["checkpoint"], "seq": head.seq, "hash": head.hash}
        edited.pop("digest")
        path = Path(anchor_env[len("file://") :])
        with path.open("a") as f:
            f.write(json.dumps(forged.to_record()) + "\n" + json.dumps(edited) + "\nnot json\n")
        v = c.verify_audit(anchors=True)
        assert v.ok is False
        assert statuses(v) == ["forged", "forged", "forged", "truncated"]
        garbage, bad_body, other_key, truncated = v.anchors
        assert "not a valid checkpoint" in garbage.message
        assert "signature does not verify" in bad_body.message and bad_body.seq == 4
        assert f"names key {mallory.key_id}" in other_key.message and other_key.digest == forged.digest
        assert truncated.digest == real.checkpoint.digest  # the real checkpoint still rules
        assert v.reason == garbage.message


def test_checkpoints_removed_from_a_witness_are_reported_as_stale(
    anchor_env: str, workspace: Workspace
) -> None:
    with workspace.client() as c:
        populate(c)
        c.services.anchors.anchor()
        second = c.services.anchors.anchor()
        path = Path(anchor_env[len("file://") :])
        path.write_text(path.read_text().splitlines()[0] + "\n")  # the witness lost the newest line
        v = c.verify_audit(anchors=True)
        assert statuses(v) == ["ok", "stale"]
        assert v.anchors[1].digest == second.checkpoint.digest and v.ok is False
        path.write_text("")
        v = c.verify_audit(anchors=True)
        assert (v.ok, statuses(v)) == (False, ["missing"])
        assert "holds no valid checkpoint" in v.reason


# -- configuration ------------------------------------------------------------------------------
def test_anchoring_and_verifying_name_the_missing_setting(
    workspace: Workspace, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"file://{tmp_path / 'a.jsonl'}"
    with workspace.client() as c:
        c.create_project("p")
        with pytest.raises(ConfigurationError, match="CARNET_ANCHOR_KEY") as err:
            c.services.anchors.anchor([url])
        assert err.value.field == "CARNET_ANCHOR_KEY"
        with pytest.raises(ConfigurationError, match="CARNET_ANCHOR_PUBLIC_KEY"):
            c.verify_audit(anchors=True, witnesses=[url])
        with pytest.raises(ConfigurationError, match="CARNET_AUDIT_WITNESSES"):
            c.verify_audit(anchors=True)
        with pytest.raises(InvalidInput, match="anchors=True"):
            c.verify_audit(witnesses=[url])
        with pytest.raises(InvalidInput, match=r"no witness for ftp://") as bad:
            c.services.anchors.witness_urls(["ftp://host/x"])
        assert bad.value.field == "witness"
        with pytest.raises(InvalidInput, match="three slashes"):
            c.services.anchors.witness_urls(["file://relative/x.jsonl"])
    monkeypatch.setenv("CARNET_ANCHOR_KEY", keys.public)  # the wrong half
    with (
        workspace.client() as c,
        pytest.raises(ConfigurationError, match="not an unencrypted PEM private key"),
    ):
        c.services.anchors.anchor([url])
    monkeypatch.setenv("CARNET_ANCHOR_KEY", Path(keys.private).read_text())  # the PEM itself works
    with workspace.client() as c:
        assert c.services.anchors.anchor([url]).ok
        v = c.verify_audit(anchors=True, witnesses=[url])  # the public half of the private key
        assert v.ok, v


def test_a_witness_that_is_down_is_reported_and_anchoring_goes_on(
    anchor_env: str, workspace: Workspace
) -> None:
    # a port held bound but never listening: connections to it are refused, and no other test's
    # server can take it while this test runs
    with socket.socket() as sock, workspace.client() as c:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        down = f"http://127.0.0.1:{port}/hook?token=not-hex-secret"
        c.create_project("p")
        result = c.services.anchors.anchor([anchor_env, down])
        assert [d.ok for d in result.deliveries] == [True, False] and result.ok is False
        assert f"POST http://127.0.0.1:{port}/hook failed" in str(result.deliveries[1].error)
        payload = events(c)[-1].payload
        assert (payload["witnesses"], payload["failed"]) == ([anchor_env], [f"http://127.0.0.1:{port}/hook"])
        assert "not-hex-secret" not in json.dumps(payload)  # credentials never reach the ledger
        nothing = c.services.anchors.anchor([down])
        assert nothing.event_seq is None and len(events(c)) == 2  # no witness took it: no event


# -- witnesses ----------------------------------------------------------------------------------
def test_the_built_in_witnesses_are_plugins() -> None:
    assert {"file", "s3", "http", "https"} <= set(registry("witness").names())
    for name in ("file", "s3", "https"):
        witness = registry("witness").get(name)
        assert isinstance(witness, Witness) and witness.description


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_s3_server() as server:
        yield server


@pytest.mark.s3
def test_the_s3_witness_round_trips_one_object_per_checkpoint(
    s3: S3Server, anchor_env: str, sqlite_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts = s3.storage_options
    monkeypatch.setenv("CARNET_S3_ENDPOINT_URL", s3.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", opts["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", opts["secret"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3.region)
    bucket = s3.create_bucket()
    url = f"s3://{bucket}/anchors/ws1"
    with sqlite_ws.client() as c:
        populate(c)
        first = c.services.anchors.anchor([url])
        second = c.services.anchors.anchor([url])
        assert first.ok and second.ok
        assert (
            second.deliveries[0].location
            == f"s3://{bucket}/anchors/ws1/{7:020d}-{second.checkpoint.digest}.json"
        )
        keys_ = sorted(o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"])
        assert keys_ == [
            f"anchors/ws1/{6:020d}-{first.checkpoint.digest}.json",
            f"anchors/ws1/{7:020d}-{second.checkpoint.digest}.json",
        ]
        witness = witness_for(url)
        options = c.settings.storage_options
        assert witness.publish(url, second.checkpoint.to_record(), options)  # the same object again: fine
        changed = {**second.checkpoint.to_record(), "signature": first.checkpoint.signature}
        with pytest.raises(FileExistsError):  # written if absent: a stored checkpoint is never replaced
            S3Witness().publish(url, changed, options)
        v = c.verify_audit(anchors=True, witnesses=[url])
        assert (v.ok, statuses(v)) == (True, ["ok"])
        truncate(c, keep=5)
        v = c.verify_audit(anchors=True, witnesses=[url])
        assert (v.ok, statuses(v)) == (False, ["truncated"])
        assert v.anchors[0].digest == second.checkpoint.digest and f"s3://{bucket}/anchors/ws1" in v.reason


@dataclass
class Receiver:
    """A webhook witness on 127.0.0.1: keeps what is POSTed, lists it on GET."""

    url: str = ""
    kept: list[bytes] = field(default_factory=list)
    posts: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rec.posts += 1
            ok = self.headers.get("Content-Type") == "application/json" and "token=t0k" in self.path
            if ok:
                rec.kept.append(body)
            self._answer(201 if ok else 400, b"{}")

        def do_GET(self) -> None:
            self._answer(200, b"[" + b",".join(rec.kept) + b"]")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/carnet/anchors?token=t0k"
    yield rec
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_webhook_witness_round_trips(anchor_env: str, sqlite_ws: Workspace, receiver: Receiver) -> None:
    with sqlite_ws.client() as c:
        populate(c)
        result = c.services.anchors.anchor([receiver.url])
        shown = receiver.url.split("?")[0]
        assert result.ok and result.deliveries[0].witness == shown and receiver.posts == 1
        assert json.loads(receiver.kept[0]) == result.checkpoint.to_record()
        v = c.verify_audit(anchors=True, witnesses=[receiver.url])
        assert (v.ok, statuses(v)) == (True, ["ok"])
        rewrite_from(c, 2, {"project": "p", "name": "renamed"})
        v = c.verify_audit(anchors=True, witnesses=[receiver.url])
        assert (v.ok, statuses(v)) == (False, ["rewritten"]) and shown in v.reason
        assert "t0k" not in v.reason


# -- through a server, and on a schedule -------------------------------------------------------------
def test_a_server_verifies_against_its_own_witnesses(anchor_env: str, sqlite_ws: Workspace) -> None:
    with serve_workspace(sqlite_ws, auth=False) as served, Client(served.uri) as remote:
        remote.create_project("p")
        remote.create_run("p")
        served.services.anchors.anchor()  # covers event 2
        remote.create_run("p")
        v = remote.verify_audit(anchors=True)
        assert (v.ok, v.count, statuses(v)) == (True, 4, ["ok"])
        assert remote.verify_audit().anchors == ()
        with pytest.raises(InvalidInput, match="own witnesses"):
            remote.verify_audit(anchors=True, witnesses=["file:///elsewhere.jsonl"])
        with Client(sqlite_ws.uri) as local:
            truncate(local, keep=1)
        v = remote.verify_audit(anchors=True)
        assert (v.ok, v.broken_seq, statuses(v)) == (False, 2, ["truncated"])
        assert (v.anchors[0].expected, v.anchors[0].found) == ("2", "1")


def test_scheduled_anchoring_anchors_at_once_and_skips_an_idle_ledger(
    anchor_env: str, sqlite_ws: Workspace
) -> None:
    with sqlite_ws.client() as c:
        populate(c)
        schedule = start_anchoring(c.services, interval=3600)
        try:
            deadline = time.monotonic() + 60
            while schedule.runs < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            schedule.stop()
        assert schedule.runs == 1
        assert [r["checkpoint"]["seq"] for r in witness_lines(anchor_env)] == [6]
        assert c.services.anchors.idle() is True  # only the anchoring happened since
        assert c.services.anchors.idle([anchor_env, "file:///new/witness.jsonl"]) is False  # not there yet
        c.create_run("p")
        assert c.services.anchors.idle() is False


def test_a_server_without_anchors_set_up_answers_422_naming_the_setting(sqlite_ws: Workspace) -> None:
    with serve_workspace(sqlite_ws, auth=False) as served, Client(served.uri) as remote:
        remote.create_project("p")
        with pytest.raises(InvalidInput, match=r"cannot verify anchors.*CARNET_AUDIT_WITNESSES") as err:
            remote.verify_audit(anchors=True)
        assert err.value.field == "anchors"
        assert remote.verify_audit().ok


def test_a_process_without_the_ledgers_key_anchors_nothing(
    anchor_env: str, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_AUDIT_KEY", "k1")
    with workspace.client() as c:
        c.create_project("p")
    monkeypatch.delenv("CARNET_AUDIT_KEY")
    with workspace.client() as c:
        with pytest.raises(AuditKeyMismatch, match="CARNET_AUDIT_KEY is not set"):
            c.services.anchors.anchor()
        assert not Path(anchor_env[len("file://") :]).exists()  # refused before any witness was written
        assert len(events(c)) == 1


def test_anchor_settings_come_from_the_environment_or_carnet_toml(tmp_path: Path) -> None:
    from carnet.config import resolve_settings

    (tmp_path / "carnet.toml").write_text(
        '[carnet]\naudit_witnesses = ["file:///a.jsonl", "s3://b/p"]\n'
        'anchor_key = "/k.pem"\nanchor_public_key = "/k.pem.pub"\n'
    )
    s = resolve_settings(env={}, cwd=tmp_path)
    assert (s.audit_witnesses, s.anchor_key, s.anchor_public_key) == (
        ("file:///a.jsonl", "s3://b/p"),
        "/k.pem",
        "/k.pem.pub",
    )
    env = {"CARNET_AUDIT_WITNESSES": " file:///x.jsonl, https://w.example/c ,", "CARNET_ANCHOR_KEY": "/e.pem"}
    s = resolve_settings(env=env, cwd=tmp_path)
    assert (s.audit_witnesses, s.anchor_key) == (("file:///x.jsonl", "https://w.example/c"), "/e.pem")
    (tmp_path / "carnet.toml").write_text("audit_witnesses = 3\n")
    with pytest.raises(InvalidInput, match="list of URLs") as err:
        resolve_settings(env={}, cwd=tmp_path)
    assert err.value.field == "audit_witnesses"
