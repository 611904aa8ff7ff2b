"""Indexes for lineage: the runs that read a dataset version, the versions derived from one, and
runs by tag key (the evaluations of a run).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-24
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_run_inputs_dataset_version_id", "run_inputs", ["dataset_version_id"])
    op.create_index("ix_dataset_versions_parent_id", "dataset_versions", ["parent_id"])
    op.create_index("ix_tags_key", "tags", ["key"])


def downgrade() -> None:
    op.drop_index("ix_tags_key", table_name="tags")
    op.drop_index("ix_dataset_versions_parent_id", table_name="dataset_versions")
    op.drop_index("ix_run_inputs_dataset_version_id", table_name="run_inputs")
