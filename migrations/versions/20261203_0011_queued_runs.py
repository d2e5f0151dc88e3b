"""when each step and phase run was last sent to the broker; a heartbeat per phase run

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:20:00

A pending run is work to be sent: queued_at says when its task was planned or last sent, so that
the watchdog sends again a pending run whose message may have been lost (a crash between the
commit and the send). A phase run gets a heartbeat of its own: the watchdog judges each running
phase by it, instead of the discovery step's, which aged while the next phase waited in the queue.
Existing rows take the migration's time: a pending one is sent again after the limit, harmlessly.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("import_step_runs", "discovery_phase_runs")


def upgrade() -> None:
    for table in TABLES:
        # now() is stable: PostgreSQL stores the default once instead of rewriting the table.
        op.add_column(
            table,
            sa.Column(
                "queued_at",
                sa.DateTime(timezone=True),
                server_default=sa.func.now(),
                nullable=False,
            ),
        )
    op.add_column("discovery_phase_runs", sa.Column("heartbeat_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("discovery_phase_runs", "heartbeat_at")
    for table in TABLES:
        op.drop_column(table, "queued_at")
