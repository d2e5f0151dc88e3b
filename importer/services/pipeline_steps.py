"""The pipeline's three steps as units of work, each tied to its step run by Celery task id."""

from __future__ import annotations

from sqlalchemy.orm import Session

from importer.models import DataImport, ImportStatus, RunKind, RunStatus, Step
from importer.pipeline import transitions
from importer.pipeline.chunks import ChunkPlanner
from importer.services.field_mappings import FieldMappingService
from importer.services.flow_trigger import FlowTriggerService
from importer.services.import_state import fail_import
from importer.services.step_runner import RunUnit, WorkContext
from importer.services.validation_service import ValidationService


class StepUnit(RunUnit):
    kind = RunKind.STEP
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
        if self.completes_step and not ctx.handed_over:
            transitions.move(self._run(session, data_import), RunStatus.SUCCEEDED)

    def fail(self, session: Session, data_import: DataImport, error: str) -> None:
        fail_import(session, data_import, error)


class ValidateStep(StepUnit):
    """Plans the validation's chunks; their finish ends the step."""

    step = Step.VALIDATE
    status_while_running = ImportStatus.VALIDATING

    def __init__(self, task_id: str, validation: ValidationService, planner: ChunkPlanner) -> None:
        super().__init__(task_id)
        self._validation = validation
        self._planner = planner

    def work(self, ctx: WorkContext) -> None:
        self._planner.plan(ctx, self._validation)


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

    def work(self, ctx: WorkContext) -> None:
        self._flows.prepare_flow(ctx.session, ctx.data_import, ctx.run_id)
