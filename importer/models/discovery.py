"""The discovery flow an import triggers: its phases, and the cleaned records it produces.

The phases' state lives on their runs (importer.models.run); the flow row holds what is the
flow's own: its engagement, current phase, progress and timings.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    DateTime,
    ForeignKey,
    Integer,
    ScalarSelect,
    String,
    Text,
    Uuid,
    and_,
    case,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, aliased, column_property, mapped_column

from importer.models.base import Base, created_at, updated_at, uuid_pk
from importer.models.run import Run, RunKind, RunStatus


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


def _latest_phase_runs(import_id) -> ColumnElement[bool]:
    """The latest attempt of each phase of the import: its phase runs that no later one follows."""
    later = aliased(Run)
    return and_(
        Run.import_id == import_id,
        Run.kind == RunKind.PHASE,
        ~select(later.id)
        .where(
            later.import_id == Run.import_id,
            later.kind == Run.kind,
            later.name == Run.name,
            later.attempt > Run.attempt,
        )
        .exists(),
    )


def flow_status(import_id) -> ScalarSelect[str]:
    """A flow's status, from the latest run of each of its phases: a failed or cancelled phase
    ends the flow so (a running one is only stopping), then one waiting for a person pauses it;
    it succeeded when every phase did, and runs while any ran or runs."""
    any_is = {status: func.bool_or(Run.status == status) for status in RunStatus}
    return (
        select(
            case(
                (any_is[RunStatus.FAILED], RunStatus.FAILED.value),
                (any_is[RunStatus.CANCELLED], RunStatus.CANCELLED.value),
                (any_is[RunStatus.WAITING_FOR_APPROVAL], RunStatus.WAITING_FOR_APPROVAL.value),
                (any_is[RunStatus.RUNNING], RunStatus.RUNNING.value),
                (func.bool_and(Run.status == RunStatus.SUCCEEDED), RunStatus.SUCCEEDED.value),
                (any_is[RunStatus.SUCCEEDED], RunStatus.RUNNING.value),
                else_=RunStatus.PENDING.value,
            )
        )
        .where(_latest_phase_runs(import_id))
        .correlate_except(Run)
        .scalar_subquery()
    )


def flow_error(import_id) -> ScalarSelect[str | None]:
    return (
        select(Run.error)
        .where(_latest_phase_runs(import_id), Run.status == RunStatus.FAILED)
        .limit(1)
        .correlate_except(Run)
        .scalar_subquery()
    )


class DiscoveryFlow(Base):
    __tablename__ = "discovery_flows"
    __table_args__ = (CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),)

    id: Mapped[UUID] = uuid_pk()
    import_id: Mapped[UUID] = mapped_column(
        ForeignKey("data_imports.id", ondelete="CASCADE"), unique=True
    )
    client_account_id: Mapped[UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    engagement: Mapped[str] = mapped_column(String(200))
    current_phase: Mapped[str | None] = mapped_column(String(40))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The flow's status and error are its phase runs': read, never written (see flow_status).
    status: Mapped[str] = column_property(flow_status(import_id))
    error: Mapped[str | None] = column_property(flow_error(import_id))


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
