"""Initial schema: projects, runs, params, tags, metrics, artifacts, datasets, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("name", name="uq_projects_name"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", sa.Float(), nullable=False),
        sa.Column("end_time", sa.Float(), nullable=True),
        sa.Column("parent_id", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_runs_project_id_projects"),
        sa.ForeignKeyConstraint(["parent_id"], ["runs.id"], name="fk_runs_parent_id_runs"),
    )
    op.create_index("ix_runs_project_id_start_time", "runs", ["project_id", "start_time"])
    op.create_index("ix_runs_parent_id", "runs", ["parent_id"])
    op.create_table(
        "run_environments",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_run_environments"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_run_environments_run_id_runs", ondelete="CASCADE"
        ),
    )
    for name in ("params", "tags"):
        op.create_table(
            name,
            sa.Column("run_id", sa.String(32), nullable=False),
            sa.Column("key", sa.String(250), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("run_id", "key", name=f"pk_{name}"),
            sa.ForeignKeyConstraint(
                ["run_id"], ["runs.id"], name=f"fk_{name}_run_id_runs", ondelete="CASCADE"
            ),
        )
    op.create_table(
        "metrics",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_metrics_run_id_runs", ondelete="CASCADE"),
    )
    op.create_index("ix_metrics_run_id_key_step", "metrics", ["run_id", "key", "step"])
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_latest_metrics"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_latest_metrics_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    op.create_table(
        "artifacts",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "path", name="pk_artifacts"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_artifacts_run_id_runs", ondelete="CASCADE"),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
        sa.UniqueConstraint("name", name="uq_datasets_name"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_datasets_project_id_projects"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("num_columns", sa.Integer(), nullable=False),
        sa.Column("schema", sa.Text(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_versions"),
        sa.UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_id_version"),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name="fk_dataset_versions_dataset_id_datasets"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["dataset_versions.id"], name="fk_dataset_versions_parent_id_dataset_versions"
        ),
    )
    op.create_index("ix_dataset_versions_dataset_id_digest", "dataset_versions", ["dataset_id", "digest"])
    op.create_table(
        "run_inputs",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("dataset_version_id", sa.Integer(), nullable=False),
        sa.Column("context", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "dataset_version_id", "context", name="pk_run_inputs"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_run_inputs_run_id_runs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name="fk_run_inputs_dataset_version_id_dataset_versions",
        ),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", _BIGINT_PK, autoincrement=False, nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(256), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_digest", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_subject_type_subject_id", "audit_events", ["subject_type", "subject_id"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])


def downgrade() -> None:
    for name in (
        "audit_head",
        "audit_events",
        "run_inputs",
        "dataset_versions",
        "datasets",
        "artifacts",
        "latest_metrics",
        "metrics",
        "tags",
        "params",
        "run_environments",
        "runs",
        "projects",
    ):
        op.drop_table(name)
