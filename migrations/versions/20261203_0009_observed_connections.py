"""dependency edges carry what a connection export observed: port, protocol and processes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00

A dependencies import (a flow or connection export, such as Azure Migrate's dependency export)
adds edges observed on the network. They are told apart from the dependencies an inventory
export declares (its "Depends on" column), which a re-import of that inventory replaces: an
observed edge is replaced only by a later observation of the same connection.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL stores it once instead of rewriting the table.
    op.add_column(
        "asset_dependencies",
        sa.Column("observed", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("asset_dependencies", sa.Column("port", sa.Integer))
    op.add_column("asset_dependencies", sa.Column("protocol", sa.Text))
    op.add_column("asset_dependencies", sa.Column("source_processes", postgresql.ARRAY(sa.Text)))
    op.add_column("asset_dependencies", sa.Column("target_processes", postgresql.ARRAY(sa.Text)))


def downgrade() -> None:
    for column in ("target_processes", "source_processes", "protocol", "port", "observed"):
        op.drop_column("asset_dependencies", column)
