"""assets' serial and IP indexes hold only the assets that have one

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:20:00

A look-up by one key must find that key's index whatever the statistics say. To a planner whose
statistics predate a new account, every index that starts with the account finds one row, so a
look-up by IP took the serial number's index (same columns, same cost) and read all of the
account's assets for each IP. Partial on their key, like the hostname's unique index, each key
index serves only look-ups by its own key, and holds no entry for assets without one.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = (("ix_assets_serial", "serial_number"), ("ix_assets_ip", "primary_ip"))


def upgrade() -> None:
    for name, column in KEYS:
        op.drop_index(name, table_name="assets")
        op.create_index(
            name,
            "assets",
            ["client_account_id", column],
            postgresql_where=f"{column} IS NOT NULL",
        )


def downgrade() -> None:
    for name, column in KEYS:
        op.drop_index(name, table_name="assets")
        op.create_index(name, "assets", ["client_account_id", column])
