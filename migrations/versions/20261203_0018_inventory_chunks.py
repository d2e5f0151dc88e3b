"""the inventory's staging for its chunk runs; the account's open phase runs, for its lease

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 19:30:00

The asset_inventory phase runs in ordered chunk runs (importer.services.phases.asset_inventory).
What its planner prepares for every chunk, and what a cancel needs to undo the committed ones, is
kept per import until its finish or discard clears it:

- ``inventory_shared_keys``: the key values more than one row of the import carries (their rows
  are merged in Python), by kind (one letter a key) and value.
- ``inventory_displaced``: each asset that existed before the import, as it was before the first
  chunk of the import changed it (``to_jsonb`` of its row): a discard restores it, the finish
  compares it with the asset to count it updated or unchanged.

Both follow their import by foreign key (few writers, one per account at a time). It follows
0018, which main had first.
``ix_runs_account_open_phases`` finds an account's open phase and discard runs by name: whether
another import holds the account's inventory, and which imports wait for it.
``ix_runs_parent`` (parent, kind, status) replaces ``ix_runs_parent_id``: "is a chunk of this
phase running" probed the open runs of every import by status (``ix_runs_open``) when the
statistics thought few were running, 4,000 rows a chunk in a busy database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _import_id() -> sa.Column:
    return sa.Column(
        "import_id",
        sa.Uuid(),
        sa.ForeignKey("data_imports.id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "inventory_shared_keys",
        _import_id(),
        sa.Column("kind", sa.CHAR(1), primary_key=True),
        sa.Column("value", sa.Text(), primary_key=True),
    )
    op.create_table(
        "inventory_displaced",
        _import_id(),
        sa.Column("asset_id", sa.Uuid(), primary_key=True),
        sa.Column("row", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    )
    op.create_index(
        "ix_runs_account_open_phases",
        "runs",
        ["client_account_id", "name"],
        postgresql_where=sa.text(
            "kind IN ('phase', 'discard') AND status IN ('pending', 'running')"
        ),
    )
    op.drop_index("ix_runs_parent_id", table_name="runs")
    op.create_index("ix_runs_parent", "runs", ["parent_id", "kind", "status"])


def downgrade() -> None:
    op.drop_index("ix_runs_parent", table_name="runs")
    op.create_index("ix_runs_parent_id", "runs", ["parent_id"])
    op.drop_index("ix_runs_account_open_phases", table_name="runs")
    op.drop_table("inventory_displaced")
    op.drop_table("inventory_shared_keys")
