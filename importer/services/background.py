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
from sqlalchemy import select
from sqlalchemy.orm import Session

from importer.models import (
    STEP_ORDER,
    WORKING_IMPORT_STATUSES,
    DataImport,
    Run,
    RunKind,
    RunStatus,
    Step,
    flow_phases,
)
from importer.pipeline import transitions
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
        transitions.plan(session, data_import, RunKind.STEP, steps)

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
                if run.kind == RunKind.STEP:
                    self._send(
                        STEP_TASKS[Step(run.name)], run.task_id, import_id, client_account_id
                    )
                else:
                    self._send(PHASE_TASK, run.task_id, import_id, client_account_id, run.name)
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
    ) -> Run | None:
        """The import's first run that is not done, locked, when it waits to be sent."""
        data_import = session.scalars(
            select(DataImport).where(
                DataImport.id == import_id, DataImport.client_account_id == client_account_id
            )
        ).one_or_none()
        if data_import is None or data_import.status not in WORKING_IMPORT_STATUSES:
            return None
        steps = transitions.latest(session, data_import, RunKind.STEP)
        step = transitions.first_not_succeeded(steps, STEP_ORDER)
        if step is None or step not in steps:
            return None
        current = steps[step]
        if current.status == RunStatus.RUNNING and step == Step.DISCOVERY:
            # The discovery step stays running while its flow runs: the next run is the flow's.
            phases = transitions.latest(session, data_import, RunKind.PHASE)
            phase = transitions.first_not_succeeded(phases, flow_phases(data_import.import_type))
            current = phases.get(phase)
        if current is None or current.status != RunStatus.PENDING:
            return None
        # Locked and read again: the watchdog's re-send waits for, and then sees, a send that
        # a unit which just succeeded is making of the same run.
        return session.scalars(
            select(Run)
            .where(Run.id == current.id, Run.status == RunStatus.PENDING)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()

    def revoke(self, task_ids: Iterable[str]) -> None:
        """Stop queued tasks from starting; running ones stop cooperatively at their next chunk."""
        ids = [t for t in task_ids if t]
        if ids:
            self._celery.control.revoke(ids)
