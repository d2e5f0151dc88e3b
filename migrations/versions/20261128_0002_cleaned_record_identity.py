"""cleaned records carry the identity and type of the asset they describe

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding them rewrites nothing. No index: the inventory reads them
    # by the primary key's (import_id, row_number) ranges, and indexes would slow the COPY.
    op.add_column("cleaned_records", sa.Column("hostname_key", sa.Text(), nullable=True))
    op.add_column("cleaned_records", sa.Column("serial_number", sa.Text(), nullable=True))
    op.add_column("cleaned_records", sa.Column("primary_ip", sa.Text(), nullable=True))
    op.add_column("cleaned_records", sa.Column("asset_type", sa.String(length=30), nullable=True))


def downgrade() -> None:
    for column in ("asset_type", "primary_ip", "serial_number", "hostname_key"):
        op.drop_column("cleaned_records", column)
