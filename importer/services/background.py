"""BackgroundExecutionService: plans step runs with task ids up front, and is the one place that
sends tasks.

A pending run is work to be sent, so PostgreSQL is the outbox: whatever commits a pending run (an
upload, a retry, a resume, a unit that succeeded) calls ``send_next`` after its commit, and the
watchdog calls it again for a run left unsent for long. Either way it sends the import's next run,
read from the database, with the task id stored before anything was sent. A message sent twice is
harmless: a unit begins only on a pending run, or on a running one whose worker is gone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta

from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from importer.models import (
    STEP_ORDER,
    WORKING_IMPORT_STATUSES,
    DataImport,
    DiscoveryFlow,
    DiscoveryPhaseRun,
    FlowPhase,
    FlowStatus,
    ImportStepRun,
    PhaseStatus,
    Step,
    StepStatus,
    flow_phases,
)
from importer.services.import_state import now
from importer.services.transactions import ImportTransactionManager

log = logging.getLogger(__name__)

STEP_TASKS: dict[Step, str] = {
    Step.VALIDATE: "importer.validate_import",
    Step.MAPPINGS: "importer.persist_field_mappings",
    Step.DISCOVERY: "importer.trigger_discovery_flow",
}
PHASE_TASK = "importer.run_discovery_phase"


class BackgroundExecutionService:
    def __init__(self, celery: Celery, transactions: ImportTransactionManager) -> None:
        self._celery = celery
        self._tx = transactions

    def plan_steps(self, session: Session, data_import: DataImport, steps: Sequence[Step]) -> None:
        """Pending step runs, each with its Celery task id, stored before anything is sent."""
        previous = dict(
            session.execute(
                select(ImportStepRun.step, func.max(ImportStepRun.attempt))
                .where(
                    ImportStepRun.import_id == data_import.id,
                    ImportStepRun.client_account_id == data_import.client_account_id,
                )
                .group_by(ImportStepRun.step)
            ).all()
        )
        session.add_all(
            ImportStepRun(
                import_id=data_import.id,
                client_account_id=data_import.client_account_id,
                step=step,
                task_id=str(uuid.uuid4()),
                status=StepStatus.PENDING,
                attempt=previous.get(step, 0) + 1,
            )
            for step in steps
        )
        session.flush()

    def send_next(
        self,
        import_id: uuid.UUID,
        client_account_id: uuid.UUID,
        *,
        unsent_for: timedelta | None = None,
    ) -> str | None:
        """Send the task of the import's next run if that run is pending; its task id if sent.

        ``unsent_for``: only if the run was planned or last sent that long ago (the watchdog's
        re-send). Never raises: a run that could not be sent stays pending, and the watchdog
        sends it once the broker answers again.
        """
        try:
            with self._tx.transaction() as session:
                run = self._next_pending(session, import_id, client_account_id)
                if run is None or (unsent_for is not None and run.queued_at > now() - unsent_for):
                    return None
                run.queued_at = now()
                # Sent before the commit: a message is never lost behind a committed queued_at.
                if isinstance(run, ImportStepRun):
                    self._send(
                        STEP_TASKS[Step(run.step)], run.task_id, import_id, client_account_id
                    )
                else:
                    self._send(PHASE_TASK, run.task_id, import_id, client_account_id, run.phase)
                return run.task_id
        except Exception:
            log.warning(
                "could not send the next task of import %s; the watchdog sends it later",
                import_id,
                exc_info=True,
            )
            return None

    def _send(self, name: str, task_id: str, *args: object) -> None:
        self._celery.send_task(name, args=tuple(str(a) for a in args), task_id=task_id)

    def _next_pending(
        self, session: Session, import_id: uuid.UUID, client_account_id: uuid.UUID
    ) -> ImportStepRun | DiscoveryPhaseRun | None:
        """The import's first run that is not done, locked, when it waits to be sent."""
        data_import = session.scalars(
            select(DataImport).where(
                DataImport.id == import_id, DataImport.client_account_id == client_account_id
            )
        ).one_or_none()
        if data_import is None or data_import.status not in WORKING_IMPORT_STATUSES:
            return None
        runs = session.scalars(
            select(ImportStepRun)
            .where(
                ImportStepRun.import_id == import_id,
                ImportStepRun.client_account_id == client_account_id,
            )
            .order_by(ImportStepRun.attempt)
        ).all()
        latest = {Step(run.step): run for run in runs}
        current = next(
            (
                latest.get(s)
                for s in STEP_ORDER
                if s not in latest or latest[s].status != StepStatus.SUCCEEDED
            ),
            None,
        )
        if current is None:
            return None
        if current.status == StepStatus.PENDING:
            return self._locked_if_pending(session, ImportStepRun, current.id, StepStatus.PENDING)
        if current.step != Step.DISCOVERY or current.status != StepStatus.RUNNING:
            return None
        # The discovery step stays running while its flow runs: the next run is the flow's.
        flow = session.scalars(
            select(DiscoveryFlow).where(DiscoveryFlow.import_id == import_id)
        ).one_or_none()
        if flow is None or flow.status not in (FlowStatus.PENDING, FlowStatus.RUNNING):
            return None
        phases = {
            FlowPhase(run.phase): run
            for run in session.scalars(
                select(DiscoveryPhaseRun).where(DiscoveryPhaseRun.flow_id == flow.id)
            )
        }
        phase = next(
            (
                phases.get(p)
                for p in flow_phases(data_import.import_type)
                if p not in phases or phases[p].status != PhaseStatus.COMPLETED
            ),
            None,
        )
        if phase is None or phase.status != PhaseStatus.PENDING:
            return None
        return self._locked_if_pending(session, DiscoveryPhaseRun, phase.id, PhaseStatus.PENDING)

    @staticmethod
    def _locked_if_pending(session: Session, model, run_id: uuid.UUID, pending: str):
        # Locked and read again: the watchdog's re-send waits for, and then sees, a send that
        # a unit which just succeeded is making of the same run.
        return session.scalars(
            select(model)
            .where(model.id == run_id, model.status == pending)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()

    def revoke(self, task_ids: Iterable[str]) -> None:
        """Stop queued tasks from starting; running ones stop cooperatively at their next chunk."""
        ids = [t for t in task_ids if t]
        if ids:
            self._celery.control.revoke(ids)
