"""Cancel, retry, undo, commit again and mapping review of an import, serialised with the steps
by the import's row lock: each opens its own transaction and takes the lock in it."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from importer.errors import Conflict, NotFound
from importer.models import (
    STEP_ORDER,
    DataImport,
    DiscoveryFlow,
    ImportFieldMapping,
    ImportStatus,
    Run,
    RunKind,
    RunStatus,
    Step,
)
from importer.pipeline import transitions
from importer.runtime_state import RuntimeState
from importer.services.background import BackgroundExecutionService
from importer.services.chunk_units import cancel_chunks
from importer.services.discovery_flow import cancel_flow, phase_runs
from importer.services.field_mappings import FieldMappingService, MappingChange
from importer.services.flow_trigger import FlowTriggerService
from importer.services.import_queries import ImportQueryService
from importer.services.import_validator import ImportValidator
from importer.services.phases.field_mapping import FieldMappingPhase, needs_review
from importer.services.transactions import ImportTransactionManager
from importer.services.undo import UndoService

log = logging.getLogger(__name__)

CANCELLABLE = frozenset(
    {
        ImportStatus.STORED,
        ImportStatus.VALIDATING,
        ImportStatus.MAPPING,
        ImportStatus.DISCOVERING,
        ImportStatus.WAITING_FOR_APPROVAL,
    }
)
RETRYABLE = frozenset({ImportStatus.FAILED, ImportStatus.CANCELLED})
STATUS_OF_STEP = {
    Step.VALIDATE: ImportStatus.VALIDATING,
    Step.MAPPINGS: ImportStatus.MAPPING,
    Step.DISCOVERY: ImportStatus.DISCOVERING,
}


@dataclass(frozen=True)
class ReviewedMappings:
    """A mapping review as committed: the import, its changes, its mappings after them (by
    position) and its discovery flow, if it has one."""

    data_import: DataImport
    changes: Sequence[MappingChange]
    mappings: list[ImportFieldMapping]
    flow: DiscoveryFlow | None


class ImportControlService:
    def __init__(
        self,
        transactions: ImportTransactionManager,
        background: BackgroundExecutionService,
        validator: ImportValidator,
        runtime_state: RuntimeState,
        flows: FlowTriggerService,
        field_mapping: FieldMappingPhase,
        mappings: FieldMappingService,
        queries: ImportQueryService,
        undo: UndoService,
    ) -> None:
        self._tx = transactions
        self._background = background
        self._validator = validator
        self._state = runtime_state
        self._flows = flows
        self._field_mapping = field_mapping
        self._mappings = mappings
        self._queries = queries
        self._undo = undo

    def _locked(self, session, import_id: uuid.UUID, client_account_id: uuid.UUID) -> DataImport:
        data_import = self._tx.lock_import(session, import_id, client_account_id)
        if data_import is None:
            raise NotFound("No such import.", details={"id": str(import_id)})
        return data_import

    def cancel(self, import_id: uuid.UUID, client_account_id: uuid.UUID) -> DataImport:
        """Mark the import cancelled now; queued tasks are revoked, a running one stops itself
        (a chunk is fenced out at its commit), and a discard run is sent for what a chunked
        step's or phase's committed chunks wrote."""
        with self._tx.transaction() as session:
            data_import = self._locked(session, import_id, client_account_id)
            if data_import.status not in CANCELLABLE:
                raise Conflict(
                    f"An import that is {data_import.status} cannot be cancelled.",
                    code="not-cancellable",
                    details={"status": data_import.status},
                )
            data_import.status = ImportStatus.CANCELLED
            data_import.cancel_requested_at = data_import.finished_at = transitions.now()
            pending = transitions.move_all(
                session,
                RunStatus.CANCELLED,
                *transitions.of_import(data_import),
                Run.kind == RunKind.STEP,
                Run.status == RunStatus.PENDING,
            )
            # Before the flow: a chunked phase that is cancelled here runs no more.
            chunks = cancel_chunks(session, data_import)
            queued_phases = cancel_flow(session, data_import)
        self._signal_cancel(import_id, [*pending, *chunks, *queued_phases])
        # The discards the cancel planned.
        self._background.send_next(import_id, client_account_id)
        return data_import

    def review_mappings(
        self,
        import_id: uuid.UUID,
        client_account_id: uuid.UUID,
        changes: Sequence[MappingChange] | Callable[[], Sequence[MappingChange]],
    ) -> ReviewedMappings:
        """A person's mapping changes, in one transaction under the import's lock, only while no
        step or phase reads the mappings (409 ``mappings-locked`` otherwise).

        Another account's import is not found (404) before anything else: ``changes`` may be a
        callable, called once the import is found, so that its changes are judged after that.
        """
        with self._tx.transaction() as session:
            data_import = self._locked(session, import_id, client_account_id)
            if callable(changes):
                changes = changes()
            self._mappings.review(session, data_import, changes)
            return ReviewedMappings(
                data_import,
                changes,
                self._mappings.stored(session, data_import),
                self._queries.flow(session, data_import),
            )

    def resume_flow(self, flow_id: uuid.UUID, client_account_id: uuid.UUID) -> DataImport:
        """Go on with a flow paused for mapping approval, once its mappings allow it."""
        with self._tx.transaction() as session:
            flow = session.scalars(
                select(DiscoveryFlow).where(
                    DiscoveryFlow.id == flow_id,
                    DiscoveryFlow.client_account_id == client_account_id,
                )
            ).one_or_none()
            if flow is None:
                raise NotFound("No such flow.", details={"id": str(flow_id)})
            data_import = self._locked(session, flow.import_id, client_account_id)
            session.refresh(flow, with_for_update=True)
            if flow.status != RunStatus.WAITING_FOR_APPROVAL:
                raise Conflict(
                    f"A flow that is {flow.status} cannot be resumed.",
                    code="not-resumable",
                    details={"status": flow.status},
                )
            review = self._field_mapping.review(session, data_import)
            if needs_review(review):
                raise Conflict(
                    "Fields still need a mapping a person approved; approve or edit them first.",
                    code="mappings-need-approval",
                    details=review,
                )
            # The paused phase is sent again under a new task id; the phases after it, pending
            # and never sent while it waited, follow it as planned.
            transitions.move_all(
                session,
                RunStatus.PENDING,
                *phase_runs(data_import),
                Run.status == RunStatus.WAITING_FOR_APPROVAL,
            )
            data_import.status = ImportStatus.DISCOVERING
        self._background.send_next(data_import.id, client_account_id)
        return data_import

    def abandon_task(self, task_id: str, terminated: bool) -> None:
        """A task was revoked from outside (Flower, `celery control revoke`): its import must not
        be left waiting for it. The import is cancelled; a task killed while running is closed
        here, since nothing else will close it."""
        with self._tx.reading() as session:
            owner = session.execute(
                select(Run.import_id, Run.client_account_id).where(Run.task_id == task_id)
            ).first()
        if owner is None:
            return
        import_id, client_account_id = owner
        # Final already: our own cancel revoked it, or the import ended meanwhile.
        with contextlib.suppress(Conflict):
            self.cancel(import_id, client_account_id)
        if not terminated:
            return
        with self._tx.transaction() as session:
            data_import = self._locked(session, import_id, client_account_id)
            running = (*transitions.of_import(data_import), Run.status == RunStatus.RUNNING)
            transitions.move_all(session, RunStatus.CANCELLED, *running, Run.task_id == task_id)
            transitions.move_all(
                session,
                RunStatus.CANCELLED,
                *running,
                Run.kind == RunKind.STEP,
                Run.name == Step.DISCOVERY,
            )

    def _signal_cancel(self, import_id: uuid.UUID, task_ids: list[str]) -> None:
        # Both are speed-ups: PostgreSQL already says "cancelled", and every task checks it.
        try:
            self._state.request_cancel(import_id)
        except Exception:
            log.warning("could not set the cancel flag in redis", exc_info=True)
        self._revoke(task_ids)

    def _revoke(self, task_ids: list[str]) -> None:
        try:
            self._background.revoke(task_ids)
        except Exception:
            log.warning("could not revoke tasks %s", task_ids, exc_info=True)

    def retry(self, import_id: uuid.UUID, client_account_id: uuid.UUID) -> DataImport:
        """Resume from the first step that did not succeed, with the stored raw records."""
        with self._tx.transaction() as session:
            data_import = self._locked(session, import_id, client_account_id)
            if data_import.status not in RETRYABLE:
                raise Conflict(
                    f"An import that is {data_import.status} cannot be retried.",
                    code="not-retryable",
                    details={"status": data_import.status},
                )
            latest = transitions.latest(session, data_import, RunKind.STEP)
            if any(run.status == RunStatus.RUNNING for run in latest.values()):
                raise Conflict(
                    "A step of this import is still stopping; retry once it has.",
                    code="step-still-running",
                    details={"status": data_import.status},
                )
            self._validator.ensure_no_unfinished_import(
                session, client_account_id, data_import.engagement, excluding=data_import.id
            )
            # The new attempt clears what a discard still to run would remove.
            discards = transitions.move_all(
                session,
                RunStatus.CANCELLED,
                *transitions.of_import(data_import),
                Run.kind == RunKind.DISCARD,
                error="not needed: the import was retried",
            )
            resume = transitions.first_not_succeeded(latest, STEP_ORDER)
            self._background.plan_steps(
                session, data_import, STEP_ORDER[STEP_ORDER.index(resume) :]
            )
            data_import.status = STATUS_OF_STEP[resume]
            data_import.error = None
            data_import.cancel_requested_at = None
            data_import.finished_at = None
        try:
            self._state.clear_cancel(import_id)
        except Exception:
            log.warning("could not clear the cancel flag in redis", exc_info=True)
        self._revoke(discards)
        self._background.send_next(import_id, client_account_id)
        return data_import

    def undo(self, import_id: uuid.UUID, client_account_id: uuid.UUID) -> DataImport:
        """Take a completed import back out of the inventory: its undo run is planned here and
        sent after the commit; the work is the undo task's (importer.services.undo)."""
        with self._tx.transaction() as session:
            data_import = self._undo.plan(session, import_id, client_account_id)
        self._background.send_next(import_id, client_account_id)
        return data_import

    def commit(self, import_id: uuid.UUID, client_account_id: uuid.UUID) -> DataImport:
        """Commit an undone import again: its discovery step runs again, and with it the phases
        after the cleansing (inventory, dependencies, tech debt), as a retry of the flow would."""
        with self._tx.transaction() as session:
            data_import = self._locked(session, import_id, client_account_id)
            if data_import.status != ImportStatus.UNDONE:
                raise Conflict(
                    f"Only an undone import can be committed again; this one is "
                    f"{data_import.status}.",
                    code="not-undone",
                    details={"status": data_import.status},
                )
            self._validator.ensure_no_unfinished_import(
                session, client_account_id, data_import.engagement, excluding=data_import.id
            )
            transitions.plan(session, data_import, RunKind.STEP, [Step.DISCOVERY], again=True)
            data_import.status = ImportStatus.DISCOVERING
            data_import.error = None
            data_import.finished_at = None
        self._background.send_next(import_id, client_account_id)
        return data_import
