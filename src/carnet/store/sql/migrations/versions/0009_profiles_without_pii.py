"""Profiles stored before PII detection keep no personal data: columns whose stored top values
are emails, phone numbers, national identifiers... (carnet's tier-1 detectors, with the column's
name as a hint) are flagged and masked, as new profiles are.

The stored top values are what a profile exposes, so they are what is scanned: the content of
the versions is not read again (``carnet data scan REF --apply`` scans a version's rows).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from carnet.domain.datasets import ColumnProfile
    from carnet.privacy import mask_profile, scan_values

    conn = op.get_bind()
    versions = sa.table("dataset_versions", sa.column("id", sa.Integer), sa.column("profile", sa.Text))
    for row in conn.execute(sa.select(versions.c.id, versions.c.profile)).fetchall():
        columns = [ColumnProfile.from_dict(c) for c in json.loads(row.profile)]
        changed = False
        for i, column in enumerate(columns):
            if column.pii is not None or not column.top:
                continue
            finding = scan_values(column.name, [value for value, _ in column.top])
            if finding is not None:
                columns[i] = mask_profile(column, finding)
                changed = True
        if changed:
            conn.execute(
                versions.update()
                .where(versions.c.id == row.id)
                .values(profile=json.dumps([c.to_dict() for c in columns], default=str))
            )


def downgrade() -> None:
    """Masked values cannot come back; the flags stay (older carnet ignores them)."""
