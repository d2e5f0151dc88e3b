"""The pipeline's three steps as units of work, each tied to its ImportStepRun by Celery task id."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from importer.models import (
    OPEN_STEP_STATUSES,
    WORKING_IMPORT_STATUSES,
    DataImport,
    ImportStatus,
    ImportStepRun,
    Step,
    StepStatus,
)
from importer.services.discovery_flow import flow_under_way
from importer.services.field_mappings import FieldMappingService
from importer.services.flow_trigger import FlowTriggerService
from importer.services.import_state import fail_import, now
from importer.services.step_runner import TooManyRestarts, WorkContext
from importer.services.validation_service import ValidationService


class StepUnit:
    step: Step
    status_while_running: ImportStatus
    # The discovery step ends when its flow ends, not when its task returns.
    completes_step = True

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.name = str(self.step)

    def _run(self, session: Session, data_import: DataImport) -> ImportStepRun | None:
        return session.scalars(
            select(ImportStepRun)
            .where(
                ImportStepRun.task_id == self.task_id,
                ImportStepRun.import_id == data_import.id,
                ImportStepRun.client_account_id == data_import.client_account_id,
            )
            .with_for_update()
        ).one_or_none()

    def begin(self, session: Session, data_import: DataImport, max_restarts: int) -> bool:
        run = self._run(session, data_import)
        # Only a pending run, or a running one whose worker is gone (a live one holds the work
        # lock), of an import at work is worked on: any other message of it (sent again by the
        # watchdog, delivered twice) does nothing.
        if run is None or run.status not in OPEN_STEP_STATUSES:
            return False
        if data_import.status == ImportStatus.CANCELLED:
            run.status, run.finished_at = StepStatus.CANCELLED, now()
            return False
        if data_import.status not in WORKING_IMPORT_STATUSES:
            return False
        if run.status == StepStatus.RUNNING:
            if self._handed_over(session, data_import):
                return False
            run.restarts += 1
            if run.restarts >= max_restarts:
                raise TooManyRestarts(
                    f"The {self.step} step was started {run.restarts + 1} times without "
                    "finishing (its worker died or lost the database each time); giving up."
                )
        else:
            run.started_at = now()
        run.status, run.heartbeat_at, run.error = StepStatus.RUNNING, now(), None
        data_import.status = self.status_while_running
        return True

    def heartbeat(self, session: Session, import_id: uuid.UUID, percent: int) -> None:
        session.execute(
            update(ImportStepRun)
            .where(ImportStepRun.task_id == self.task_id, ImportStepRun.import_id == import_id)
            .values(heartbeat_at=now())
        )

    def _handed_over(self, session: Session, data_import: DataImport) -> bool:
        """Whether a running run's task did its work already, the run staying open after it."""
        return False

    def work(self, ctx: WorkContext) -> None:
        raise NotImplementedError

    def succeed(self, session: Session, data_import: DataImport, ctx: WorkContext) -> None:
        if self.completes_step:
            run = self._run(session, data_import)
            run.status, run.finished_at = StepStatus.SUCCEEDED, now()

    def fail(self, session: Session, data_import: DataImport, error: str) -> None:
        fail_import(session, data_import, error)

    def cancel(self, session: Session, data_import: DataImport) -> None:
        run = self._run(session, data_import)
        if run is not None and run.status in OPEN_STEP_STATUSES:
            run.status, run.finished_at = StepStatus.CANCELLED, now()


class ValidateStep(StepUnit):
    step = Step.VALIDATE
    status_while_running = ImportStatus.VALIDATING

    def __init__(self, task_id: str, validation: ValidationService) -> None:
        super().__init__(task_id)
        self._validation = validation

    def work(self, ctx: WorkContext) -> None:
        self._validation.run(ctx)


class MappingsStep(StepUnit):
    step = Step.MAPPINGS
    status_while_running = ImportStatus.MAPPING

    def __init__(self, task_id: str, mappings: FieldMappingService) -> None:
        super().__init__(task_id)
        self._mappings = mappings

    def work(self, ctx: WorkContext) -> None:
        self._mappings.suggest_and_store(ctx.session, ctx.data_import)


class DiscoveryStep(StepUnit):
    step = Step.DISCOVERY
    status_while_running = ImportStatus.DISCOVERING
    completes_step = False

    def __init__(self, task_id: str, flows: FlowTriggerService) -> None:
        super().__init__(task_id)
        self._flows = flows

    def _handed_over(self, session: Session, data_import: DataImport) -> bool:
        # Planning its flow again would give the queued phases new task ids, and resume a flow
        # that waits for a person's approval.
        return flow_under_way(session, data_import.id)

    def work(self, ctx: WorkContext) -> None:
        self._flows.prepare_flow(ctx.session, ctx.data_import)
