"""cleaned records no longer copy the raw values beside the clean ones

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 13:10:00

Nothing read cleaned_records.raw: the raw values stay in raw_import_records exactly as uploaded,
and the import's field mappings say which column each field came from. Writing the copy was a
second jsonb document per row, parsed and logged by PostgreSQL, in the flow's largest COPY.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("cleaned_records", "raw")


def downgrade() -> None:
    op.add_column(
        "cleaned_records",
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
    )
    op.alter_column("cleaned_records", "raw", server_default=None)
