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
    "alerts",
    "alias_history",
    "api_tokens",
    "approvals",
    "artifacts",
    "audit_events",
    "audit_head",
    "chunk_manifests",
    "chunks",
    "dataset_versions",
    "datasets",
    "deployments",
    "erasures",
    "label_files",
    "latest_metrics",
    "manifest_packs",
    "metadata",
    "metrics",
    "model_aliases",
    "model_tags",
    "model_version_tags",
    "model_versions",
    "monitor_windows",
    "monitors",
    "packs",
    "params",
    "policies",
    "prediction_files",
    "project_roles",
    "projects",
    "promotions",
    "reference_profiles",
    "registered_models",
    "run_environments",
    "run_inputs",
    "runs",
    "search_journal",
    "tags",
    "users",
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
    Index(None, "key"),
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

erasures = Table(
    "erasures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("where_digest", String(64), nullable=False),
    Column("columns", Text, nullable=False),
    Column("rows_removed", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "dataset_id"),
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
    Column("superseded_by", Integer, ForeignKey("dataset_versions.id"), nullable=True),
    Column("erasure_id", Integer, ForeignKey("erasures.id"), nullable=True),
    Column("purged_at", Float, nullable=True),
    UniqueConstraint("dataset_id", "version"),
    Index(None, "dataset_id", "digest"),
    Index(None, "parent_id"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("context", String(64), primary_key=True),
    Index(None, "dataset_version_id"),
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
    # recorded with the first event: whether hashes are HMACs, and HMAC(key, "carnet-audit-key-check")
    Column("keyed", Boolean, nullable=True),
    Column("key_check", String(64), nullable=True),
    # the workspace's identity, named by signed checkpoints (set with the first event or anchor)
    Column("workspace_id", String(32), nullable=True),
)

# -- model registry -------------------------------------------------------------------------------

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("flavor", String(64), nullable=False),
    Column("artifact_digest", String(80), nullable=False),
    Column("file_name", String(256), nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("task", String(64), nullable=True),
    Column("signature", Text, nullable=False),
    Column("input_example", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("datasets", Text, nullable=False),
    Column("reports", Text, nullable=False),
    Column("extra", Text, nullable=False),
    Column("derived_from", Integer, nullable=True),
    Column("allow_pickle", Boolean, nullable=False, default=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(256), nullable=False),
    UniqueConstraint("model_id", "version"),
    Index(None, "run_id"),
)

model_tags = Table(
    "model_tags",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id"), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("version_id", Integer, ForeignKey("model_versions.id"), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version", Integer, nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("kind", String(16), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Index(None, "model_id", "alias", "id"),
)

promotions = Table(
    "promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("alias", String(64), nullable=False),
    Column("previous_version", Integer, nullable=True),
    Column("passed", Boolean, nullable=False),
    Column("applied", Boolean, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("results", Text, nullable=False),
    Column("policy", Text, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Index(None, "model_id", "version"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("alias", String(64), nullable=False),
    Column("actor", String(256), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("authenticated", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("model_id", "version", "alias", "actor"),
)

policies = Table(
    "policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=True),
    Column("source", Text, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "project_id", "model_id", "id"),
)

# -- deployments and the prediction log ------------------------------------------------------------

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(128), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("spec", Text, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("actor", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("endpoint", "revision"),
)

prediction_files = Table(
    "prediction_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", String(128), nullable=False),
    Column("model", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("shadow", Boolean, nullable=False, default=False),
    Column("digest", String(80), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("first_time", Float, nullable=False),
    Column("last_time", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "model", "version", "first_time"),
    Index(None, "endpoint", "first_time"),
)

# -- monitoring -----------------------------------------------------------------------------------

monitors = Table(
    "monitors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("model", String(128), nullable=False),
    Column("spec", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("actor", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor_id", Integer, ForeignKey("monitors.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("start", Float, nullable=False),
    Column("end", Float, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("versions", String(512), nullable=False),
    Column("metrics", Text, nullable=False),
    Column("report", String(80), nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("monitor_id", "seq"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor_id", Integer, ForeignKey("monitors.id"), nullable=False),
    Column("rule", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=False),
    Column("window_seq", Integer, nullable=False),
    Column("opened_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("actions", Text, nullable=False),
    Column("history", Text, nullable=False),
    Index(None, "monitor_id", "status"),
)

label_files = Table(
    "label_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(80), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("model", String(128), nullable=True),
    Column("source", Text, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
)

#: the Optuna journal of a search run on a cluster (one log entry per row, in order)
search_journal = Table(
    "search_journal",
    metadata,
    Column("study", String(128), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("entry", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

reference_profiles = Table(
    "reference_profiles",
    metadata,
    Column("dataset_digest", String(80), primary_key=True),
    Column("options", String(80), primary_key=True),
    Column("digest", String(80), nullable=False),
    Column("created_at", Float, nullable=False),
)

# -- chunked dataset content (see carnet.store.chunks) ----------------------------------------------

chunks = Table(  # which chunks are stored, and where: the index writes deduplicate against
    "chunks",
    metadata,
    Column("id", String(64), primary_key=True),  # hex BLAKE3 of the chunk
    Column("pack", String(64), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("length", Integer, nullable=False),
    Index(None, "pack"),
)

packs = Table(
    "packs",
    metadata,
    Column("digest", String(64), primary_key=True),  # hex BLAKE3 of the pack
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
)

chunk_manifests = Table(  # content stored as chunks, by its whole-file digest
    "chunk_manifests",
    metadata,
    Column("digest", String(80), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

manifest_packs = Table(  # the packs a manifest reads, with the bytes of its distinct chunks in each
    "manifest_packs",
    metadata,
    Column("manifest", String(80), primary_key=True),
    Column("pack", String(64), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Index(None, "pack"),
)

# -- authentication -------------------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("actor", String(256), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("label", String(256), nullable=False, default=""),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False),  # hex SHA-256 of the whole secret
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Column("last_used_at", Float, nullable=True),
    Index(None, "token_hash", unique=True),
    Index(None, "user_id"),
)

project_roles = Table(
    "project_roles",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("project", String(128), primary_key=True),  # a project name, or "*" for every project
    Column("role", String(16), nullable=False),
)
