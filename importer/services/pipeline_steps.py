"""The pipeline's three steps as units of work, each tied to its step run by Celery task id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from importer.models import DataImport, ImportStatus, Run, RunStatus, Step
from importer.pipeline import transitions
from importer.services.discovery_flow import flow_planned
from importer.services.field_mappings import FieldMappingService
from importer.services.flow_trigger import FlowTriggerService
from importer.services.import_state import fail_import
from importer.services.step_runner import RunUnit, WorkContext
from importer.services.validation_service import ValidationService


class StepUnit(RunUnit):
    step: Step
    status_while_running: ImportStatus
    # The discovery step ends when its flow ends, not when its task returns.
    completes_step = True

    def __init__(self, task_id: str) -> None:
        super().__init__(task_id)
        self.name = str(self.step)

    def begin(self, session: Session, data_import: DataImport, max_restarts: int) -> bool:
        if self._start(session, data_import, max_restarts) is None:
            return False
        data_import.status = self.status_while_running
        return True

    def work(self, ctx: WorkContext) -> None:
        raise NotImplementedError

    def succeed(self, session: Session, data_import: DataImport, ctx: WorkContext) -> None:
        if self.completes_step:
            transitions.move(self._run(session, data_import), RunStatus.SUCCEEDED)

    def fail(self, session: Session, data_import: DataImport, error: str) -> None:
        fail_import(session, data_import, error)


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

    def _handed_over(self, session: Session, run: Run) -> bool:
        # Planning its flow again would give the queued phases new task ids, and resume a flow
        # that waits for a person's approval.
        return flow_planned(session, run.id)

    def work(self, ctx: WorkContext) -> None:
        # Read without a lock: the run's heartbeat, in a transaction of its own, writes it.
        run_id = ctx.session.scalar(select(Run.id).where(Run.task_id == self.task_id))
        self._flows.prepare_flow(ctx.session, ctx.data_import, run_id)
