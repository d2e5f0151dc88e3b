"""rows of an import's tables keep their account without a foreign key of their own

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 11:15:00

cleaned_records, asset_sources and asset_dependencies copy client_account_id from their import
or asset, whose own foreign keys tie them to the account and delete them with it. Their own key
to client_accounts was checked once per row written: 8 to 10 us a row each, some 25 s of a
million-row import.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("cleaned_records", "asset_sources", "asset_dependencies")


def upgrade() -> None:
    for table in TABLES:
        op.drop_constraint(
            f"fk_{table}_client_account_id_client_accounts", table, type_="foreignkey"
        )


def downgrade() -> None:
    for table in TABLES:
        op.create_foreign_key(
            f"fk_{table}_client_account_id_client_accounts",
            table,
            "client_accounts",
            ["client_account_id"],
            ["id"],
            ondelete="CASCADE",
        )
