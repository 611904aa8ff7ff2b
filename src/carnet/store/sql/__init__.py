"""The one metadata-store implementation: SQLAlchemy over SQLite or PostgreSQL."""

from carnet.store.sql.engine import HEAD_REVISION, create_store_engine, upgrade_schema
from carnet.store.sql.store import SqlMetadataStore, SqlTransaction

__all__ = ["HEAD_REVISION", "SqlMetadataStore", "SqlTransaction", "create_store_engine", "upgrade_schema"]
