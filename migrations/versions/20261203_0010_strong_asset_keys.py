"""strong asset keys (uuid, source id) on cleaned records and assets; why each row found its asset;
VM templates and hypervisors as asset types

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 16:00:00

The inventory matches rows by a machine's UUID and by the record id of the tool it was exported
from before its hostname; the cleansing stores both keys on the row, as it does the others, and
the assets keep them. Their indexes are partial on their key, like the other keys' (migration
0007): each serves only look-ups by its own key, and holds no entry for the many assets without
one. asset_sources.matched_on records the key a row was matched by ("created" for the row that
made the asset); rows written before stay NULL.

Existing rows are not back-filled: their uuid and source_id are found again when an import
describes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = (("ix_assets_uuid", "uuid"), ("ix_assets_source_id", "source_id"))
TYPES = ("server", "virtual_machine", "database", "network_device", "storage", "application")
NEW_TYPES = ("vm_template", "hypervisor")


def _check(types: tuple[str, ...]) -> str:
    return "asset_type IN ({})".format(", ".join(f"'{t}'" for t in types))


def upgrade() -> None:
    for table in ("cleaned_records", "assets"):
        op.add_column(table, sa.Column("uuid", sa.Text))
        op.add_column(table, sa.Column("source_id", sa.Text))
    for name, column in KEYS:
        op.create_index(
            name,
            "assets",
            ["client_account_id", column],
            postgresql_where=f"{column} IS NOT NULL",
        )
    op.add_column("asset_sources", sa.Column("matched_on", sa.Text))
    op.drop_constraint(op.f("ck_assets_asset_type"), "assets", type_="check")
    op.create_check_constraint(op.f("ck_assets_asset_type"), "assets", _check(TYPES + NEW_TYPES))


def downgrade() -> None:
    op.execute(
        "UPDATE assets SET asset_type = CASE asset_type WHEN 'hypervisor' THEN 'server' "
        "ELSE 'virtual_machine' END WHERE asset_type IN ('vm_template', 'hypervisor')"
    )
    op.drop_constraint(op.f("ck_assets_asset_type"), "assets", type_="check")
    op.create_check_constraint(op.f("ck_assets_asset_type"), "assets", _check(TYPES))
    op.drop_column("asset_sources", "matched_on")
    for name, _ in KEYS:
        op.drop_index(name, table_name="assets")
    for table in ("cleaned_records", "assets"):
        op.drop_column(table, "source_id")
        op.drop_column(table, "uuid")
