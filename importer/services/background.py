"""BackgroundExecutionService: plans step runs with task ids up front, then enqueues them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence

from celery import Celery, chain
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from importer.errors import ServiceUnavailable
from importer.models import DataImport, DiscoveryPhaseRun, ImportStepRun, Step, StepStatus
from importer.services.import_state import fail_import
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

    def plan_steps(
        self, session: Session, data_import: DataImport, steps: Sequence[Step]
    ) -> list[ImportStepRun]:
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
        runs = [
            ImportStepRun(
                import_id=data_import.id,
                client_account_id=data_import.client_account_id,
                step=step,
                task_id=str(uuid.uuid4()),
                status=StepStatus.PENDING,
                attempt=previous.get(step, 0) + 1,
            )
            for step in steps
        ]
        session.add_all(runs)
        session.flush()
        return runs

    def start_steps(self, runs: Sequence[ImportStepRun]) -> None:
        """Enqueue the planned runs; if the broker refuses, the import fails and can be retried."""
        try:
            self._enqueue_steps(runs)
        except Exception as exc:
            log.exception("could not enqueue steps of import %s", runs[0].import_id)
            error = f"Could not enqueue the pipeline: {type(exc).__name__}: {exc}"
            with self._tx.transaction() as session:
                data_import = self._tx.lock_import(
                    session, runs[0].import_id, runs[0].client_account_id
                )
                fail_import(session, data_import, error)
            raise ServiceUnavailable(
                "The task broker is unreachable; the import is stored and can be retried.",
                code="broker-unavailable",
                details={"import_id": str(runs[0].import_id)},
            ) from exc

    def _enqueue_steps(self, runs: Sequence[ImportStepRun]) -> None:
        signatures = [
            self._celery.signature(
                STEP_TASKS[Step(run.step)],
                args=(str(run.import_id), str(run.client_account_id)),
                immutable=True,
            ).set(task_id=run.task_id)
            for run in runs
        ]
        chain(*signatures).apply_async()

    def enqueue_phases(self, runs: Sequence[DiscoveryPhaseRun]) -> None:
        chain(
            *(
                self._celery.signature(
                    PHASE_TASK,
                    args=(str(run.import_id), str(run.client_account_id), run.phase),
                    immutable=True,
                ).set(task_id=run.task_id)
                for run in runs
            )
        ).apply_async()

    def revoke(self, task_ids: Iterable[str]) -> None:
        """Stop queued tasks from starting; running ones stop cooperatively at their next chunk."""
        ids = [t for t in task_ids if t]
        if ids:
            self._celery.control.revoke(ids)
