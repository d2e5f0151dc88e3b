"""One row per run of background work: a pipeline step, a discovery phase, or a chunk of either.

Each row is one attempt, holding the Celery task id generated before its task is sent. A phase's
parent is the discovery step run that planned it; a chunk's parent is the step or phase run whose
rows it covers (``row_from``..``row_to``), and so is the parent of the finish run that does its
whole-import work once every chunk succeeded, and of the discard run that removes its committed
chunks' output after a cancel. Status changes go through importer.pipeline.transitions.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from importer.models.base import Base, check_in, created_at, uuid_pk


class Step(enum.StrEnum):
    VALIDATE = "validate"
    MAPPINGS = "mappings"
    DISCOVERY = "discovery"


# The order the chain runs them in; a retry resumes from the first that did not succeed.
STEP_ORDER: tuple[Step, ...] = (Step.VALIDATE, Step.MAPPINGS, Step.DISCOVERY)


class RunKind(enum.StrEnum):
    STEP = "step"
    PHASE = "phase"
    CHUNK = "chunk"
    FINISH = "finish"
    DISCARD = "discard"
    # Takes a completed import back out of the inventory (importer.services.undo).
    UNDO = "undo"


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A worker may take these up: a pending run, or a running one whose worker is gone.
OPEN_RUN_STATUSES = frozenset({RunStatus.PENDING, RunStatus.RUNNING})
FINAL_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(check_in("kind", tuple(RunKind)), name="kind"),
        CheckConstraint(check_in("status", tuple(RunStatus)), name="status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        # Only a chunk covers a range of rows, and it always does.
        CheckConstraint(
            "(kind = 'chunk') = (row_from IS NOT NULL)"
            " AND (row_from IS NULL) = (row_to IS NULL) AND row_from <= row_to",
            name="chunk_rows",
        ),
        # One row per attempt of each step, phase and chunk (a chunk by its first row).
        Index(
            "uq_runs_attempt",
            "import_id",
            "kind",
            "name",
            "row_from",
            "attempt",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        # A run's children of a kind in a status: one probe whatever the statistics say of
        # the statuses (migration 0018).
        Index("ix_runs_parent", "parent_id", "kind", "status"),
        # The watchdog's scans: open runs only, however many finished ones the table holds.
        Index(
            "ix_runs_open",
            "status",
            "queued_at",
            postgresql_where="status IN ('pending', 'running')",
        ),
        # An account's open phases and discards by name: who holds its inventory, who waits
        # for it (importer.services.phases.asset_inventory.InventoryLease; migration 0018).
        Index(
            "ix_runs_account_open_phases",
            "client_account_id",
            "name",
            postgresql_where="kind IN ('phase', 'discard') AND status IN ('pending', 'running')",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_imports.id", ondelete="CASCADE"))
    client_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(10))
    # The step's or phase's name (a chunk's is its parent's).
    name: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    row_from: Mapped[int | None] = mapped_column(Integer)
    row_to: Mapped[int | None] = mapped_column(Integer)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(30), default=RunStatus.PENDING)
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Starts that found the run already running: crashes and connection retries, bounded.
    restarts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # A chunked step's or phase's preparation, the same for each of its chunks (importer.pipeline
    # .chunks); a retry compares it with its failed attempt's to keep that attempt's chunks.
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    # When it was planned (or resumed), and when its message last went to the broker (None:
    # never). A pending run is sent once after its commit; one still pending long after is sent
    # again by the watchdog.
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Refreshed while it works; a running run whose heartbeat is stale lost its worker.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
