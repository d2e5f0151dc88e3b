"""A discovery flow phase as a unit of work: one Celery task per phase, each sent once the phase
before it succeeded (a chunked phase's task plans chunk runs, whose finish ends the phase: see
importer.pipeline.chunks).

The flow's state lives on its phase runs (status, progress, summary, error), children of the
discovery step run that planned them; the flow row sums them up. The last phase to succeed
completes the flow, the discovery step and the import.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from importer.models import (
    OPEN_RUN_STATUSES,
    PHASE_WEIGHTS,
    DataImport,
    DiscoveryFlow,
    FlowPhase,
    ImportStatus,
    Run,
    RunKind,
    RunStatus,
    Step,
    flow_phases,
)
from importer.pipeline import transitions
from importer.pipeline.chunks import HANDED_OVER, ChunkedWork, ChunkPlanner
from importer.services.import_state import fail_import, now
from importer.services.step_runner import RunUnit, WorkContext


class PhaseWork(Protocol):
    def run(self, ctx: WorkContext) -> dict[str, Any]: ...


class Chunked:
    """A phase whose work is done in chunk runs: its own task plans them. Run outside of a run
    of its own (no ``ctx.run_id``: a caller's transaction), it does the whole work there."""

    def __init__(self, work: ChunkedWork, planner: ChunkPlanner) -> None:
        self._work = work
        self._planner = planner

    def run(self, ctx: WorkContext) -> dict[str, Any]:
        if getattr(ctx, "run_id", None) is None:
            return self._planner.run_inline(ctx, self._work)
        self._planner.plan(ctx, self._work)
        return {}


def phase_runs(data_import: DataImport) -> tuple[ColumnElement[bool], ...]:
    return (*transitions.of_import(data_import), Run.kind == RunKind.PHASE)


def flow_progress(session: Session, data_import: DataImport) -> int:
    latest = transitions.latest(session, data_import, RunKind.PHASE)
    # Out of the weights of the flow's own phases: a flow of fewer phases also ends at 100.
    planned = sum(PHASE_WEIGHTS[FlowPhase(name)] for name in latest)
    done = sum(PHASE_WEIGHTS[FlowPhase(name)] * run.progress for name, run in latest.items())
    return int(done / planned) if planned else 0


def show_flow_progress(session: Session, data_import: DataImport) -> None:
    session.execute(
        update(DiscoveryFlow)
        .where(DiscoveryFlow.import_id == data_import.id)
        .values(progress=flow_progress(session, data_import), updated_at=now())
    )


def close_discovery_step(session: Session, data_import: DataImport, to: RunStatus) -> None:
    """The running discovery step whose flow is planned ends as its flow did."""
    transitions.move_all(
        session,
        to,
        *transitions.of_import(data_import),
        Run.kind == RunKind.STEP,
        Run.name == Step.DISCOVERY,
        Run.status == RunStatus.RUNNING,
        # Its flow is planned: its own work is done, its phases are what runs.
        HANDED_OVER,
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


def cancel_flow(session: Session, data_import: DataImport) -> list[str]:
    """Cancel the flow's open phases; returns the task ids of phases not yet started."""
    flow = locked_flow(session, data_import)
    if flow is None:
        return []
    queued = transitions.move_all(
        session,
        RunStatus.CANCELLED,
        *phase_runs(data_import),
        Run.status.in_((RunStatus.PENDING, RunStatus.WAITING_FOR_APPROVAL)),
    )
    running = session.scalar(
        select(Run.id).where(*phase_runs(data_import), Run.status == RunStatus.RUNNING)
    )
    if running is None:
        # No phase is running to notice the cancel and close the step: close it here.
        close_discovery_step(session, data_import, RunStatus.CANCELLED)
    flow.finished_at = flow.finished_at or now()
    return queued


def cancel_phase(session: Session, data_import: DataImport, run: Run | None) -> None:
    if run is not None and run.status in OPEN_RUN_STATUSES:
        transitions.move(run, RunStatus.CANCELLED)
    cancel_flow(session, data_import)
    close_discovery_step(session, data_import, RunStatus.CANCELLED)


def fail_phase(session: Session, data_import: DataImport, run: Run | None, error: str) -> None:
    """The phase, its flow and the import failed; a cancel wins over a failure."""
    if data_import.status == ImportStatus.CANCELLED:
        cancel_phase(session, data_import, run)
        return
    if run is not None:
        transitions.move(run, RunStatus.FAILED, error=error)
        locked_flow(session, data_import).finished_at = now()
    fail_import(session, data_import, error)


class ByImportType:
    """The chunked work of a phase whose work depends on the import type: another type's work,
    or the usual one. One phase name, one entry of the chunked works by name: its chunks, finish
    and discard find the work for their import."""

    def __init__(self, usual: ChunkedWork, **by_type: ChunkedWork) -> None:
        self._usual = usual
        self._by_type = by_type

    def _of(self, data_import: DataImport) -> ChunkedWork:
        return self._by_type.get(data_import.import_type, self._usual)

    def plan(self, session: Session, data_import: DataImport) -> tuple[int, dict[str, Any]]:
        return self._of(data_import).plan(session, data_import)

    def chunk(
        self, session: Session, data_import: DataImport, plan: dict[str, Any], after: int, upto: int
    ) -> dict[str, Any]:
        return self._of(data_import).chunk(session, data_import, plan, after, upto)

    def finish(self, ctx, plan: dict[str, Any], summaries: list[dict[str, Any]]) -> dict[str, Any]:
        return self._of(ctx.data_import).finish(ctx, plan, summaries)

    def discard(self, session: Session, data_import: DataImport) -> None:
        self._of(data_import).discard(session, data_import)


class Lease(Protocol):
    def claim(self, session: Session, run: Run) -> bool:
        """Whether the phase run may start now (False: it stays pending, to be sent again)."""


class PhaseUnit(RunUnit):
    kind = RunKind.PHASE

    def __init__(self, task_id: str, work: PhaseWork, lease: Lease | None = None) -> None:
        super().__init__(task_id)
        self._work = work
        self._lease = lease
        self.name = "discovery_flow"

    def _ready(self, session: Session, run: Run) -> bool:
        # A running phase holds its lease already (a restart, a copy of its message): it takes
        # no inventory lock here, which its own chunk may hold while it waits for the import.
        if self._lease is None or run.status == RunStatus.RUNNING:
            return True
        return self._lease.claim(session, run)

    def begin(self, session: Session, data_import: DataImport, max_restarts: int) -> bool:
        run = self._start(session, data_import, max_restarts)
        if run is None:
            return False
        flow = locked_flow(session, data_import)
        flow.current_phase = run.name
        flow.started_at = flow.started_at or now()
        data_import.status = ImportStatus.DISCOVERING
        return True

    def work(self, ctx: WorkContext) -> None:
        ctx.result = self._work.run(ctx)

    def heartbeat(self, session: Session, import_id: uuid.UUID, percent: int) -> None:
        super().heartbeat(session, import_id, percent)
        show_flow_progress(session, session.get(DataImport, import_id))

    def succeed(self, session: Session, data_import: DataImport, ctx: WorkContext) -> None:
        if ctx.handed_over:
            return
        run = self._run(session, data_import)
        flow = locked_flow(session, data_import)
        run.summary = ctx.result or {}
        if ctx.paused is not None:
            transitions.move(run, RunStatus.WAITING_FOR_APPROVAL, error=ctx.paused)
            data_import.status = ImportStatus.WAITING_FOR_APPROVAL
            return
        transitions.move(run, RunStatus.SUCCEEDED)
        session.flush()
        flow.progress = flow_progress(session, data_import)
        if FlowPhase(run.name) == flow_phases(data_import.import_type)[-1]:
            flow.progress, flow.finished_at, flow.current_phase = 100, now(), None
            close_discovery_step(session, data_import, RunStatus.SUCCEEDED)
            data_import.status = ImportStatus.COMPLETED
            data_import.finished_at = now()

    def fail(self, session: Session, data_import: DataImport, error: str) -> None:
        fail_phase(session, data_import, self._run(session, data_import), error)

    def cancel(self, session: Session, data_import: DataImport) -> None:
        cancel_phase(session, data_import, self._run(session, data_import))
