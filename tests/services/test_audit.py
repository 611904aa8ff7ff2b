"""The audit ledger: one event per change in the same transaction, and tamper detection."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, event, text

from carnet import Client
from carnet.domain import Metric, RunStatus
from carnet.domain.audit import GENESIS_HASH, AuditEvent, chain_hash, payload_digest
from carnet.domain.audit_digests import pairs_digest
from carnet.errors import AlreadyExists, AuditIntegrityError, Conflict, NotFound
from conftest import Workspace

ACTIONS = ["project.create", "run.create", "run.log_params", "run.log_metrics", "run.set_tags", "run.end"]


@contextmanager
def raw_db(c: Client) -> Iterator[Connection]:
    """A plain SQLAlchemy connection on the workspace database, behind carnet's back."""
    engine = create_engine(c.settings.metadata_url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def all_events(c: Client) -> list[AuditEvent]:
    return c.services.audit.log(limit=None)


def count_rows(c: Client, table: str) -> int:
    with raw_db(c) as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar())


def populate(c: Client) -> str:
    """Six events: project.create, run.create, log_params, log_metrics, set_tags, end."""
    c.create_project("p", "demo")
    run = c.create_run("p", "r", params={"lr": 0.1})
    c.log_params(run.id, {"depth": 3})
    c.log_batch(run.id, [Metric("loss", 1.0 / (i + 1), i, 100.0 + i) for i in range(5)])
    c.set_tags(run.id, {"team": "ml"})
    c.end_run(run.id)
    assert [e.action for e in reversed(all_events(c))] == ACTIONS
    return run.id


def forge(prev: AuditEvent, key: str | None = None, garbage: bool = False) -> dict[str, Any]:
    """A row for seq prev.seq + 1, chained to ``prev`` (hash under ``key``, or junk)."""
    payload = {"status": "finished", "note": "forged"}
    ev = AuditEvent(
        seq=prev.seq + 1,
        time=prev.time + 1.0,
        actor="mallory",
        action="run.end",
        subject_type="run",
        subject_id="x",
        payload=payload,
        payload_digest=payload_digest(payload),
        prev_hash=prev.hash,
        hash="",
    )
    h = "f" * 64 if garbage else chain_hash(prev.hash, ev.body(), key)
    return {
        **{k: v for k, v in ev.__dict__.items() if k != "payload"},
        "payload": json.dumps(payload),
        "hash": h,
    }


def insert_event(conn: Connection, row: dict[str, Any]) -> None:
    cols = ", ".join(row)
    conn.execute(text(f"INSERT INTO audit_events ({cols}) VALUES ({', '.join(':' + k for k in row)})"), row)


# -- one event per change, in the same transaction -----------------------------------
def test_every_change_appends_exactly_one_event(client: Client, tmp_path: Path) -> None:
    c = client
    assert c.verify_audit() == type(c.verify_audit())(True, 0)
    csv = tmp_path / "d.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    art = tmp_path / "model.txt"
    art.write_text("weights")
    state: dict[str, Any] = {}

    def create_run() -> None:
        state["run"] = c.create_run("p", "r1", params={"lr": 0.5}, tags={"t": 1})

    steps: list[tuple[str, str, Callable[[], Any], Callable[[], str]]] = [
        ("project.create", "project", lambda: c.create_project("p", "desc"), lambda: "p"),
        ("run.create", "run", create_run, lambda: state["run"].id),
        ("run.log_params", "run", lambda: c.log_param(state["run"].id, "depth", 3), lambda: state["run"].id),
        ("run.set_tags", "run", lambda: c.set_tag(state["run"].id, "stage", "dev"), lambda: state["run"].id),
        (
            "run.delete_tag",
            "run",
            lambda: c.services.tracking.delete_tag(state["run"].id, "t"),
            lambda: state["run"].id,
        ),
        (
            "run.log_metrics",
            "run",
            lambda: c.log_metrics(state["run"].id, {"a": 1.0, "b": 2.0}, step=1),
            lambda: state["run"].id,
        ),
        ("run.log_artifacts", "run", lambda: c.log_artifact(state["run"].id, art), lambda: state["run"].id),
        ("dataset.add_version", "dataset", lambda: c.add_dataset(csv, "ds", project="p"), lambda: "ds"),
        ("run.log_inputs", "run", lambda: c.log_inputs(state["run"].id, ["ds@1"]), lambda: state["run"].id),
        ("run.end", "run", lambda: c.end_run(state["run"].id, "failed", "oom"), lambda: state["run"].id),
        ("run.delete", "run", lambda: c.delete_run(state["run"].id), lambda: state["run"].id),
        ("run.restore", "run", lambda: c.restore_run(state["run"].id), lambda: state["run"].id),
    ]
    for action, subject_type, change, subject_id in steps:
        before = all_events(c)
        change()
        after = all_events(c)
        assert len(after) == len(before) + 1, action
        new = after[0]
        assert (new.action, new.subject_type, new.subject_id, new.actor) == (
            action,
            subject_type,
            subject_id(),
            "tester",
        )
        assert new.seq == len(after)
        assert new.prev_hash == (before[0].hash if before else GENESIS_HASH)
    by_action = {e.action: e for e in all_events(c)}
    run = c.get_run(state["run"].id)
    assert by_action["run.create"].payload["params"] == {"lr": "0.5"}
    assert by_action["run.create"].time == run.start_time
    end = dict(by_action["run.end"].payload)
    # the run's params, tags and every metric value at the end, for verify --deep
    assert end.pop("params_digest") == pairs_digest(run.params.items())
    assert end.pop("tags_digest") == pairs_digest(run.tags.items())
    assert len(end.pop("metrics_digest")) == 64
    assert end == {"status": "failed", "error": "oom"}
    assert by_action["run.end"].time == run.end_time
    assert by_action["run.log_metrics"].payload["count"] == 2
    assert by_action["run.log_metrics"].payload["keys"] == ["a", "b"]
    assert by_action["run.log_artifacts"].payload["artifacts"][0][0] == "model.txt"
    v = c.verify_audit()
    assert (v.ok, v.count, v.broken_seq) == (True, len(steps), None)


@pytest.mark.parametrize("via", ["run", "dataset"])
def test_an_implicitly_created_project_is_audited(
    workspace: Workspace, tmp_path: Path, via: str, request: pytest.FixtureRequest
) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("a\n1\n")
    with workspace.client() as c:
        if via == "run":
            subject, action = c.create_run("fresh").id, "run.create"
        else:
            subject, action = c.add_dataset(csv, "ds", project="fresh")[0].name, "dataset.add_version"
        events = all_events(c)
        assert [(e.seq, e.action, e.subject_id) for e in events] == [
            (2, action, subject),
            (1, "project.create", "fresh"),
        ]
        assert events[1].payload == {"name": "fresh"}


def test_no_op_changes_append_nothing(client: Client, tmp_path: Path) -> None:
    run = client.create_run()
    client.end_run(run.id)
    csv = tmp_path / "d.csv"
    csv.write_text("a\n1\n")
    assert client.add_dataset(csv, "ds")[1] is True
    n = len(all_events(client))
    client.end_run(run.id)  # same status again
    assert client.add_dataset(csv, "ds")[1] is False  # identical content
    assert len(all_events(client)) == n


def test_failed_changes_leave_no_event_and_no_partial_record(client: Client, workspace: Workspace) -> None:
    c = client
    run = c.create_run("p", params={"lr": 0.1})
    c.log_metric(run.id, "m", 1.0)
    n_events = len(all_events(c))
    tables = {t: count_rows(c, t) for t in ("projects", "runs", "params", "metrics", "tags")}

    with pytest.raises(Conflict):
        c.log_params(run.id, {"new_key": 1, "lr": 0.2})  # conflicting value: nothing of the batch is kept
    assert c.get_run(run.id).params == {"lr": "0.1"}
    with pytest.raises(NotFound):
        c.end_run("0" * 32)
    with pytest.raises(NotFound):
        c.create_run("other-project", parent_id="f" * 32)  # the project it would create is rolled back
    with pytest.raises(AlreadyExists):
        c.services.tracking.create_run("third-project", run_id=run.id)
    assert [p.name for p, _ in c.list_projects()] == ["p"]
    c.end_run(run.id)
    n_events += 1
    with pytest.raises(Conflict):
        c.log_metric(run.id, "m", 2.0, step=1)
    with pytest.raises(Conflict):
        c.log_param(run.id, "late", 1)
    assert [m.value for m in c.get_metric_history(run.id, "m")] == [1.0]
    assert len(all_events(c)) == n_events
    assert {t: count_rows(c, t) for t in tables} == tables
    v = c.verify_audit()
    assert (v.ok, v.count) == (True, n_events)


def test_a_change_whose_event_cannot_be_written_is_rolled_back(client: Client) -> None:
    client.create_project("p")
    client.create_run("p")
    with raw_db(client) as conn:  # the ledger head disappears: nothing can be appended any more
        conn.execute(text("DELETE FROM audit_head"))
    runs_before = count_rows(client, "runs")
    with pytest.raises(AuditIntegrityError, match="audit head missing"):
        client.create_run("p", "doomed")
    assert count_rows(client, "runs") == runs_before
    assert "doomed" not in [r.name for r in client.search_runs("p").runs]
    assert len(all_events(client)) == 2


# -- verification and tampering -----------------------------------------------------
def test_verify_is_ok_with_the_event_count(client: Client) -> None:
    populate(client)
    v = client.verify_audit()
    assert (v.ok, v.count, v.broken_seq, v.reason) == (True, 6, None, None)


SWAPPED = "time, actor, action, subject_type, subject_id, payload, payload_digest, prev_hash, hash"


def _swap(conn: Connection, ev: list[AuditEvent], a: int = 3, b: int = 4) -> None:
    select = text(f"SELECT {SWAPPED} FROM audit_events WHERE seq = :s")
    rows = {s: conn.execute(select, {"s": s}).one()._asdict() for s in (a, b)}
    update = text(f"UPDATE audit_events SET {', '.join(f'{c} = :{c}' for c in rows[a])} WHERE seq = :seq")
    for dst, src in ((a, b), (b, a)):
        conn.execute(update, {**rows[src], "seq": dst})


def _set_payload(with_digest: bool) -> Callable[[Connection, list[AuditEvent]], None]:
    payload = {"params": {"depth": "4"}}
    extra = ", payload_digest = :d" if with_digest else ""
    stmt = text(f"UPDATE audit_events SET payload = :p{extra} WHERE seq = 3")
    return lambda conn, ev: conn.execute(stmt, {"p": json.dumps(payload), "d": payload_digest(payload)})


def _sql(stmt: str) -> Callable[[Connection, list[AuditEvent]], None]:
    return lambda conn, ev: conn.execute(text(stmt), {"h": ev[4].hash} if ":h" in stmt else {})


NO_MATCH = "hash does not match"
TAMPERING: dict[str, tuple[Callable[[Connection, list[AuditEvent]], Any], int, int, str]] = {
    # name: (tamper(conn, events oldest first), broken seq, events verified before it, words of the reason)
    "update_payload": (_set_payload(False), 3, 2, "altered"),
    "update_payload_and_digest": (_set_payload(True), 3, 2, NO_MATCH),
    "update_actor": (_sql("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4"), 4, 3, NO_MATCH),
    "update_time": (_sql("UPDATE audit_events SET time = time - 60 WHERE seq = 5"), 5, 4, NO_MATCH),
    "delete_middle": (_sql("DELETE FROM audit_events WHERE seq = 3"), 3, 2, "missing"),
    "delete_last": (_sql("DELETE FROM audit_events WHERE seq = 6"), 6, 5, "head"),
    "swap_rows": (_swap, 3, 2, "does not link"),
    "forged_row_valid_hash": (lambda conn, ev: insert_event(conn, forge(ev[-1])), 7, 7, "outside carnet"),
    "forged_row_garbage_hash": (
        lambda conn, ev: insert_event(conn, forge(ev[-1], garbage=True)),
        7,
        6,
        NO_MATCH,
    ),
    "head_rewound": (_sql("UPDATE audit_head SET seq = 5, hash = :h"), 6, 6, "outside carnet"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampering_is_detected_at_the_first_broken_event(client: Client, case: str) -> None:
    populate(client)
    tamper, broken, count, words = TAMPERING[case]
    events = list(reversed(all_events(client)))
    with raw_db(client) as conn:
        tamper(conn, events)
    v = client.verify_audit()
    assert (v.ok, v.broken_seq, v.count) == (False, broken, count), v
    assert words in v.reason


def test_a_forged_row_with_an_updated_head_passes_without_a_key(client: Client) -> None:
    """What the plain SHA-256 chain cannot catch (and why the HMAC mode exists)."""
    populate(client)
    row = forge(all_events(client)[0])
    with raw_db(client) as conn:
        insert_event(conn, row)
        conn.execute(text("UPDATE audit_head SET seq = 7, hash = :h"), {"h": row["hash"]})
    assert client.verify_audit().ok is True


# -- HMAC mode -------------------------------------------------------------------
def test_hmac_mode_detects_a_row_forged_without_the_key(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_AUDIT_KEY", "s3cret")
    with workspace.client() as c:
        assert c.settings.audit_key == "s3cret"
        populate(c)
        events = list(reversed(all_events(c)))
        prev = GENESIS_HASH
        for ev in events:  # stored hashes are HMACs under the key, not plain SHA-256
            assert ev.hash == chain_hash(prev, ev.body(), "s3cret") != chain_hash(prev, ev.body())
            prev = ev.hash
        assert c.verify_audit() == type(c.verify_audit())(True, 6)
        row = forge(events[-1])  # hash recomputed the way an attacker without the key would
        with raw_db(c) as conn:
            insert_event(conn, row)
            conn.execute(text("UPDATE audit_head SET seq = 7, hash = :h"), {"h": row["hash"]})
        v = c.verify_audit()
        assert (v.ok, v.broken_seq, v.count) == (False, 7, 6)
        assert "hash does not match" in v.reason


@pytest.mark.parametrize("key", [None, "wrong"])
def test_hmac_ledger_does_not_verify_without_the_right_key(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    monkeypatch.setenv("CARNET_AUDIT_KEY", "s3cret")
    with workspace.client() as c:
        populate(c)
    if key is None:
        monkeypatch.delenv("CARNET_AUDIT_KEY")
    else:
        monkeypatch.setenv("CARNET_AUDIT_KEY", key)
    with workspace.client() as c:
        v = c.verify_audit()
        assert (v.ok, v.broken_seq, v.count) == (False, 1, 0)


# -- reading the log -----------------------------------------------------------------
def test_log_filters_newest_first(client: Client) -> None:
    client.create_project("p")
    r1 = client.create_run("p")
    r2 = client.create_run("p")
    client.log_param(r1.id, "a", 1)
    client.log_metric(r2.id, "m", 0.5)
    client.end_run(r1.id, RunStatus.KILLED)
    log = client.services.audit.log
    assert [e.action for e in log("run", r1.id)] == ["run.end", "run.log_params", "run.create"]
    assert [e.seq for e in log("run", r1.id)] == [6, 4, 2]
    assert [e.subject_id for e in log(action="run.create")] == [r2.id, r1.id]
    assert [e.seq for e in log("run")] == [6, 5, 4, 3, 2]
    assert [(e.action, e.subject_id) for e in log("project")] == [("project.create", "p")]
    assert [e.seq for e in log(limit=2)] == [6, 5]
    assert [e.seq for e in log("run", r2.id, action="run.log_metrics")] == [5]
    assert log("run", "nope") == []
    assert log(action="run.delete") == []
    assert [e.seq for e in client.audit_log("run", r2.id)] == [5, 3]
    assert all(e.actor == "tester" for e in log())


def test_verify_during_concurrent_writes_is_not_a_false_alarm(workspace: Workspace) -> None:
    """An event committed by another writer while verify() runs must not look like tampering."""
    with workspace.client() as c, workspace.client() as other:
        c.create_project("p")
        c.create_run("p")
        fired: list[int] = []

        @event.listens_for(c.services.ctx.store.engine, "before_cursor_execute")
        def _append_meanwhile(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "FROM audit_head" in statement and not fired:
                fired.append(1)
                other.create_run("p")  # another process's write, committed mid-verification

        v = c.verify_audit()
        assert fired == [1]
        assert v.ok is True, v
        assert c.verify_audit() == type(v)(True, 3)
