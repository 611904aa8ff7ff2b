"""The SQL metadata store: engine, migrations and transactions over the repositories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from carnet.domain import Project
from carnet.errors import AlreadyExists, CarnetError, NotFound, StorageError
from carnet.store.sql import tables as t
from carnet.store.sql.audit import SqlAuditRepo
from carnet.store.sql.audit_state import SqlStateReader
from carnet.store.sql.auth import SqlAuthRepo
from carnet.store.sql.chunks import SqlChunkRepo
from carnet.store.sql.datasets import SqlDatasetRepo
from carnet.store.sql.deployments import SqlDeploymentRepo
from carnet.store.sql.dialect import insert_for
from carnet.store.sql.engine import create_store_engine, upgrade_schema
from carnet.store.sql.models import SqlModelRepo
from carnet.store.sql.monitors import SqlMonitorRepo
from carnet.store.sql.runs import SqlRunRepo

__all__ = ["SqlMetadataStore", "SqlProjectRepo", "SqlTransaction"]

_PROJECT_BY_NAME = select(t.projects).where(t.projects.c.name == bindparam("name"))


class SqlProjectRepo:
    """Projects on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def find(self, name: str) -> Project | None:
        """The project named ``name``, or None."""
        row = self.conn.execute(_PROJECT_BY_NAME, {"name": name}).first()
        return None if row is None else Project(row.id, row.name, row.description, row.created_at)

    def get(self, name: str) -> Project:
        """The project named ``name``; NotFound otherwise."""
        project = self.find(name)
        if project is None:
            raise NotFound(
                f"no project named {name!r}; list projects with: carnet projects list", field="project"
            )
        return project

    def ensure(self, name: str, now: float) -> tuple[Project, bool]:
        """The project ``name``, inserted when absent (safe against a concurrent insert); True if created."""
        ins = insert_for(self.conn, t.projects)
        res = self.conn.execute(
            ins.values(name=name, description="", created_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(t.projects.c.id)
        )
        created = res.first() is not None
        project = self.find(name)
        assert project is not None
        return project, created

    def create(self, name: str, description: str, now: float) -> Project:
        """Insert a project."""
        inserted = self.conn.execute(
            t.projects.insert().values(name=name, description=description, created_at=now)
        ).inserted_primary_key
        assert inserted is not None
        pid = inserted[0]
        return Project(int(pid), name, description, now)

    def list(self) -> list[Project]:
        """Every project by name."""
        rows = self.conn.execute(select(t.projects).order_by(t.projects.c.name))
        return [Project(r.id, r.name, r.description, r.created_at) for r in rows]


@dataclass
class SqlTransaction:
    """One transaction; every repository works on its connection."""

    conn: Connection
    projects: SqlProjectRepo = field(init=False)
    runs: SqlRunRepo = field(init=False)
    datasets: SqlDatasetRepo = field(init=False)
    chunks: SqlChunkRepo = field(init=False)
    audit: SqlAuditRepo = field(init=False)
    models: SqlModelRepo = field(init=False)
    deployments: SqlDeploymentRepo = field(init=False)
    monitors: SqlMonitorRepo = field(init=False)
    auth: SqlAuthRepo = field(init=False)
    state: SqlStateReader = field(init=False)
    committed: list[Callable[[], None]] = field(default_factory=list)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction has committed (never when it rolls back)."""
        self.committed.append(callback)

    def __post_init__(self) -> None:
        self.projects = SqlProjectRepo(self.conn)
        self.runs = SqlRunRepo(self.conn)
        self.datasets = SqlDatasetRepo(self.conn)
        self.chunks = SqlChunkRepo(self.conn)
        self.audit = SqlAuditRepo(self.conn)
        self.models = SqlModelRepo(self.conn)
        self.deployments = SqlDeploymentRepo(self.conn)
        self.monitors = SqlMonitorRepo(self.conn)
        self.auth = SqlAuthRepo(self.conn)
        self.state = SqlStateReader(self.conn)


class SqlMetadataStore:
    """Metadata of a workspace in SQLite or PostgreSQL; migrates itself on first use."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine: Engine = create_store_engine(url)
        self._migrated = False
        if migrate:
            self.upgrade()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def upgrade(self) -> str:
        """Apply pending migrations; returns the revision."""
        try:
            rev = upgrade_schema(self.engine)
        except DBAPIError as exc:
            raise StorageError(
                f"cannot migrate the metadata database {self._safe_url()}: {_first_line(exc)}"
            ) from exc
        self._migrated = True
        return rev

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[SqlTransaction]:
        """A transaction: committed when the block succeeds, rolled back on any error."""
        try:
            conn = self.engine.connect()
        except DBAPIError as exc:
            raise StorageError(
                f"cannot reach the metadata database {self._safe_url()}: {_first_line(exc)}; "
                "check the workspace URI and that the server is running"
            ) from exc
        try:
            if not write:  # one consistent snapshot for multi-statement reads (verify, search)
                opts: dict[str, Any] = {"carnet_readonly": True}
                if conn.dialect.name == "postgresql":
                    opts["isolation_level"] = "REPEATABLE READ"
                conn = conn.execution_options(**opts)
            with conn.begin():
                tx = SqlTransaction(conn)
                yield tx
        except CarnetError:
            raise
        except IntegrityError as exc:
            raise AlreadyExists(
                f"the record already exists or breaks a constraint: {_first_line(exc)}"
            ) from exc
        except DBAPIError as exc:
            raise StorageError(f"metadata database error on {self._safe_url()}: {_first_line(exc)}") from exc
        finally:
            conn.close()
        for callback in tx.committed:  # observers only: they never raise (see carnet.services.hooks)
            callback()

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()


def _first_line(exc: DBAPIError) -> str:
    msg = str(exc.orig) if exc.orig is not None else str(exc)
    return msg.strip().splitlines()[0] if msg.strip() else type(exc).__name__
