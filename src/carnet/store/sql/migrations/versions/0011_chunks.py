"""Dataset content stored as content-defined chunks: the chunk index, the packs, the manifests and
which packs each manifest reads.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chunks",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("pack", sa.String(64), nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("length", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chunks"),
    )
    op.create_index("ix_chunks_pack", "chunks", ["pack"])
    op.create_table(
        "packs",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_packs"),
    )
    op.create_table(
        "chunk_manifests",
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_chunk_manifests"),
    )
    op.create_table(
        "manifest_packs",
        sa.Column("manifest", sa.String(80), nullable=False),
        sa.Column("pack", sa.String(64), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("manifest", "pack", name="pk_manifest_packs"),
    )
    op.create_index("ix_manifest_packs_pack", "manifest_packs", ["pack"])


def downgrade() -> None:
    op.drop_index("ix_manifest_packs_pack", table_name="manifest_packs")
    op.drop_table("manifest_packs")
    op.drop_table("chunk_manifests")
    op.drop_table("packs")
    op.drop_index("ix_chunks_pack", table_name="chunks")
    op.drop_table("chunks")
