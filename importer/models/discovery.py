"""The discovery flow an import triggers: its phases, and the cleaned records it produces."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from importer.models.base import Base, check_in, created_at, updated_at, uuid_pk


class FlowStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_FLOW_STATUSES = frozenset({FlowStatus.COMPLETED, FlowStatus.FAILED, FlowStatus.CANCELLED})


class FlowPhase(enum.StrEnum):
    FIELD_MAPPING = "field_mapping"
    DATA_CLEANSING = "data_cleansing"
    ASSET_INVENTORY = "asset_inventory"
    DEPENDENCY_ANALYSIS = "dependency_analysis"
    TECH_DEBT_ASSESSMENT = "tech_debt_assessment"


PHASE_ORDER: tuple[FlowPhase, ...] = tuple(FlowPhase)
# A dependencies import (connections observed between hosts) describes no asset: its rows are
# mapped and cleansed and become dependency edges; no asset is created, changed or assessed.
CONNECTION_PHASES = (
    FlowPhase.FIELD_MAPPING,
    FlowPhase.DATA_CLEANSING,
    FlowPhase.DEPENDENCY_ANALYSIS,
)


def flow_phases(import_type: str) -> tuple[FlowPhase, ...]:
    """The phases an import of this type runs, in order."""
    return CONNECTION_PHASES if import_type == "dependencies" else PHASE_ORDER


# Each phase's share of the flow's progress, by how long it takes.
PHASE_WEIGHTS = {
    FlowPhase.FIELD_MAPPING: 5,
    FlowPhase.DATA_CLEANSING: 35,
    FlowPhase.ASSET_INVENTORY: 35,
    FlowPhase.DEPENDENCY_ANALYSIS: 15,
    FlowPhase.TECH_DEBT_ASSESSMENT: 10,
}


class DiscoveryFlow(Base):
    __tablename__ = "discovery_flows"
    __table_args__ = (
        CheckConstraint(check_in("status", tuple(FlowStatus)), name="status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
    )

    id: Mapped[UUID] = uuid_pk()
    import_id: Mapped[UUID] = mapped_column(
        ForeignKey("data_imports.id", ondelete="CASCADE"), unique=True
    )
    client_account_id: Mapped[UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    engagement: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30), default=FlowStatus.PENDING)
    current_phase: Mapped[str | None] = mapped_column(String(40))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PhaseStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DiscoveryPhaseRun(Base):
    """One row per phase of a flow; its Celery task id is generated before it is enqueued."""

    __tablename__ = "discovery_phase_runs"
    __table_args__ = (
        UniqueConstraint("flow_id", "phase", name="uq_discovery_phase_runs_phase"),
        CheckConstraint(check_in("phase", tuple(FlowPhase)), name="phase"),
        CheckConstraint(check_in("status", tuple(PhaseStatus)), name="status"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
    )

    id: Mapped[UUID] = uuid_pk()
    flow_id: Mapped[UUID] = mapped_column(ForeignKey("discovery_flows.id", ondelete="CASCADE"))
    import_id: Mapped[UUID] = mapped_column(ForeignKey("data_imports.id", ondelete="CASCADE"))
    client_account_id: Mapped[UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    phase: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(30), default=PhaseStatus.PENDING)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    restarts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # When its task was planned or last sent: a pending run unsent for long is sent again.
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Refreshed while it runs; a running phase whose heartbeat is stale lost its worker.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CleanedRecord(Base):
    """A valid raw row with the mappings applied and its values normalised.

    The raw values stay in raw_import_records, as uploaded; the mappings say which column each
    field came from.
    """

    __tablename__ = "cleaned_records"

    # The import's id without a foreign key: deleting the import deletes the row by trigger
    # (migration 0006), and a million rows are not each checked against it.
    import_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The import's account, copied from it; no foreign key of its own (it would be checked for
    # every row, and the import's already ties the row to the account and deletes it with it).
    client_account_id: Mapped[UUID] = mapped_column(Uuid)
    # canonical field -> clean value
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The asset the row describes, as the cleansing found it (importer.discovery.identity and
    # classify): the inventory matches and creates assets from these in SQL.
    hostname_key: Mapped[str | None] = mapped_column(Text)
    serial_number: Mapped[str | None] = mapped_column(Text)
    primary_ip: Mapped[str | None] = mapped_column(Text)
    uuid: Mapped[str | None] = mapped_column(Text)
    source_id: Mapped[str | None] = mapped_column(Text)
    asset_type: Mapped[str | None] = mapped_column(String(30))
