"""the account's asset index serves only the queries that walk an account's assets

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 14:40:00

ix_assets_account_type (client_account_id, asset_type, id) was the one index that a look-up by
the account alone could take. Under statistics that predate an account's assets (its second
import, before autovacuum's ANALYZE), every index of the account costs the same for a key
look-up, and PostgreSQL took this one: the creation of one 500-row range filtered 30 million rows
(20,000 assets, each row's hostname probe reading all of them). Partial on a condition that is
always true, it now serves only the queries that state it: listings and counts of the account's
assets (importer.models.asset.ACCOUNT_SCAN). A key look-up can take only its key's index.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["client_account_id", "asset_type", "id"]


def upgrade() -> None:
    op.drop_index("ix_assets_account_type", table_name="assets")
    op.create_index(
        "ix_assets_account_type",
        "assets",
        COLUMNS,
        postgresql_where="asset_type IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_index("ix_assets_account_type", table_name="assets")
    op.create_index("ix_assets_account_type", "assets", COLUMNS)
