"""Engine creation and schema migration for SQLite and PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` so that concurrent writers queue on the lock instead of
failing with "database is locked" when a read transaction tries to upgrade.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.exc import OperationalError, ProgrammingError

from carnet.domain.audit import GENESIS_HASH
from carnet.errors import InvalidInput, StorageError
from carnet.store.sql.tables import audit_head, metadata

__all__ = ["HEAD_REVISION", "create_store_engine", "current_revision", "upgrade_schema"]

HEAD_REVISION = "0011"
SQLITE_BUSY_TIMEOUT_MS = 60_000
_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 7_341_002  # advisory lock id serialising concurrent migrations
_version_table = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def _enable_wal(cur: Any) -> None:
    """Switch a database file to WAL, waiting out other connections' locks up to the busy timeout.

    SQLite answers "database is locked" at once (without the busy handler) when the journal
    mode changes while another connection holds a lock, which happens when several processes
    open a brand-new workspace together.
    """
    import sqlite3
    import time

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _sqlite_setup(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cur)
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "BEGIN" if conn.get_execution_options().get("carnet_readonly") else "BEGIN IMMEDIATE"
        conn.exec_driver_sql(mode)


def _nul_field(parameters: Any, names: Sequence[str] | None) -> str | None:
    """The name of the first bound text value holding U+0000 (``"a value"`` when unnamed), else None."""
    many = (
        isinstance(parameters, list | tuple)
        and bool(parameters)
        and isinstance(parameters[0], dict | list | tuple)
    )
    for row in parameters if many else [parameters]:
        items = row.items() if isinstance(row, dict) else enumerate(row or ())
        for key, value in items:
            if isinstance(value, str) and "\x00" in value:
                if isinstance(key, int):
                    key = names[key] if names is not None and key < len(names) else "a value"
                return re.sub(r"_\d+$", "", str(key))
    return None


def _refuse_nul(engine: Engine) -> None:
    """Refuse text holding U+0000 on every backend, as PostgreSQL does, with InvalidInput not a driver error.

    PostgreSQL text cannot store NUL; SQLite can. Checking every bound value here keeps both
    backends alike and turns what would be a database error into a user error naming the column.
    """

    @event.listens_for(engine, "before_cursor_execute")
    def _check(
        _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        compiled = getattr(_context, "compiled", None)
        field = _nul_field(parameters, getattr(compiled, "positiontup", None))
        if field is not None:
            raise InvalidInput(
                f"{field}: text may not contain the NUL character (U+0000); remove it", field=field
            )


def create_store_engine(url: str, *, synchronous: str = "FULL") -> Engine:
    """Create the SQLAlchemy engine for a metadata URL (``sqlite:///`` or ``postgresql+psycopg://``).

    Raises:
        InvalidInput: the URL's driver is not installed or the path's folder cannot be created.
    """
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite:///") :])
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(f"cannot create folder {db.parent} for the workspace: {exc.strerror}") from exc
        engine = create_engine(url, connect_args={"timeout": 60})
        _sqlite_setup(engine, synchronous)
        _refuse_nul(engine)
        return engine
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise InvalidInput(
                "PostgreSQL workspaces need psycopg: pip install 'carnet[postgres]'", field="uri"
            ) from exc
        engine = create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args={"connect_timeout": 10}
        )
        _refuse_nul(engine)
        return engine
    raise InvalidInput(f"unsupported metadata URL {url!r}", field="uri")


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    try:
        with engine.connect().execution_options(carnet_readonly=True) as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError) as exc:
        msg = str(exc.orig) if exc.orig is not None else str(exc)
        if "alembic_version" in msg and ("no such table" in msg or "does not exist" in msg):
            return None
        raise StorageError(f"cannot reach the metadata database {engine.url!r}: {_one_line(msg)}") from exc


def _one_line(msg: str) -> str:
    return " ".join(msg.strip().splitlines()[:1])


def upgrade_schema(engine: Engine, *, force: bool = False) -> str:
    """Bring the schema to the head revision (safe when several processes do it at once).

    An empty database gets the tables created directly and is stamped at the head
    revision (the path Alembic recommends for new databases, and much faster);
    an existing one is migrated by Alembic. A test checks both give the same schema.

    Returns:
        The revision the database is at afterwards.
    """
    if not force and current_revision(engine) == HEAD_REVISION:
        return HEAD_REVISION
    with engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite: one migrator at a time
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        names = set(inspect(conn).get_table_names())
        if not force and not names & set(metadata.tables):
            metadata.create_all(conn)
            conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS_HASH))
            _version_table.create(conn, checkfirst=True)
            conn.execute(_version_table.delete())
            conn.execute(_version_table.insert().values(version_num=HEAD_REVISION))
            return HEAD_REVISION
        run_alembic_upgrade(conn)
    return HEAD_REVISION


def run_alembic_upgrade(conn: Connection, revision: str = "head") -> None:
    """Run the Alembic migrations on ``conn`` (inside its transaction)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)
