"""mappings carry a unit; imports say which tool layout and sheet they were read as; learned
mappings are keyed by header in context

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 13:40:00

A size column is converted from its unit (from the header, a tool profile, a sibling column
such as Device42's ram_size_type, or a person's review) to the canonical one. A header means
different things in different layouts (RVTools' "Host" is the ESXi host in vInfo and the host
itself in vHost), so what an account approved is remembered per profile or sheet.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OLD_MATCH_TYPES = ("exact", "synonym", "fuzzy", "value", "unmapped", "learned", "manual")
MATCH_TYPES = (*OLD_MATCH_TYPES, "profile")


def _match_types(values: tuple[str, ...]) -> None:
    op.drop_constraint("ck_import_field_mappings_match_type", "import_field_mappings")
    listed = ", ".join(f"'{v}'" for v in values)
    op.create_check_constraint(
        op.f("ck_import_field_mappings_match_type"),
        "import_field_mappings",
        f"match_type IN ({listed})",
    )


def upgrade() -> None:
    _match_types(MATCH_TYPES)
    op.add_column("import_field_mappings", sa.Column("unit", sa.String(20)))
    op.add_column("import_field_mappings", sa.Column("unit_column", sa.Text))
    op.add_column("data_imports", sa.Column("profile", sa.String(100)))
    op.add_column("data_imports", sa.Column("sheet", sa.Text))
    op.add_column(
        "learned_field_mappings",
        sa.Column("context", sa.String(100), nullable=False, server_default=""),
    )
    op.drop_index("uq_learned_field_mappings_header", table_name="learned_field_mappings")
    op.create_index(
        "uq_learned_field_mappings_header",
        "learned_field_mappings",
        ["client_account_id", "import_type", "context", "header"],
        unique=True,
    )


def downgrade() -> None:
    op.execute(
        "UPDATE import_field_mappings SET match_type = 'manual' WHERE match_type = 'profile'"
    )
    _match_types(OLD_MATCH_TYPES)
    op.drop_index("uq_learned_field_mappings_header", table_name="learned_field_mappings")
    op.execute("DELETE FROM learned_field_mappings WHERE context <> ''")
    op.create_index(
        "uq_learned_field_mappings_header",
        "learned_field_mappings",
        ["client_account_id", "import_type", "header"],
        unique=True,
    )
    op.drop_column("learned_field_mappings", "context")
    op.drop_column("data_imports", "sheet")
    op.drop_column("data_imports", "profile")
    op.drop_column("import_field_mappings", "unit_column")
    op.drop_column("import_field_mappings", "unit")
