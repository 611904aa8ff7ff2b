"""SQLAlchemy table definitions of the metadata store (the schema Alembic migrates to)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "artifacts",
    "audit_events",
    "audit_head",
    "dataset_versions",
    "datasets",
    "latest_metrics",
    "metadata",
    "metrics",
    "params",
    "projects",
    "run_environments",
    "run_inputs",
    "runs",
    "tags",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float, nullable=True),
    Column("parent_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("error", Text, nullable=True),
    Column("deleted", Boolean, nullable=False, default=False),
    Index(None, "project_id", "start_time"),
    Index(None, "parent_id"),
)

run_environments = Table(
    "run_environments",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("environment", Text, nullable=False),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=True),  # NULL stands for NaN (SQLite cannot store NaN)
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Float, nullable=False),
    Index(None, "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Float, nullable=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", Float, nullable=False),
    Index(None, "key", "value"),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(80), nullable=False),
    Column("size", BigInteger, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("created_at", Float, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(80), nullable=False),
    Column("format", String(16), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_columns", Integer, nullable=False),
    Column("schema", Text, nullable=False),
    Column("profile", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("parent_id", Integer, ForeignKey("dataset_versions.id"), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("dataset_id", "version"),
    Index(None, "dataset_id", "digest"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("context", String(64), primary_key=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("time", Float, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject_type", String(64), nullable=False),
    Column("subject_id", String(256), nullable=False),
    Column("payload", Text, nullable=False),
    Column("payload_digest", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index(None, "subject_type", "subject_id"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)
