"""dependency_analysis and tech_debt_assessment in chunks: edges keyed by their row, and staging

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 19:30:00

The phases run as chunk runs, each replacing its own range's output:

- ``asset_dependencies.source_row``: the row of its import that declared a declared edge (NULL for
  observed edges, written by the phase's finish), so that a range replaces its own edges and never
  another range's of the same import. Indexed with the import, replacing the import's own index:
  a range's edges are one index range, and deleting an import still finds its edges by it.
- ``displaced_rows``: what a phase's chunks deleted or overwrote that was not the import's own
  (another import's edges it replaced, the end-of-support flags it changed), as it was, kept until
  the phase finishes so that a cancel's discard puts it back.
- ``connection_parts``: a dependencies import's connections aggregated per range, which the
  phase's finish merges into one observed edge per connection.

Both staging tables follow their import by a trigger of their own (as migration 0006's row
tables do), not by a foreign key checked for every row written.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGING = ("displaced_rows", "connection_parts")


def upgrade() -> None:
    op.add_column("asset_dependencies", sa.Column("source_row", sa.Integer))
    op.create_index(
        "ix_asset_dependencies_import_row", "asset_dependencies", ["import_id", "source_row"]
    )
    op.drop_index("ix_asset_dependencies_import", table_name="asset_dependencies")
    op.create_table(
        "displaced_rows",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("import_id", sa.Uuid, nullable=False),
        sa.Column("phase", sa.String(50), nullable=False),
        sa.Column("relation", sa.Text, nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    )
    op.create_index("ix_displaced_rows_import", "displaced_rows", ["import_id", "phase", "id"])
    op.create_table(
        "connection_parts",
        sa.Column("import_id", sa.Uuid, primary_key=True),
        sa.Column("range_from", sa.Integer, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("identity", sa.Text, nullable=False),
        sa.Column("source_asset_id", sa.Uuid),
        sa.Column("source_ref", sa.Text, nullable=False),
        sa.Column("target_ref", sa.Text, nullable=False),
        sa.Column("target_asset_id", sa.Uuid),
        sa.Column("port", sa.Integer),
        sa.Column("protocol", sa.Text),
        sa.Column("source_processes", postgresql.ARRAY(sa.Text)),
        sa.Column("target_processes", postgresql.ARRAY(sa.Text)),
    )
    deletes = " ".join(
        f"DELETE FROM {t} c USING deleted d WHERE c.import_id = d.id;" for t in STAGING
    )
    op.execute(
        "CREATE FUNCTION data_imports_staging_follows() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {deletes} RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER staging_follows AFTER DELETE ON data_imports "
        "REFERENCING OLD TABLE AS deleted "
        "FOR EACH STATEMENT EXECUTE FUNCTION data_imports_staging_follows()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER staging_follows ON data_imports")
    op.execute("DROP FUNCTION data_imports_staging_follows()")
    for table in STAGING:
        op.drop_table(table)
    op.create_index("ix_asset_dependencies_import", "asset_dependencies", ["import_id"])
    op.drop_index("ix_asset_dependencies_import_row", table_name="asset_dependencies")
    op.drop_column("asset_dependencies", "source_row")
