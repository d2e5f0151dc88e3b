"""undo: an ``undo`` run kind, and the import statuses ``undoing`` and ``undone``

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 19:45:00

A completed import can be taken back out of the account's inventory (importer.services.undo): the
request plans an ``undo`` run (sent like every other run, PostgreSQL being the outbox), the
import is ``undoing`` while it runs and ``undone`` after; an undone import can be committed
again. Only the two check constraints change: no table or index is added.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("step", "phase", "chunk", "finish", "discard", "undo")
OLD_KINDS = KINDS[:-1]
STATUSES = (
    "stored",
    "validating",
    "mapping",
    "discovering",
    "waiting_for_approval",
    "completed",
    "failed",
    "cancelled",
    "undoing",
    "undone",
)
OLD_STATUSES = STATUSES[:-2]


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _constrain(kinds: Sequence[str], statuses: Sequence[str]) -> None:
    op.drop_constraint(op.f("ck_runs_kind"), "runs", type_="check")
    op.create_check_constraint(op.f("ck_runs_kind"), "runs", _in("kind", kinds))
    op.drop_constraint(op.f("ck_data_imports_status"), "data_imports", type_="check")
    op.create_check_constraint(
        op.f("ck_data_imports_status"), "data_imports", _in("status", statuses)
    )


def upgrade() -> None:
    _constrain(KINDS, STATUSES)


def downgrade() -> None:
    # An undone import was completed before; its undo runs go (their import keeps its rows).
    op.execute("UPDATE data_imports SET status = 'completed' WHERE status IN ('undoing', 'undone')")
    op.execute("DELETE FROM runs WHERE kind = 'undo'")
    _constrain(OLD_KINDS, OLD_STATUSES)
