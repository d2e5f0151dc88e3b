"""State transitions shared by the steps, the flow and the enqueueing code."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from importer.models import DataImport, ImportStatus, ImportStepRun, StepStatus


def now() -> datetime:
    return datetime.now(UTC)


def fail_import(session: Session, data_import: DataImport, error: str) -> None:
    """Mark the import failed and close every step run still open; a cancel wins over a failure."""
    if data_import.status == ImportStatus.CANCELLED:
        final, error_text = StepStatus.CANCELLED, None
    else:
        final, error_text = StepStatus.FAILED, error
        data_import.status = ImportStatus.FAILED
        data_import.error = error
        data_import.finished_at = now()
    session.execute(
        update(ImportStepRun)
        .where(
            ImportStepRun.import_id == data_import.id,
            ImportStepRun.client_account_id == data_import.client_account_id,
            ImportStepRun.status == StepStatus.RUNNING,
        )
        .values(status=final, error=error_text, finished_at=now())
    )
    session.execute(
        update(ImportStepRun)
        .where(
            ImportStepRun.import_id == data_import.id,
            ImportStepRun.client_account_id == data_import.client_account_id,
            ImportStepRun.status == StepStatus.PENDING,
        )
        .values(status=StepStatus.CANCELLED, error=f"not run: {error}", finished_at=now())
    )
