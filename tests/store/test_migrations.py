"""Schema migrations: the Alembic path, the fast path (create_all + stamp) and concurrent first opens."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

import carnet.store.sql.migrations as migrations_pkg
from carnet.config import resolve_settings
from carnet.store.sql.engine import (
    HEAD_REVISION,
    create_store_engine,
    current_revision,
    run_alembic_upgrade,
    upgrade_schema,
)
from carnet.store.sql.tables import metadata
from conftest import Workspace, drop_pg_schema, make_pg_schema, postgres_unreachable_reason

ALL_TABLES = set(metadata.tables) | {"alembic_version"}


def metadata_url(uri: str, artifacts: str | None) -> str:
    return resolve_settings(uri, artifacts=artifacts).metadata_url


@pytest.fixture
def two_empty_dbs(workspace: Workspace) -> Iterator[tuple[str, str]]:
    """Two brand-new empty metadata databases of the workspace's backend."""
    if workspace.backend == "sqlite":
        yield (
            f"sqlite:///{workspace.path / 'a' / 'carnet.db'}",
            f"sqlite:///{workspace.path / 'b' / 'carnet.db'}",
        )
        return
    schema, uri = make_pg_schema()
    try:
        yield metadata_url(workspace.uri, workspace.artifacts), metadata_url(uri, workspace.artifacts)
    finally:
        drop_pg_schema(schema)


@pytest.fixture
def engines(two_empty_dbs: tuple[str, str]) -> Iterator[tuple[Engine, Engine]]:
    a, b = (create_store_engine(url) for url in two_empty_dbs)
    try:
        yield a, b
    finally:
        a.dispose()
        b.dispose()


def diff_against_tables(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def snapshot(engine: Engine) -> dict[str, dict[str, Any]]:
    """Tables, columns, keys, indexes and constraints as the database reports them."""
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        insp = inspect(conn)
        for name in sorted(insp.get_table_names()):
            pk = insp.get_pk_constraint(name)
            out[name] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                    for c in insp.get_columns(name)
                ],
                "pk": (pk.get("name"), tuple(pk["constrained_columns"])),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(name)
                ),
                "uniques": sorted(
                    (u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(name)
                ),
                "fks": sorted(
                    (
                        f["name"],
                        tuple(f["constrained_columns"]),
                        f["referred_table"],
                        tuple(f["referred_columns"]),
                        (f.get("options") or {}).get("ondelete"),
                    )
                    for f in insp.get_foreign_keys(name)
                ),
            }
    return out


def version_rows(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def table_rows(engine: Engine, table: str) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {table}")))


# -- (a) the Alembic path matches the table definitions ---------------------------
def test_alembic_upgrade_matches_table_definitions(engines: tuple[Engine, Engine]) -> None:
    engine = engines[0]
    assert current_revision(engine) is None
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) == set()
    with engine.begin() as conn:
        run_alembic_upgrade(conn)
    assert current_revision(engine) == HEAD_REVISION
    assert version_rows(engine) == [HEAD_REVISION]
    assert set(snapshot(engine)) == ALL_TABLES
    assert diff_against_tables(engine) == []


def test_compare_metadata_detects_a_missing_index(engines: tuple[Engine, Engine]) -> None:
    """The comparison above has teeth: a schema that drifted from tables.py is reported."""
    engine = engines[0]
    with engine.begin() as conn:
        run_alembic_upgrade(conn)
        conn.execute(text("DROP INDEX ix_metrics_run_id_key_step"))
    diffs = diff_against_tables(engine)
    assert [(d[0], d[1].name) for d in diffs] == [("add_index", "ix_metrics_run_id_key_step")]


def test_alembic_downgrade_to_base_removes_every_table(engines: tuple[Engine, Engine]) -> None:
    engine = engines[0]
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations_pkg.__file__).parent))
    with engine.begin() as conn:
        run_alembic_upgrade(conn)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    assert current_revision(engine) is None
    with engine.begin() as conn:  # and back up again
        run_alembic_upgrade(conn)
    assert diff_against_tables(engine) == []


# -- (b) the fast path gives the same schema as the Alembic path -------------------
def test_fast_path_equals_alembic_path(engines: tuple[Engine, Engine]) -> None:
    fast, slow = engines
    assert upgrade_schema(fast) == HEAD_REVISION
    with slow.begin() as conn:
        run_alembic_upgrade(conn)
    fast_schema, slow_schema = snapshot(fast), snapshot(slow)
    assert set(fast_schema) == ALL_TABLES
    for table in sorted(metadata.tables):
        assert fast_schema[table] == slow_schema[table], table
    # alembic_version: same columns; only its primary key's name differs (Alembic names it
    # "alembic_version_pkc", the fast path lets the database name it), which Alembic ignores
    assert fast_schema["alembic_version"]["columns"] == slow_schema["alembic_version"]["columns"]
    assert (
        fast_schema["alembic_version"]["pk"][1] == slow_schema["alembic_version"]["pk"][1] == ("version_num",)
    )
    # a few named objects, so an empty snapshot cannot pass
    assert ("ix_runs_project_id_start_time", ("project_id", "start_time"), False) in fast_schema["runs"][
        "indexes"
    ]
    assert ("uq_projects_name", ("name",)) in fast_schema["projects"]["uniques"]
    assert fast_schema["audit_events"]["pk"] == ("pk_audit_events", ("seq",))
    assert any(fk[4] == "CASCADE" for fk in fast_schema["metrics"]["fks"])
    assert version_rows(fast) == version_rows(slow) == [HEAD_REVISION]
    assert diff_against_tables(fast) == []
    # and the same rows: whatever either path seeds (e.g. the ledger head) the other seeds too
    for table in sorted(metadata.tables):
        assert table_rows(fast, table) == table_rows(slow, table), table


# -- (c) idempotence ---------------------------------------------------------------
def test_upgrade_schema_is_idempotent(engines: tuple[Engine, Engine]) -> None:
    engine = engines[0]
    assert current_revision(engine) is None
    assert upgrade_schema(engine) == HEAD_REVISION
    before = snapshot(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO projects (name, description, created_at) VALUES ('keep', '', 1.0)"))
    assert upgrade_schema(engine) == HEAD_REVISION
    assert upgrade_schema(engine, force=True) == HEAD_REVISION  # Alembic path on an up-to-date database
    assert current_revision(engine) == HEAD_REVISION
    assert version_rows(engine) == [HEAD_REVISION]
    assert snapshot(engine) == before
    with engine.connect() as conn:
        assert list(conn.execute(text("SELECT name FROM projects")).scalars()) == ["keep"]


def test_upgrade_schema_on_a_database_migrated_by_alembic_is_a_no_op(engines: tuple[Engine, Engine]) -> None:
    engine = engines[0]
    with engine.begin() as conn:
        run_alembic_upgrade(conn)
    before = snapshot(engine)
    assert upgrade_schema(engine) == HEAD_REVISION
    assert snapshot(engine) == before
    assert version_rows(engine) == [HEAD_REVISION]


def test_reopening_a_workspace_keeps_its_data(workspace: Workspace) -> None:
    with workspace.client() as c:
        c.create_project("p")
        run = c.create_run("p", params={"lr": 0.1})
    with workspace.client() as c:
        assert c.get_run(run.id).params == {"lr": "0.1"}
        assert current_revision(c.services.ctx.store.engine) == HEAD_REVISION
        assert c.verify_audit().count == 2


# -- (d) processes opening a brand-new workspace at the same moment -----------------
def _open_worker(uris: list[str], artifacts: str | None, write: bool, barrier: Any, out: Any) -> None:
    from carnet import Client

    for uri in uris:
        try:
            barrier.wait(timeout=120)
            with Client(uri, artifacts=artifacts) as c:
                run_id = c.create_run().id if write else None
                out.put(("ok", uri, run_id, [p.name for p, _ in c.list_projects()]))
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            out.put(("error", uri, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", None))


def _run_openers(uris: list[str], artifacts: str | None, write: bool, procs: int = 2) -> list[tuple]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    workers = [
        ctx.Process(target=_open_worker, args=(uris, artifacts, write, barrier, out)) for _ in range(procs)
    ]
    for w in workers:
        w.start()
    results = [out.get(timeout=240) for _ in range(procs * len(uris))]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    return results


def test_two_processes_open_a_new_sqlite_workspace_at_once(tmp_path: Path) -> None:
    folders = [tmp_path / f"ws{i}" for i in range(5)]
    results = _run_openers([str(f) for f in folders], None, write=True)
    errors = [r for r in results if r[0] != "ok"]
    assert errors == []
    from carnet import Client

    for folder in folders:
        mine = [r for r in results if r[1] == str(folder)]
        assert len({r[2] for r in mine}) == 2  # two distinct runs
        with Client(str(folder), create=False) as c:
            assert current_revision(c.services.ctx.store.engine) == HEAD_REVISION
            assert version_rows(c.services.ctx.store.engine) == [HEAD_REVISION]
            assert [(p.name, n) for p, n in c.list_projects()] == [("default", 2)]
            assert {r.id for r in c.search_runs().runs} == {r[2] for r in mine}
            v = c.verify_audit()
            assert (v.ok, v.count) == (True, 3)  # project.create + 2 x run.create


def test_opening_a_new_sqlite_workspace_waits_for_a_writer_on_the_file(tmp_path: Path) -> None:
    """What the other process does during the race above: hold a write lock on the new, empty file."""
    from carnet import Client

    folder = tmp_path / "ws"
    folder.mkdir()
    other = sqlite3.connect(folder / "carnet.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    try:
        with Client(str(folder)) as c:  # must wait for the lock (busy timeout), as any other write does
            run = c.create_run()
            assert c.get_run(run.id).id == run.id
            assert version_rows(c.services.ctx.store.engine) == [HEAD_REVISION]
    finally:
        release.join()
        other.close()


def test_two_processes_migrate_a_new_postgres_schema_at_once(tmp_path: Path) -> None:
    reason = postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    schema, uri = make_pg_schema()
    artifacts = "file://" + str(tmp_path / "artifacts")
    engine = create_store_engine(metadata_url(uri, artifacts))
    try:
        results = _run_openers([uri], artifacts, write=False)
        assert [r[0] for r in results] == ["ok", "ok"], results
        assert version_rows(engine) == [HEAD_REVISION]
        assert diff_against_tables(engine) == []
    finally:
        engine.dispose()
        drop_pg_schema(schema)
