"""An import's failure, shared by the steps, the flow and the watchdog."""

from __future__ import annotations

from sqlalchemy.orm import Session

from importer.models import DataImport, ImportStatus, Run, RunKind, RunStatus
from importer.pipeline import transitions
from importer.pipeline.transitions import now

__all__ = ["fail_import", "now"]


def fail_import(session: Session, data_import: DataImport, error: str) -> None:
    """Mark the import failed and close every run still open; a cancel wins over a failure."""
    running = (*transitions.of_import(data_import), Run.status == RunStatus.RUNNING)
    if data_import.status == ImportStatus.CANCELLED:
        transitions.move_all(session, RunStatus.CANCELLED, *running)
    else:
        data_import.status = ImportStatus.FAILED
        data_import.error = error
        data_import.finished_at = now()
        transitions.move_all(session, RunStatus.FAILED, *running, error=error)
    transitions.move_all(
        session,
        RunStatus.CANCELLED,
        *transitions.of_import(data_import),
        Run.status == RunStatus.PENDING,
        # A cancelled import's output is still to be removed.
        Run.kind != RunKind.DISCARD,
        error=f"not run: {error}",
    )
