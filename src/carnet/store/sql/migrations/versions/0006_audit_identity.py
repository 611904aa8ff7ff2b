"""Audit ledger identity: whether it is keyed (and the key's fingerprint), and the workspace id.

The three columns of the head row start empty; carnet fills them with the next event (the key
check of an existing ledger is its last event's hash, recomputed) or the first anchor.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("keyed", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("key_check", sa.String(64), nullable=True))
        batch.add_column(sa.Column("workspace_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("workspace_id")
        batch.drop_column("key_check")
        batch.drop_column("keyed")
