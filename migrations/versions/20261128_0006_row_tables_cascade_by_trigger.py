"""the flow's row tables follow their import, asset and account by trigger, not per-row keys

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 13:20:00

cleaned_records, asset_sources, asset_dependencies and the assets (their account and first/last
import ids) are written a million rows at a time. PostgreSQL checked each of their foreign keys
once per row written, locking the parent row each time: a million edges took 15.8 s with their
three keys and 4.4 s without (one run on the 2-core box; the two keys to assets were 8.7 s of it).

What the keys did on delete is kept, once per DELETE statement rather than once per row
written: an AFTER DELETE trigger ``rows_follow`` on each parent (data_imports, assets,
client_accounts) deletes the rows that referenced the deleted ones, or clears their ids where the
key was ON DELETE SET NULL (the assets' import ids). Deleting an account still reaches all of
them: it deletes its imports (by their own foreign key) and its assets (by trigger), and theirs
follow.

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


def parents() -> list[str]:
    return list(dict.fromkeys(parent for _, _, parent, _ in KEYS))


def follow(parent: str) -> str:
    """What deleting rows of ``parent`` does to the tables whose key is replaced: as the key did.

    Statement-level, with the deleted rows as a transition table: deleting an account's thousand
    imports is one statement per child table, not a thousand.
    """
    statements = [
        f"DELETE FROM {table} c USING deleted d WHERE c.{column} = d.id;"
        if on_delete == "CASCADE"
        else f"UPDATE {table} c SET {column} = NULL FROM deleted d WHERE c.{column} = d.id;"
        for table, column, of, on_delete in KEYS
        if of == parent
    ]
    return " ".join(statements)


def upgrade() -> None:
    for table, column, parent, _ in KEYS:
        op.drop_constraint(f"fk_{table}_{column}_{parent}", table, type_="foreignkey")
    for parent in parents():
        op.execute(
            f"CREATE FUNCTION {parent}_rows_follow() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {follow(parent)} RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER rows_follow AFTER DELETE ON {parent} REFERENCING OLD TABLE AS deleted "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {parent}_rows_follow()"
        )


def downgrade() -> None:
    for parent in parents():
        op.execute(f"DROP TRIGGER rows_follow ON {parent}")
        op.execute(f"DROP FUNCTION {parent}_rows_follow()")
    for table, column, parent, on_delete in KEYS:
        op.create_foreign_key(
            f"fk_{table}_{column}_{parent}", table, parent, [column], ["id"], ondelete=on_delete
        )
