"""``carnet init`` of a new SQLite workspace: the shipped SQL, run with sqlite3, without SQLAlchemy.

The fast path must make exactly what ``upgrade_schema`` makes on an empty database, and stay in step
with ``tables.py``: after a schema change, regenerate the shipped file with
``python -m carnet.store.sql.sqlite_schema --write``.
"""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import carnet.bootstrap as bootstrap
from carnet.config import resolve_settings
from carnet.errors import InvalidInput
from carnet.store.sql import sqlite_schema
from carnet.store.sql.engine import HEAD_REVISION, create_store_engine, current_revision, upgrade_schema
from carnet.store.sql.tables import metadata

REGENERATE = "python -m carnet.store.sql.sqlite_schema --write"


def test_shipped_schema_matches_the_tables() -> None:
    shipped = sqlite_schema.SCHEMA_PATH.read_text(encoding="utf-8")
    assert shipped == sqlite_schema.render(), (
        f"{sqlite_schema.SCHEMA_PATH.name} is stale (tables.py or the head revision changed): "
        f"regenerate it with `{REGENERATE}` and commit the result"
    )


def test_bootstrap_runs_the_shipped_file() -> None:
    assert bootstrap.SQLITE_SCHEMA.resolve() == sqlite_schema.SCHEMA_PATH.resolve()
    assert sqlite_schema.main(["--check"]) == 0


def test_schema_generator_write_and_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "schema.sql"
    monkeypatch.setattr(sqlite_schema, "SCHEMA_PATH", target)
    assert sqlite_schema.main(["--check"]) == 1  # missing
    assert sqlite_schema.main(["--write"]) == 0
    assert target.read_text(encoding="utf-8") == sqlite_schema.render()
    assert sqlite_schema.main(["--check"]) == 0
    target.write_text(target.read_text(encoding="utf-8").replace("run_id", "runid"), encoding="utf-8")
    assert sqlite_schema.main(["--check"]) == 1


def normalized_schema(db: Path) -> list[tuple[str, str, str, str | None]]:
    """sqlite_master with whitespace collapsed (the fast path's SQL is laid out differently)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    conn.close()
    return sorted((t, n, tbl, None if sql is None else " ".join(sql.split())) for t, n, tbl, sql in rows)


def all_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        out = {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall()) for name in names}
    conn.close()
    return out


def pragma(db: Path, name: str) -> Any:
    with sqlite3.connect(db) as conn:
        value = conn.execute(f"PRAGMA {name}").fetchone()[0]
    conn.close()
    return value


def diff_against_tables(db: Path) -> list[Any]:
    engine = create_store_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    finally:
        engine.dispose()


@pytest.fixture
def fast_and_slow(tmp_path: Path) -> tuple[Path, Path]:
    """One workspace database made by init_workspace, one by upgrade_schema (SQLAlchemy)."""
    info = bootstrap.init_workspace(resolve_settings(str(tmp_path / "fast")))
    assert info["created"] is True and info["schema_revision"] == HEAD_REVISION
    slow_db = tmp_path / "slow" / "carnet.db"
    engine = create_store_engine(f"sqlite:///{slow_db}")
    try:
        assert upgrade_schema(engine) == HEAD_REVISION
    finally:
        engine.dispose()
    return tmp_path / "fast" / "carnet.db", slow_db


def test_fast_path_makes_what_upgrade_schema_makes(fast_and_slow: tuple[Path, Path]) -> None:
    fast, slow = fast_and_slow
    schema = normalized_schema(fast)
    assert schema == normalized_schema(slow)
    names = {name for kind, name, _, _ in schema if kind == "table"}
    assert names == set(metadata.tables) | {"alembic_version"}  # an empty schema cannot pass
    assert any("CONSTRAINT alembic_version_pkc PRIMARY KEY" in (sql or "") for *_, sql in schema)
    assert all_rows(fast) == all_rows(slow)
    assert all_rows(fast)["audit_head"] == [(1, 0, "0" * 64, None, None, None)]
    assert all_rows(fast)["alembic_version"] == [(HEAD_REVISION,)]
    assert pragma(fast, "journal_mode") == pragma(slow, "journal_mode") == "wal"
    assert diff_against_tables(fast) == []


def test_fast_path_workspace_works_through_the_client(tmp_path: Path) -> None:
    from carnet import Client

    ws = tmp_path / "ws"
    info = bootstrap.init_workspace(resolve_settings(str(ws)))
    assert info["created"] is True
    assert (ws / "artifacts").is_dir()
    src = tmp_path / "weights.bin"
    src.write_bytes(b"weights")
    with Client(str(ws), create=False) as c:
        assert current_revision(c.services.ctx.store.engine) == HEAD_REVISION
        run = c.create_run("p", params={"lr": 0.1})
        c.log_metrics(run.id, {"loss": 0.5})
        c.log_artifact(run.id, src)
        c.end_run(run.id)
        again = c.get_run(run.id)
        assert again.params == {"lr": "0.1"}
        assert [a.path for a in c.list_artifacts(run.id)] == ["weights.bin"]
        verification = c.verify_audit()
        assert verification.ok and verification.count >= 2
    # opening it again is the normal path and changes nothing
    again_info = bootstrap.init_workspace(resolve_settings(str(ws)))
    assert (again_info["created"], again_info["schema_revision"]) == (False, HEAD_REVISION)


def test_init_workspace_of_a_sqlite_uri_and_an_existing_file(tmp_path: Path) -> None:
    settings = resolve_settings(f"sqlite:///{tmp_path / 'deep' / 'meta.db'}")
    info = bootstrap.init_workspace(settings)
    assert info == {
        "uri": settings.uri,
        "metadata": settings.metadata_url,
        "artifacts": settings.artifact_root,
        "schema_revision": HEAD_REVISION,
        "created": True,
    }
    assert (tmp_path / "deep" / "artifacts").is_dir()
    assert diff_against_tables(tmp_path / "deep" / "meta.db") == []
    # an empty file (e.g. just opened by another process) is new too
    empty = tmp_path / "empty" / "carnet.db"
    empty.parent.mkdir()
    empty.touch()
    info = bootstrap.init_workspace(resolve_settings(str(empty.parent)))
    assert (info["created"], info["schema_revision"]) == (True, HEAD_REVISION)
    assert normalized_schema(empty) == normalized_schema(tmp_path / "deep" / "meta.db")
    # a database with other tables takes the migrating path, which adds carnet's
    other = tmp_path / "other" / "carnet.db"
    other.parent.mkdir()
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE other_tool (x INTEGER)")
    conn.close()
    info = bootstrap.init_workspace(resolve_settings(str(other.parent)))
    assert (info["created"], info["schema_revision"]) == (False, HEAD_REVISION)
    assert [(d[0], d[1].name) for d in diff_against_tables(other)] == [("remove_table", "other_tool")]


def test_a_database_filled_meanwhile_is_left_alone(tmp_path: Path) -> None:
    """What the loser of a race finds under the lock: a file that is no longer empty."""
    db = tmp_path / "carnet.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE other_tool (x INTEGER)")
    conn.close()
    statements = bootstrap._sqlite_schema_statements()
    assert statements is not None
    assert bootstrap._create_sqlite_metadata(db, statements) is None
    assert [r[1] for r in normalized_schema(db)] == ["other_tool"]


def test_without_the_schema_file_sqlalchemy_creates_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken install (the .sql file left out of the package) is slower, not broken."""
    monkeypatch.setattr(bootstrap, "SQLITE_SCHEMA", tmp_path / "missing.sql")
    info = bootstrap.init_workspace(resolve_settings(str(tmp_path / "ws")))
    assert (info["created"], info["schema_revision"]) == (True, HEAD_REVISION)
    assert diff_against_tables(tmp_path / "ws" / "carnet.db") == []


def test_unusable_folder_is_invalid_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InvalidInput, match="cannot create folder"):
        bootstrap.init_workspace(resolve_settings(str(blocker / "ws")))


def test_init_never_imports_sqlalchemy_nor_other_commands(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import json, sys
        from click.testing import CliRunner
        from carnet.cli.main import cli

        result = CliRunner().invoke(cli, ["init", sys.argv[1], "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["created"] is True
        heavy = [
            m for m in sys.modules
            if m.split(".")[0] in ("sqlalchemy", "alembic", "fsspec", "rich", "pandas", "numpy")
            or m in ("carnet.services", "carnet.client", "carnet.cli.runs", "carnet.cli.data",
                     "carnet.cli.audit", "carnet.cli.quickstart", "carnet.store.sql")
        ]
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "ws")], check=True, cwd=tmp_path)
    assert diff_against_tables(tmp_path / "ws" / "carnet.db") == []


def _init_worker(folders: list[str], barrier: Any, out: Any, client: bool = False) -> None:
    from carnet import Client
    from carnet.bootstrap import init_workspace
    from carnet.config import resolve_settings

    for folder in folders:
        try:
            barrier.wait(timeout=120)
            if client:  # the SQLAlchemy path: open (creating and migrating) and write
                with Client(folder) as c:
                    out.put(("ok", folder, c.create_run().id, None))
                continue
            info = init_workspace(resolve_settings(folder))
            out.put(("ok", folder, info["created"], info["schema_revision"]))
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            out.put(("error", folder, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", None))


def test_concurrent_inits_of_one_new_workspace(tmp_path: Path) -> None:
    folders = [str(tmp_path / f"ws{i}") for i in range(4)]
    ctx = mp.get_context("spawn")
    procs = 3
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    workers = [ctx.Process(target=_init_worker, args=(folders, barrier, out)) for _ in range(procs)]
    for w in workers:
        w.start()
    results = [out.get(timeout=240) for _ in range(procs * len(folders))]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    assert [r for r in results if r[0] != "ok"] == []
    for folder in folders:
        mine = [r for r in results if r[1] == folder]
        assert sorted(r[2] for r in mine) == [False] * (procs - 1) + [True]  # exactly one creator
        assert {r[3] for r in mine} == {HEAD_REVISION}
        db = Path(folder) / "carnet.db"
        assert all_rows(db)["alembic_version"] == [(HEAD_REVISION,)]
        assert all_rows(db)["audit_head"] == [(1, 0, "0" * 64, None, None, None)]
        assert diff_against_tables(db) == []


def test_init_racing_a_client_on_a_new_workspace(tmp_path: Path) -> None:
    """``carnet init`` (sqlite3) and a script's Client (SQLAlchemy) creating the same workspace at once."""
    from carnet import Client

    folders = [str(tmp_path / f"ws{i}") for i in range(4)]
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    workers = [
        ctx.Process(target=_init_worker, args=(folders, barrier, out, client)) for client in (False, True)
    ]
    for w in workers:
        w.start()
    results = [out.get(timeout=240) for _ in range(2 * len(folders))]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    assert [r for r in results if r[0] != "ok"] == []
    for folder in folders:
        db = Path(folder) / "carnet.db"
        assert all_rows(db)["alembic_version"] == [(HEAD_REVISION,)]
        assert diff_against_tables(db) == []
        with Client(folder, create=False) as c:
            assert len(c.search_runs().runs) == 1
            verification = c.verify_audit()
            assert verification.ok and verification.count == 2  # project.create + run.create
