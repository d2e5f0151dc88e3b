"""the flow's row tables follow their import, asset and account by trigger, not per-row keys

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 13:20:00

cleaned_records, asset_sources, asset_dependencies and the assets (their account and first/last
import ids) are written a million rows at a time. PostgreSQL checked each of their foreign keys once per row
written, locking the parent row each time: a million edges took 15.8 s with their three keys and
4.4 s without (one run on the 2-core box; the two keys to assets were 8.7 s of it).

What the keys did on delete is kept, once per DELETE statement rather than once per row
written: an AFTER DELETE trigger on data_imports deletes its rows and clears the assets' import
ids (ON DELETE CASCADE / SET NULL before), one on assets deletes the asset's sources and the edges
from or to it, one on client_accounts deletes the account's assets. Deleting an account still
reaches all of them: it deletes its imports (by their foreign key) and its assets.

What no trigger replaces: PostgreSQL no longer refuses a row whose import or asset does not exist.
The flow writes these rows in a unit's work transaction, which locks the import's row before it
commits (StepRunner): a delete of the import either waits for that commit and then deletes what
the unit wrote, or commits first, and the unit finds its import gone and rolls back.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, parent, on delete) of each foreign key replaced.
KEYS = (
    ("cleaned_records", "import_id", "data_imports", "CASCADE"),
    ("asset_sources", "import_id", "data_imports", "CASCADE"),
    ("asset_sources", "asset_id", "assets", "CASCADE"),
    ("asset_dependencies", "import_id", "data_imports", "CASCADE"),
    ("asset_dependencies", "source_asset_id", "assets", "CASCADE"),
    ("asset_dependencies", "target_asset_id", "assets", "CASCADE"),
    ("assets", "first_import_id", "data_imports", "SET NULL"),
    ("assets", "last_import_id", "data_imports", "SET NULL"),
    ("assets", "client_account_id", "client_accounts", "CASCADE"),
)

# (trigger, table, its transition table, what the trigger does). Statement-level with transition
# tables: deleting an account's thousand imports is one statement per child table, not a thousand.
TRIGGERS = (
    (
        "import_rows_follow",
        "data_imports",
        "deleted_imports",
        """
        DELETE FROM cleaned_records c USING deleted_imports d WHERE c.import_id = d.id;
        DELETE FROM asset_sources s USING deleted_imports d WHERE s.import_id = d.id;
        DELETE FROM asset_dependencies e USING deleted_imports d WHERE e.import_id = d.id;
        UPDATE assets a SET first_import_id = NULL
        FROM deleted_imports d WHERE a.first_import_id = d.id;
        UPDATE assets a SET last_import_id = NULL
        FROM deleted_imports d WHERE a.last_import_id = d.id;
        """,
    ),
    (
        "asset_rows_follow",
        "assets",
        "deleted_assets",
        """
        DELETE FROM asset_sources s USING deleted_assets d WHERE s.asset_id = d.id;
        DELETE FROM asset_dependencies e USING deleted_assets d WHERE e.source_asset_id = d.id;
        DELETE FROM asset_dependencies e USING deleted_assets d WHERE e.target_asset_id = d.id;
        """,
    ),
    (
        "account_assets_follow",
        "client_accounts",
        "deleted_accounts",
        "DELETE FROM assets a USING deleted_accounts d WHERE a.client_account_id = d.id;",
    ),
)


def upgrade() -> None:
    for table, column, parent, _ in KEYS:
        op.drop_constraint(f"fk_{table}_{column}_{parent}", table, type_="foreignkey")
    for name, table, deleted, body in TRIGGERS:
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body} RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} AFTER DELETE ON {table} REFERENCING OLD TABLE AS {deleted} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )


def downgrade() -> None:
    for name, table, _, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(f"DROP FUNCTION {name}()")
    for table, column, parent, on_delete in KEYS:
        op.create_foreign_key(
            f"fk_{table}_{column}_{parent}", table, parent, [column], ["id"], ondelete=on_delete
        )
