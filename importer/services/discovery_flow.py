"""A discovery flow phase as a unit of work: one Celery task per phase, each sent once the phase
before it completed.

The flow's state lives on its phase runs (status, progress, summary, error); the flow row sums
them up. The last phase to complete completes the flow, the discovery step and the import.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from importer.models import (
    FINAL_FLOW_STATUSES,
    PHASE_WEIGHTS,
    WORKING_IMPORT_STATUSES,
    DataImport,
    DiscoveryFlow,
    DiscoveryPhaseRun,
    FlowPhase,
    FlowStatus,
    ImportStatus,
    ImportStepRun,
    PhaseStatus,
    Step,
    StepStatus,
    flow_phases,
)
from importer.services.import_state import fail_import, now
from importer.services.step_runner import TooManyRestarts, WorkContext

OPEN_PHASE_STATUSES = (PhaseStatus.PENDING, PhaseStatus.RUNNING)


class PhaseWork(Protocol):
    def run(self, ctx: WorkContext) -> dict[str, Any]: ...


def flow_progress(session: Session, flow_id: uuid.UUID) -> int:
    runs = session.execute(
        select(DiscoveryPhaseRun.phase, DiscoveryPhaseRun.progress).where(
            DiscoveryPhaseRun.flow_id == flow_id
        )
    ).all()
    # Out of the weights of the flow's own phases: a flow of fewer phases also ends at 100.
    planned = sum(PHASE_WEIGHTS[FlowPhase(p)] for p, _ in runs)
    done = sum(PHASE_WEIGHTS[FlowPhase(p)] * progress for p, progress in runs)
    return int(done / planned) if planned else 0


def close_discovery_step(session: Session, data_import: DataImport, status: StepStatus) -> None:
    session.execute(
        update(ImportStepRun)
        .where(
            ImportStepRun.import_id == data_import.id,
            ImportStepRun.client_account_id == data_import.client_account_id,
            ImportStepRun.step == Step.DISCOVERY,
            ImportStepRun.status == StepStatus.RUNNING,
        )
        .values(status=status, finished_at=now())
    )


def locked_flow(session: Session, data_import: DataImport) -> DiscoveryFlow | None:
    return session.scalars(
        select(DiscoveryFlow)
        .where(
            DiscoveryFlow.import_id == data_import.id,
            DiscoveryFlow.client_account_id == data_import.client_account_id,
        )
        .with_for_update()
    ).one_or_none()


def flow_under_way(session: Session, import_id: uuid.UUID) -> bool:
    """Whether the import's flow is planned and not ended: its discovery step's work is done."""
    status = session.scalar(
        select(DiscoveryFlow.status).where(DiscoveryFlow.import_id == import_id)
    )
    return status is not None and status not in FINAL_FLOW_STATUSES


def cancel_flow(session: Session, data_import: DataImport) -> list[str]:
    """Cancel the flow and its open phases; returns the task ids of phases not yet started."""
    flow = locked_flow(session, data_import)
    if flow is None or flow.status in FINAL_FLOW_STATUSES:
        return []
    flow.status, flow.finished_at = FlowStatus.CANCELLED, now()
    queued = session.scalars(
        update(DiscoveryPhaseRun)
        .where(
            DiscoveryPhaseRun.flow_id == flow.id,
            DiscoveryPhaseRun.status.in_((PhaseStatus.PENDING, PhaseStatus.WAITING_FOR_APPROVAL)),
        )
        .values(status=PhaseStatus.CANCELLED, finished_at=now())
        .returning(DiscoveryPhaseRun.task_id)
    ).all()
    running = session.scalar(
        select(DiscoveryPhaseRun.id).where(
            DiscoveryPhaseRun.flow_id == flow.id, DiscoveryPhaseRun.status == PhaseStatus.RUNNING
        )
    )
    if running is None:
        # No phase is running to notice the cancel and close the step: close it here.
        close_discovery_step(session, data_import, StepStatus.CANCELLED)
    return list(queued)


def cancel_phase(session: Session, data_import: DataImport, run: DiscoveryPhaseRun | None) -> None:
    if run is not None and run.status in OPEN_PHASE_STATUSES:
        run.status, run.finished_at = PhaseStatus.CANCELLED, now()
    cancel_flow(session, data_import)
    close_discovery_step(session, data_import, StepStatus.CANCELLED)


def fail_phase(
    session: Session, data_import: DataImport, run: DiscoveryPhaseRun | None, error: str
) -> None:
    """The phase, its flow and the import failed; a cancel wins over a failure."""
    if data_import.status == ImportStatus.CANCELLED:
        cancel_phase(session, data_import, run)
        return
    if run is not None:
        run.status, run.error, run.finished_at = PhaseStatus.FAILED, error, now()
        flow = session.get(DiscoveryFlow, run.flow_id, with_for_update=True)
        flow.status, flow.error, flow.finished_at = FlowStatus.FAILED, error, now()
    fail_import(session, data_import, error)


class ByImportType:
    """A phase whose work depends on the import type: another type's work, or the usual one."""

    def __init__(self, usual: PhaseWork, **by_type: PhaseWork) -> None:
        self._usual = usual
        self._by_type = by_type

    def run(self, ctx: WorkContext) -> dict[str, Any]:
        return self._by_type.get(ctx.data_import.import_type, self._usual).run(ctx)


class PhaseUnit:
    def __init__(self, task_id: str, work: PhaseWork) -> None:
        self.task_id = task_id
        self._work = work
        self.name = "discovery_flow"

    def _run(self, session: Session, data_import: DataImport) -> DiscoveryPhaseRun | None:
        return session.scalars(
            select(DiscoveryPhaseRun)
            .where(
                DiscoveryPhaseRun.task_id == self.task_id,
                DiscoveryPhaseRun.import_id == data_import.id,
                DiscoveryPhaseRun.client_account_id == data_import.client_account_id,
            )
            .with_for_update()
        ).one_or_none()

    @staticmethod
    def _flow(session: Session, run: DiscoveryPhaseRun) -> DiscoveryFlow:
        return session.get(DiscoveryFlow, run.flow_id, with_for_update=True)

    def begin(self, session: Session, data_import: DataImport, max_restarts: int) -> bool:
        run = self._run(session, data_import)
        # Only a pending run, or a running one whose worker is gone (a live one holds the work
        # lock), of an import at work is worked on: any other message of it (sent again by the
        # watchdog, delivered twice) does nothing.
        if run is None or run.status not in OPEN_PHASE_STATUSES:
            return False
        self.name = run.phase
        if data_import.status == ImportStatus.CANCELLED:
            self.cancel(session, data_import)
            return False
        if data_import.status not in WORKING_IMPORT_STATUSES:
            return False
        if run.status == PhaseStatus.RUNNING:
            run.restarts += 1
            if run.restarts >= max_restarts:
                raise TooManyRestarts(
                    f"The {run.phase} phase was started {run.restarts + 1} times without "
                    "finishing (its worker died or lost the database each time); giving up."
                )
        run.status, run.error, run.progress = PhaseStatus.RUNNING, None, 0
        run.started_at = run.heartbeat_at = now()
        flow = self._flow(session, run)
        flow.status, flow.current_phase = FlowStatus.RUNNING, run.phase
        flow.started_at = flow.started_at or now()
        data_import.status = ImportStatus.DISCOVERING
        return True

    def work(self, ctx: WorkContext) -> None:
        ctx.result = self._work.run(ctx)

    def heartbeat(self, session: Session, import_id: uuid.UUID, percent: int) -> None:
        flow_id = session.scalar(
            update(DiscoveryPhaseRun)
            .where(DiscoveryPhaseRun.task_id == self.task_id)
            .values(progress=percent, heartbeat_at=now())
            .returning(DiscoveryPhaseRun.flow_id)
        )
        session.execute(
            update(DiscoveryFlow)
            .where(DiscoveryFlow.id == flow_id)
            .values(progress=flow_progress(session, flow_id), updated_at=now())
        )

    def succeed(self, session: Session, data_import: DataImport, ctx: WorkContext) -> None:
        run = self._run(session, data_import)
        flow = self._flow(session, run)
        run.summary = ctx.result or {}
        if ctx.paused is not None:
            run.status, run.error = PhaseStatus.WAITING_FOR_APPROVAL, ctx.paused
            flow.status = FlowStatus.WAITING_FOR_APPROVAL
            data_import.status = ImportStatus.WAITING_FOR_APPROVAL
            return
        run.status, run.progress, run.finished_at = PhaseStatus.COMPLETED, 100, now()
        session.flush()
        flow.progress = flow_progress(session, flow.id)
        if FlowPhase(run.phase) == flow_phases(data_import.import_type)[-1]:
            flow.status, flow.progress, flow.finished_at = FlowStatus.COMPLETED, 100, now()
            flow.current_phase = None
            close_discovery_step(session, data_import, StepStatus.SUCCEEDED)
            data_import.status = ImportStatus.COMPLETED
            data_import.finished_at = now()

    def fail(self, session: Session, data_import: DataImport, error: str) -> None:
        fail_phase(session, data_import, self._run(session, data_import), error)

    def cancel(self, session: Session, data_import: DataImport) -> None:
        cancel_phase(session, data_import, self._run(session, data_import))
