"""one table of runs for the pipeline's steps and the flow's phases

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 16:00:00

import_step_runs and discovery_phase_runs were two copies of one state machine that had drifted
apart. Both become rows of ``runs``, told apart by ``kind``, with one status vocabulary: a phase
that was ``completed`` has ``succeeded``. A phase's parent is the latest discovery step run of its
import, the one that planned it. ``parent_id`` and the row range are there for the chunks a step
or phase is to be split into. The flow's status and error are no longer stored: they are read
from its phases' runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("pending", "running", "waiting_for_approval", "succeeded", "failed", "cancelled")
# The phases' and flows' statuses before: a finished one was "completed".
OLD_STATUSES = (*STATUSES, "completed")
FLOW_STATUSES = ("pending", "running", "waiting_for_approval", "completed", "failed", "cancelled")
COMMON = (
    "id, import_id, client_account_id, task_id, attempt, status, restarts, error, queued_at, "
    "started_at, heartbeat_at, finished_at"
)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _run_columns(table: str) -> list[sa.SchemaItem]:
    """The columns (and their keys) that every table of runs has had: COMMON's."""

    def cascading(column: str, target: str) -> sa.ForeignKeyConstraint:
        name = op.f(f"fk_{table}_{column}_{target}")
        return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=name, ondelete="CASCADE")

    moment = {"server_default": sa.func.now(), "nullable": False}
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("client_account_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("restarts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), **moment),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), **moment),
        cascading("import_id", "data_imports"),
        cascading("client_account_id", "client_accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("task_id", name=op.f(f"uq_{table}_task_id")),
    ]


def upgrade() -> None:
    op.create_table(
        "runs",
        *_run_columns("runs"),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("row_from", sa.Integer(), nullable=True),
        sa.Column("row_to", sa.Integer(), nullable=True),
        sa.Column("progress", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "summary", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.CheckConstraint(_in("kind", ("step", "phase", "chunk")), name=op.f("ck_runs_kind")),
        # Widened while the old phases' rows are copied, then narrowed below.
        sa.CheckConstraint(_in("status", OLD_STATUSES), name=op.f("ck_runs_status")),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_runs_progress")),
        sa.CheckConstraint(
            "(kind = 'chunk') = (row_from IS NOT NULL)"
            " AND (row_from IS NULL) = (row_to IS NULL) AND row_from <= row_to",
            name=op.f("ck_runs_chunk_rows"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["runs.id"], name=op.f("fk_runs_parent_id_runs"), ondelete="CASCADE"
        ),
    )
    op.create_index(
        "uq_runs_attempt",
        "runs",
        ["import_id", "kind", "name", "row_from", "attempt"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_index("ix_runs_parent_id", "runs", ["parent_id"])
    op.create_index(
        "ix_runs_open",
        "runs",
        ["status", "queued_at"],
        postgresql_where="status IN ('pending', 'running')",
    )
    op.execute(
        f"""
        INSERT INTO runs ({COMMON}, kind, name, progress, created_at)
        SELECT {COMMON}, 'step', step,
               CASE WHEN status = 'succeeded' THEN 100 ELSE 0 END, created_at
        FROM import_step_runs
        """
    )
    # A phase's parent: the discovery step run that planned it, the latest created before the
    # phase was last planned or sent.
    op.execute(
        f"""
        INSERT INTO runs ({COMMON}, kind, name, progress, summary, parent_id)
        SELECT {", ".join(f"p.{c.strip()}" for c in COMMON.split(","))}, 'phase', p.phase,
               p.progress, p.summary,
               (SELECT s.id FROM import_step_runs s
                WHERE s.import_id = p.import_id AND s.step = 'discovery'
                ORDER BY s.created_at <= p.queued_at DESC, s.attempt DESC LIMIT 1)
        FROM discovery_phase_runs p
        """
    )
    op.execute("UPDATE runs SET status = 'succeeded' WHERE status = 'completed'")
    op.drop_constraint(op.f("ck_runs_status"), "runs", type_="check")
    op.create_check_constraint(op.f("ck_runs_status"), "runs", _in("status", STATUSES))
    op.drop_table("discovery_phase_runs")
    op.drop_table("import_step_runs")
    op.drop_column("discovery_flows", "status")
    op.drop_column("discovery_flows", "error")


def downgrade() -> None:
    op.add_column("discovery_flows", sa.Column("error", sa.Text(), nullable=True))
    op.add_column(
        "discovery_flows",
        sa.Column("status", sa.String(length=30), server_default="pending", nullable=False),
    )
    op.alter_column("discovery_flows", "status", server_default=None)
    op.create_check_constraint(
        op.f("ck_discovery_flows_status"), "discovery_flows", _in("status", FLOW_STATUSES)
    )
    op.create_table(
        "import_step_runs",
        *_run_columns("import_step_runs"),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            _in("status", ("pending", "running", "succeeded", "failed", "cancelled")),
            name=op.f("ck_import_step_runs_status"),
        ),
        sa.CheckConstraint(
            _in("step", ("validate", "mappings", "discovery")),
            name=op.f("ck_import_step_runs_step"),
        ),
    )
    op.create_index(
        "uq_import_step_runs_attempt",
        "import_step_runs",
        ["import_id", "step", "attempt"],
        unique=True,
    )
    op.create_table(
        "discovery_phase_runs",
        *_run_columns("discovery_phase_runs"),
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("phase", sa.String(length=40), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["discovery_flows.id"],
            name=op.f("fk_discovery_phase_runs_flow_id_discovery_flows"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 100", name=op.f("ck_discovery_phase_runs_progress")
        ),
        sa.UniqueConstraint("flow_id", "phase", name=op.f("uq_discovery_phase_runs_phase")),
    )
    op.execute(
        f"""
        INSERT INTO import_step_runs ({COMMON}, step, created_at)
        SELECT {COMMON}, name, created_at FROM runs WHERE kind = 'step'
        """
    )
    # One row per phase there: the latest attempt of each.
    op.execute(
        f"""
        INSERT INTO discovery_phase_runs ({COMMON}, flow_id, phase, progress, summary)
        SELECT DISTINCT ON (r.import_id, r.name)
               {", ".join(f"r.{c.strip()}" for c in COMMON.split(","))}, f.id, r.name,
               r.progress, r.summary
        FROM runs r JOIN discovery_flows f ON f.import_id = r.import_id
        WHERE r.kind = 'phase'
        ORDER BY r.import_id, r.name, r.attempt DESC
        """
    )
    op.execute("UPDATE discovery_phase_runs SET status = 'completed' WHERE status = 'succeeded'")
    op.create_check_constraint(
        op.f("ck_discovery_phase_runs_status"), "discovery_phase_runs", _in("status", FLOW_STATUSES)
    )
    op.execute(
        """
        UPDATE discovery_flows f SET
          status = COALESCE((
            SELECT CASE
              WHEN bool_or(p.status = 'failed') THEN 'failed'
              WHEN bool_or(p.status = 'cancelled') THEN 'cancelled'
              WHEN bool_or(p.status = 'waiting_for_approval') THEN 'waiting_for_approval'
              WHEN bool_or(p.status = 'running') THEN 'running'
              WHEN bool_and(p.status = 'completed') THEN 'completed'
              WHEN bool_or(p.status = 'completed') THEN 'running'
              ELSE 'pending' END
            FROM discovery_phase_runs p WHERE p.flow_id = f.id), 'pending'),
          error = (SELECT p.error FROM discovery_phase_runs p
                   WHERE p.flow_id = f.id AND p.status = 'failed' LIMIT 1)
        """
    )
    op.drop_table("runs")
