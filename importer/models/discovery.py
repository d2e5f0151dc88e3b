"""The discovery flow an import triggers, and the cleaned records it produces."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from importer.models.base import Base, check_in, created_at, updated_at, uuid_pk


class FlowStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_FLOW_STATUSES = frozenset({FlowStatus.COMPLETED, FlowStatus.FAILED, FlowStatus.CANCELLED})


class FlowPhase(enum.StrEnum):
    DATA_CLEANSING = "data_cleansing"


class DiscoveryFlow(Base):
    __tablename__ = "discovery_flows"
    __table_args__ = (
        CheckConstraint(check_in("status", tuple(FlowStatus)), name="status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        Index(
            "ix_discovery_flows_open_engagement",
            "client_account_id",
            "engagement",
            postgresql_where=text("status IN ('pending', 'running')"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("data_imports.id", ondelete="CASCADE"), unique=True
    )
    client_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    engagement: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30), default=FlowStatus.PENDING)
    current_phase: Mapped[str | None] = mapped_column(String(40))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    # Generated before the flow's task is enqueued, so the flow can always be revoked.
    task_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    records_cleaned: Mapped[int | None] = mapped_column(Integer)
    restarts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CleanedRecord(Base):
    """A valid raw row with the field mappings applied: canonical field -> raw value."""

    __tablename__ = "cleaned_records"

    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("data_imports.id", ondelete="CASCADE"), primary_key=True
    )
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
