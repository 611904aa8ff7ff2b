"""Erasure of rows from datasets: the erasure record, and per version what superseded it and when
its content was purged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "dataset_id",
            sa.Integer,
            sa.ForeignKey("datasets.id", name="fk_erasures_dataset_id_datasets"),
            nullable=False,
        ),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("where_digest", sa.String(64), nullable=False),
        sa.Column("columns", sa.Text, nullable=False),
        sa.Column("rows_removed", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_erasures"),
    )
    op.create_index("ix_erasures_dataset_id", "erasures", ["dataset_id"])
    with op.batch_alter_table("dataset_versions") as batch:
        batch.add_column(sa.Column("superseded_by", sa.Integer, nullable=True))
        batch.add_column(sa.Column("erasure_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("purged_at", sa.Float, nullable=True))
        batch.create_foreign_key(
            "fk_dataset_versions_superseded_by_dataset_versions",
            "dataset_versions",
            ["superseded_by"],
            ["id"],
        )
        batch.create_foreign_key(
            "fk_dataset_versions_erasure_id_erasures", "erasures", ["erasure_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_constraint("fk_dataset_versions_erasure_id_erasures", type_="foreignkey")
        batch.drop_constraint("fk_dataset_versions_superseded_by_dataset_versions", type_="foreignkey")
        batch.drop_column("purged_at")
        batch.drop_column("erasure_id")
        batch.drop_column("superseded_by")
    op.drop_index("ix_erasures_dataset_id", table_name="erasures")
    op.drop_table("erasures")
