"""merge review: the account's confidence threshold and the merges that wait for a person

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-04 10:00:00

client_accounts.merge_review_threshold: a match whose confidence
(importer/discovery/data/match_confidence.toml) is below it does not merge; it waits in
asset_merges as pending, the weakly matched row on an asset of its own (proposed_asset_id), until
a person approves (merges the two) or splits (keeps them apart) it. Either decision is kept, and
with the row's keys it tells the next import where such a row belongs. Existing accounts get the
default, 0.5: from now on an IP alone (0.4) no longer merges by itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "client_accounts",
        sa.Column(
            "merge_review_threshold", sa.Float(), server_default=sa.text("0.5"), nullable=False
        ),
    )
    op.create_check_constraint(
        op.f("ck_client_accounts_merge_review_threshold_range"),
        "client_accounts",
        "merge_review_threshold BETWEEN 0 AND 1",
    )
    op.create_table(
        "asset_merges",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "client_account_id",
            sa.Uuid(),
            sa.ForeignKey("client_accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "asset_id", sa.Uuid(), sa.ForeignKey("assets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "proposed_asset_id",
            sa.Uuid(),
            sa.ForeignKey("assets.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "import_id",
            sa.Uuid(),
            sa.ForeignKey("data_imports.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("matched_on", sa.Text(), nullable=False),
        sa.Column("match_kind", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("row_keys", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'split')", name=op.f("ck_asset_merges_status")
        ),
    )
    op.create_index(
        "uq_asset_merges_asset_row_keys", "asset_merges", ["asset_id", "row_keys"], unique=True
    )
    op.create_index("ix_asset_merges_proposed", "asset_merges", ["proposed_asset_id"])
    op.create_index(
        "ix_asset_merges_account_status", "asset_merges", ["client_account_id", "status", "id"]
    )


def downgrade() -> None:
    op.drop_table("asset_merges")
    op.drop_constraint(
        op.f("ck_client_accounts_merge_review_threshold_range"),
        "client_accounts",
        type_="check",
    )
    op.drop_column("client_accounts", "merge_review_threshold")
