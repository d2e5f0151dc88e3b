"""finish and discard runs; a chunked run's plan; when a run's message was sent

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 18:00:00

A step or phase that processes rows plans chunk runs and a ``finish`` run (its whole-import work
once every chunk succeeded); a cancel plans a ``discard`` run that removes what its committed
chunks wrote. ``plan`` holds what the planner prepared for every chunk to read. ``sent_at`` says
when a run's message last went to the broker (NULL: never), so that a pending run is sent once
after its commit, and again only by the watchdog once it has waited long; ``queued_at`` is now
when the run was planned or resumed. Existing pending runs count as sent at their ``queued_at``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("step", "phase", "chunk", "finish", "discard")
OLD_KINDS = ("step", "phase", "chunk")


def _kinds(kinds: Sequence[str]) -> str:
    return f"kind IN ({', '.join(repr(k) for k in kinds)})"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_runs_kind"), "runs", type_="check")
    op.create_check_constraint(op.f("ck_runs_kind"), "runs", _kinds(KINDS))
    op.add_column("runs", sa.Column("plan", postgresql.JSONB(astext_type=sa.Text())))
    op.add_column("runs", sa.Column("sent_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE runs SET sent_at = queued_at WHERE status = 'pending'")


def downgrade() -> None:
    op.execute("DELETE FROM runs WHERE kind IN ('finish', 'discard')")
    op.drop_column("runs", "sent_at")
    op.drop_column("runs", "plan")
    op.drop_constraint(op.f("ck_runs_kind"), "runs", type_="check")
    op.create_check_constraint(op.f("ck_runs_kind"), "runs", _kinds(OLD_KINDS))
