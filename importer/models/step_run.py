"""One row per pipeline step per attempt, holding the Celery task id generated before enqueueing."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from importer.models.base import Base, check_in, created_at, uuid_pk


class Step(enum.StrEnum):
    VALIDATE = "validate"
    MAPPINGS = "mappings"
    DISCOVERY = "discovery"


# The order the chain runs them in; a retry resumes from the first that did not succeed.
STEP_ORDER: tuple[Step, ...] = (Step.VALIDATE, Step.MAPPINGS, Step.DISCOVERY)


class StepStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_STEP_STATUSES = frozenset({StepStatus.PENDING, StepStatus.RUNNING})


class ImportStepRun(Base):
    __tablename__ = "import_step_runs"
    __table_args__ = (
        CheckConstraint(check_in("step", tuple(Step)), name="step"),
        CheckConstraint(check_in("status", tuple(StepStatus)), name="status"),
        Index("uq_import_step_runs_attempt", "import_id", "step", "attempt", unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_imports.id", ondelete="CASCADE"))
    client_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    step: Mapped[str] = mapped_column(String(20))
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=StepStatus.PENDING)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = created_at()
    # When its task was planned or last sent: a pending run unsent for long is sent again.
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Refreshed at every chunk; a running step whose heartbeat is stale lost its worker.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Starts that found the step already running: crashes and connection retries, bounded.
    restarts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)

    @property
    def position(self) -> int:
        return STEP_ORDER.index(Step(self.step))
