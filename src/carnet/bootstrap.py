"""Composition root: settings -> stores -> services."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from carnet.config import Settings, resolve_settings
from carnet.errors import InvalidInput, NotFound, StorageError

if TYPE_CHECKING:
    import sqlite3

    from carnet.services import Services

__all__ = ["init_workspace", "open_services", "upgrade_workspace", "workspace_exists"]

# generated from the tables by ``python -m carnet.store.sql.sqlite_schema --write``; read by path, as
# importing anything under carnet.store.sql loads SQLAlchemy, which is what the fast path avoids
SQLITE_SCHEMA = Path(__file__).parent / "store" / "sql" / "sqlite_schema.sql"
_SQLITE_BUSY_TIMEOUT_S = 60.0


def _sqlite_path(settings: Settings) -> Path:
    return Path(settings.metadata_url[len("sqlite:///") :])


def workspace_exists(settings: Settings) -> bool:
    """True when the workspace's metadata already exists (always true for PostgreSQL)."""
    if settings.backend == "postgresql":
        return True
    return _sqlite_path(settings).exists()


def open_services(
    uri: str | Settings | None = None,
    *,
    artifacts: str | None = None,
    create: bool = True,
) -> Services:
    """Open (and on first write create and migrate) the workspace at ``uri``.

    Args:
        uri: workspace URI or resolved settings; None resolves from CARNET_URI / carnet.toml / ./.carnet.
        artifacts: artifact root overriding the default of the URI.
        create: when False, a missing folder or SQLite workspace raises NotFound instead of being created.
    """
    from carnet.services import ServiceContext, Services  # noqa: PLC0415 - keep imports lazy
    from carnet.store.artifacts import FsspecArtifactStore  # noqa: PLC0415
    from carnet.store.sql import SqlMetadataStore  # noqa: PLC0415

    settings = uri if isinstance(uri, Settings) else resolve_settings(uri, artifacts=artifacts)
    if not create and not workspace_exists(settings):
        raise NotFound(
            f"no carnet workspace at {settings.uri!r}; create one with: carnet init {settings.uri}",
            field="uri",
        )
    store = SqlMetadataStore(settings.metadata_url)
    art = FsspecArtifactStore(settings.artifact_root, settings.storage_options)
    return Services(ServiceContext(settings=settings, store=store, artifacts=art))


def upgrade_workspace(settings: Settings) -> str:
    """Apply pending schema migrations to a workspace's metadata database; returns the revision."""
    from carnet.store.sql import SqlMetadataStore  # noqa: PLC0415

    store = SqlMetadataStore(settings.metadata_url, migrate=False)
    try:
        return store.upgrade()
    finally:
        store.close()


def init_workspace(settings: Settings) -> dict[str, Any]:
    """Create the workspace of ``settings`` unless it exists (then open and migrate it); say what was made.

    A SQLite workspace whose database file does not exist yet (or is empty) is created with the
    standard ``sqlite3`` module from the shipped schema: no SQLAlchemy, a new workspace in milliseconds.
    An existing one, or PostgreSQL, is opened through :func:`open_services`, which migrates it. A
    local artifact root's folder is created.

    Returns:
        ``uri``, ``metadata`` (URL), ``artifacts`` (root), ``schema_revision`` and ``created``: whether
        this call created the SQLite database's schema (False when the workspace existed, or another
        process created it at the same moment; always True for PostgreSQL).

    Raises:
        InvalidInput: the database's folder cannot be created.
        StorageError: the database cannot be created or opened.
    """
    revision: str | None = None
    created = settings.backend == "postgresql"
    if settings.backend == "sqlite" and _is_new_sqlite_file(_sqlite_path(settings)):
        statements = _sqlite_schema_statements()
        if statements is None:  # schema file not installed: the migrating path below creates it
            created = True
        else:
            revision = _create_sqlite_metadata(_sqlite_path(settings), statements)
            created = revision is not None
    if revision is None:  # an existing workspace, perhaps created by another process just now
        open_services(settings).close()
        from carnet.store.sql import HEAD_REVISION  # noqa: PLC0415 - loaded by open_services already

        revision = HEAD_REVISION
    if settings.artifact_root.startswith("file://"):
        Path(settings.artifact_root[len("file://") :]).mkdir(parents=True, exist_ok=True)
    return {
        "uri": settings.uri,
        "metadata": settings.metadata_url,
        "artifacts": settings.artifact_root,
        "schema_revision": revision,
        "created": created,
    }


def _is_new_sqlite_file(db: Path) -> bool:
    """No database yet: no file, or an empty one (another process has just opened it)."""
    try:
        return db.stat().st_size == 0
    except (FileNotFoundError, NotADirectoryError):
        return True


def _sqlite_schema_statements() -> list[str] | None:
    """The statements of :data:`SQLITE_SCHEMA`, or None when the file is not installed."""
    try:
        text = SQLITE_SCHEMA.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return [s for s in (chunk.strip() for chunk in text.split(";\n")) if s]


def _create_sqlite_metadata(db: Path, statements: list[str]) -> str | None:
    """Create the schema of a new workspace database by running ``statements``, in one transaction.

    The transaction starts with ``BEGIN IMMEDIATE``, so processes creating the same workspace at once
    queue on the file's lock, and each finds out under the lock whether the file is still empty.

    Returns:
        The revision stamped, or None when the file was not empty (another process created the
        workspace meanwhile): then nothing was done.
    """
    import sqlite3  # noqa: PLC0415

    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create folder {db.parent} for the workspace: {exc.strerror}") from exc
    try:
        conn = sqlite3.connect(db, timeout=_SQLITE_BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot create the metadata database {db}: {exc}") from exc
    try:
        _enable_wal(conn)  # before the transaction: the journal mode cannot change inside one
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] != 0:
                return None
            for statement in statements:
                conn.execute(statement)
            revision = str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])
            conn.execute("COMMIT")
            return revision
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot create the metadata database {db}: {exc}") from exc
    finally:
        conn.close()


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (as the store's engine does), waiting out other connections' locks.

    Changing the journal mode answers "database is locked" at once, without the busy handler, when
    another connection holds a lock, which happens when several processes create a workspace together.
    """
    import sqlite3  # noqa: PLC0415
    import time  # noqa: PLC0415

    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
