"""Several processes writing to one workspace at once: no lock errors, nothing lost, the ledger intact."""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

from carnet import Client
from carnet.domain import Metric, RunStatus
from carnet.errors import AuditIntegrityError
from conftest import Workspace, drop_pg_schema, make_pg_schema, postgres_unreachable_reason

PROCS = 4
RUNS_PER_PROC = 25
STEPS = 100  # two keys x 100 steps = 200 metric values per run
BATCH = 50
EVENTS_PER_RUN = 1 + 1 + (2 * STEPS) // BATCH + 1 + 1  # create, params, metric batches, tags, end


def _stress_worker(uri: str, artifacts: str | None, project: str, idx: int, barrier: Any, out: Any) -> None:
    try:
        barrier.wait(timeout=120)
        with Client(uri, artifacts=artifacts) as c:
            ids = []
            for i in range(RUNS_PER_PROC):
                run = c.create_run(project, f"w{idx}-r{i}", params={"worker": idx, "i": i})
                c.log_params(run.id, {"lr": 0.01 * (i + 1), "seed": idx * 1000 + i})
                values = [
                    Metric(
                        key,
                        (1.0 if key == "loss" else 0.0) + step / STEPS * (-1 if key == "loss" else 1),
                        step,
                        1000.0 + step,
                    )
                    for step in range(STEPS)
                    for key in ("loss", "acc")
                ]
                for start in range(0, len(values), BATCH):
                    assert c.log_batch(run.id, values[start : start + BATCH]) == BATCH
                c.set_tags(run.id, {"worker": idx, "kind": "stress"})
                c.end_run(run.id)
                ids.append(run.id)
        out.put(("ok", idx, ids))
    except BaseException as exc:  # noqa: BLE001 - every failure is reported to the parent
        out.put(("error", idx, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def _spawn(target: Any, args_for: Any, procs: int = PROCS) -> list[tuple]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    workers = [ctx.Process(target=target, args=(*args_for(i), barrier, out)) for i in range(procs)]
    for w in workers:
        w.start()
    results: list[tuple] = []
    try:
        while len(results) < procs:
            try:
                results.append(out.get(timeout=1))
            except queue.Empty:
                assert any(w.is_alive() for w in workers) or not out.empty(), (
                    "a worker died without reporting"
                )
    finally:
        for w in workers:
            w.join(timeout=60)
    assert [w.exitcode for w in workers] == [0] * procs
    return sorted(results, key=lambda r: r[1])


def test_processes_write_one_workspace_concurrently(workspace: Workspace) -> None:
    with workspace.client() as c:  # the workspace exists (as after `carnet init`) and has the project
        c.create_project("stress")
    results = _spawn(_stress_worker, lambda i: (workspace.uri, workspace.artifacts, "stress", i))
    errors = [r[2] for r in results if r[0] != "ok"]
    assert errors == []
    assert not any("locked" in str(r) for r in results)
    ids = {rid for r in results for rid in r[2]}
    assert len(ids) == PROCS * RUNS_PER_PROC

    with workspace.client() as c:
        runs = c.search_runs("stress", max_results=1000).runs
        assert {r.id for r in runs} == ids
        assert {r.name for r in runs} == {f"w{w}-r{i}" for w in range(PROCS) for i in range(RUNS_PER_PROC)}
        for r in runs:
            w, i = (int(x) for x in r.name[1:].split("-r"))
            assert r.status is RunStatus.FINISHED
            assert r.params == {
                "worker": str(w),
                "i": str(i),
                "lr": str(0.01 * (i + 1)),
                "seed": str(w * 1000 + i),
            }
            assert r.tags == {"worker": str(w), "kind": "stress"}
            assert r.metrics == {"loss": pytest.approx(1.0 - (STEPS - 1) / STEPS), "acc": (STEPS - 1) / STEPS}
        sample = runs[0].id
        assert [m.step for m in c.get_metric_history(sample, "loss")] == list(range(STEPS))

        engine = create_engine(c.settings.metadata_url)
        try:
            with engine.connect() as conn:
                per_run = dict(
                    conn.execute(text("SELECT run_id, count(*) FROM metrics GROUP BY run_id")).all()
                )
                latest = conn.execute(text("SELECT count(*) FROM latest_metrics")).scalar()
        finally:
            engine.dispose()
        assert per_run == {rid: 2 * STEPS for rid in ids}
        assert latest == 2 * len(ids)

        expected_events = 1 + PROCS * RUNS_PER_PROC * EVENTS_PER_RUN
        v = c.verify_audit()
        assert (v.ok, v.count, v.broken_seq) == (True, expected_events, None), v
        events = c.services.audit.log(limit=None)
        assert [e.seq for e in events] == list(range(expected_events, 0, -1))
        creates = c.services.audit.log(action="run.create", limit=None)
        assert {e.subject_id for e in creates} == ids
        assert (
            len(c.services.audit.log(action="run.log_metrics", limit=None)) == len(ids) * 2 * STEPS // BATCH
        )
        assert {e.actor for e in events} == {"tester"}


# -- the very first writes on a brand-new workspace ------------------------------------
def _first_write_worker(uri: str, artifacts: str | None, idx: int, barrier: Any, out: Any) -> None:
    try:
        with Client(uri, artifacts=artifacts) as c:  # migrated; nothing written yet
            barrier.wait(timeout=120)
            a = c.create_run("default", f"shared-{idx}").id  # same new project for everyone
            b = c.create_run(f"own-{idx}").id  # a new project per process
        out.put(("ok", idx, [a, b]))
    except BaseException as exc:  # noqa: BLE001
        out.put(("error", idx, f"{type(exc).__name__}: {exc}"))


def test_first_writes_on_a_new_sqlite_workspace_race_safely(tmp_path: Path) -> None:
    uri = str(tmp_path / "fresh")
    results = _spawn(_first_write_worker, lambda i: (uri, None, i))
    assert [r[0] for r in results] == ["ok"] * PROCS, results
    with Client(uri) as c:
        projects = {p.name: n for p, n in c.list_projects()}
        assert projects == {"default": PROCS, **{f"own-{i}": 1 for i in range(PROCS)}}
        v = c.verify_audit()
        assert (v.ok, v.count) == (True, 1 + PROCS + 2 * PROCS)  # default + own projects, 2 runs each


@pytest.fixture
def pg_workspace(tmp_path: Path) -> Iterator[Workspace]:
    reason = postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    schema, uri = make_pg_schema()
    try:
        yield Workspace(uri, "file://" + str(tmp_path / "artifacts"), "postgres", tmp_path, schema)
    finally:
        drop_pg_schema(schema)


def _interleave(
    c: Client, marker: str, other_write: Any, when: str = "before", rows: int | None = None
) -> list[int]:
    """Run ``other_write`` (committed by another client) around ``c``'s statement starting with ``marker``.

    With ``rows``, only when that statement's cursor reports that many rows (e.g. 0: nothing found).
    """
    fired: list[int] = []

    @event.listens_for(c.services.ctx.store.engine, f"{when}_cursor_execute")
    def _hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if marker in statement and not fired and (rows is None or cursor.rowcount == rows):
            fired.append(1)
            other_write()

    return fired


def test_postgres_two_writers_creating_the_same_new_project(pg_workspace: Workspace) -> None:
    with pg_workspace.client() as c, pg_workspace.client() as other:
        c.create_project("warmup")
        # the other writer creates "shared" after this one found it missing, before it inserts it
        fired = _interleave(c, "INSERT INTO projects", lambda: other.create_run("shared", "theirs"))
        mine = c.create_run("shared", "mine")
        assert fired == [1]
        assert sorted(r.name for r in c.search_runs("shared").runs) == ["mine", "theirs"]
        assert [(p.name, n) for p, n in c.list_projects()] == [("shared", 2), ("warmup", 0)]
        assert c.services.audit.log(action="run.create")[0].subject_id == mine.id
        # (whether the implicit project.create is audited is tested in tests/services/test_audit.py)
        assert c.verify_audit().ok


def test_postgres_writers_refuse_to_append_when_the_ledger_head_is_missing(pg_workspace: Workspace) -> None:
    """A ledger whose head row was deleted takes no change from any writer: no change, no event."""
    with pg_workspace.client() as c, pg_workspace.client() as other:
        c.create_project("before")
        engine = create_engine(c.settings.metadata_url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM audit_head"))
        finally:
            engine.dispose()
        errors: list[BaseException] = []

        def theirs() -> None:
            try:
                other.create_project("theirs")
            except AuditIntegrityError as exc:
                errors.append(exc)

        thread = threading.Thread(target=theirs)
        thread.start()
        with pytest.raises(AuditIntegrityError, match="audit head missing"):
            c.create_project("mine")
        thread.join()
        assert len(errors) == 1 and "audit head missing" in str(errors[0])
        assert [p.name for p, _ in c.list_projects()] == ["before"]
        assert [e.seq for e in c.services.audit.log()] == [1]
        v = c.verify_audit()
        assert not v.ok and "head" in (v.reason or "")
