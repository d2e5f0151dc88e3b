"""deleting an import finds the assets it first or last described by index

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 17:00:00

Migration 0006's trigger clears ``assets.first_import_id`` and ``last_import_id`` when their import
is deleted, one UPDATE per column joined to the deleted imports. Without an index on either
column, each UPDATE read every asset of every account: deleting one import of a 10-row account
cost a sequential scan of the whole table, twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("first_import_id", "last_import_id")


def upgrade() -> None:
    for column in COLUMNS:
        op.create_index(f"ix_assets_{column}", "assets", [column])


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ix_assets_{column}", table_name="assets")
