"""The discovery flow's execution: applies the field mappings to every valid row, in chunks.

The flow runs as its own Celery task after the discovery step triggered it; when it ends, the
discovery step and the import end with it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from importer.models import (
    FINAL_FLOW_STATUSES,
    CleanedRecord,
    DataImport,
    DiscoveryFlow,
    FlowPhase,
    FlowStatus,
    ImportStatus,
    ImportStepRun,
    Step,
    StepStatus,
)
from importer.services.import_state import fail_import, now
from importer.services.step_runner import TooManyRestarts, WorkContext

# Set work in PostgreSQL: each valid row's mapped columns become {target_field: raw value}.
CLEANSE_CHUNK = text(
    """
    INSERT INTO cleaned_records (import_id, row_number, client_account_id, data)
    SELECT r.import_id, r.row_number, r.client_account_id,
           coalesce((
               SELECT jsonb_object_agg(m.target_field, r.record -> m.source_column)
               FROM import_field_mappings m
               WHERE m.import_id = r.import_id
                 AND m.target_field IS NOT NULL
                 AND m.status <> 'ignored'
                 AND r.record ? m.source_column
           ), '{}'::jsonb)
    FROM raw_import_records r
    WHERE r.import_id = :import_id
      AND r.client_account_id = :client_account_id
      AND r.row_number > :first AND r.row_number <= :last
      AND NOT EXISTS (
          SELECT 1 FROM import_validation_issues i
          WHERE i.import_id = r.import_id AND i.row_number = r.row_number
            AND i.severity = 'error'
      )
    """
)


class DiscoveryFlowUnit:
    name = "discovery_flow"

    def __init__(self, chunk_size: int) -> None:
        self._chunk_size = chunk_size

    @staticmethod
    def _flow(session: Session, data_import: DataImport) -> DiscoveryFlow | None:
        return session.scalars(
            select(DiscoveryFlow)
            .where(
                DiscoveryFlow.import_id == data_import.id,
                DiscoveryFlow.client_account_id == data_import.client_account_id,
            )
            .with_for_update()
        ).one_or_none()

    def begin(self, session: Session, data_import: DataImport, max_restarts: int) -> bool:
        flow = self._flow(session, data_import)
        if flow is None or flow.status not in (FlowStatus.PENDING, FlowStatus.RUNNING):
            return False
        if data_import.status == ImportStatus.CANCELLED:
            self.cancel(session, data_import)
            return False
        if data_import.is_final:
            return False
        if flow.status == FlowStatus.RUNNING:
            flow.restarts += 1
            if flow.restarts >= max_restarts:
                raise TooManyRestarts(
                    f"The discovery flow was started {flow.restarts + 1} times without finishing "
                    "(its worker died or lost the database each time); giving up."
                )
        flow.status = FlowStatus.RUNNING
        flow.current_phase = FlowPhase.DATA_CLEANSING
        flow.progress = 0
        flow.started_at = flow.started_at or now()
        return True

    def work(self, ctx: WorkContext) -> None:
        session, data_import = ctx.session, ctx.data_import
        session.execute(
            delete(CleanedRecord).where(
                CleanedRecord.import_id == data_import.id,
                CleanedRecord.client_account_id == data_import.client_account_id,
            )
        )
        params = {"import_id": data_import.id, "client_account_id": data_import.client_account_id}
        total = data_import.records_stored
        for first in range(0, total, self._chunk_size):
            last = min(first + self._chunk_size, total)
            session.execute(CLEANSE_CHUNK, {**params, "first": first, "last": last})
            ctx.checkpoint(last, total)

    def heartbeat(self, session: Session, import_id: uuid.UUID, percent: int) -> None:
        session.execute(
            update(DiscoveryFlow)
            .where(DiscoveryFlow.import_id == import_id)
            .values(progress=percent, updated_at=now())
        )
        session.execute(
            update(ImportStepRun)
            .where(
                ImportStepRun.import_id == import_id,
                ImportStepRun.step == Step.DISCOVERY,
                ImportStepRun.status == StepStatus.RUNNING,
            )
            .values(heartbeat_at=now())
        )

    def succeed(self, session: Session, data_import: DataImport, ctx: WorkContext) -> None:
        flow = self._flow(session, data_import)
        flow.records_cleaned = session.scalar(
            select(text("count(*)"))
            .select_from(CleanedRecord)
            .where(CleanedRecord.import_id == data_import.id)
        )
        flow.status, flow.progress, flow.finished_at = FlowStatus.COMPLETED, 100, now()
        flow.current_phase = None
        self._close_step(session, data_import, StepStatus.SUCCEEDED)
        data_import.status = ImportStatus.COMPLETED
        data_import.finished_at = now()

    def fail(self, session: Session, data_import: DataImport, error: str) -> None:
        flow = self._flow(session, data_import)
        cancelled = data_import.status == ImportStatus.CANCELLED
        if flow is not None:
            flow.status = FlowStatus.CANCELLED if cancelled else FlowStatus.FAILED
            flow.error = None if cancelled else error
            flow.finished_at = now()
        fail_import(session, data_import, error)

    def cancel(self, session: Session, data_import: DataImport) -> None:
        flow = self._flow(session, data_import)
        if flow is not None and flow.status not in FINAL_FLOW_STATUSES:
            flow.status, flow.finished_at = FlowStatus.CANCELLED, now()
        self._close_step(session, data_import, StepStatus.CANCELLED)

    @staticmethod
    def _close_step(session: Session, data_import: DataImport, status: StepStatus) -> None:
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
