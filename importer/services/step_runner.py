"""The lifecycle every unit of background work shares: begin, work in chunks, finish or roll back.

A unit (a pipeline step, the discovery flow) commits "running" in a short first transaction, does
its work in a second one, and decides the outcome inside that same transaction while holding the
import's row lock. A cancel takes the same lock, so a cancel racing a step's success ends in one
consistent state; a cancelled or failed unit rolls its partial writes back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from importer.models import DataImport, ImportStatus
from importer.runtime_state import RuntimeState
from importer.services.transactions import ImportTransactionManager

log = logging.getLogger(__name__)


class ImportCancelled(Exception):
    """Raised at a checkpoint once the import has been cancelled."""


@dataclass
class WorkContext:
    session: Session
    data_import: DataImport
    runtime_state: RuntimeState
    progress_key: str
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # Set when the input cannot give a result (zero valid rows, say): the unit fails, keeping
    # what it wrote so that the user can see why.
    rejection: str | None = None
    on_progress: Callable[[int], None] | None = None

    def checkpoint(self, done: int, total: int) -> None:
        """Report progress and stop here if the import was cancelled (in Redis or PostgreSQL)."""
        percent = 100 if total <= 0 else min(100, int(done * 100 / total))
        try:
            self.runtime_state.set_progress(self.data_import.id, self.progress_key, percent)
            if self.runtime_state.is_cancel_requested(self.data_import.id):
                raise ImportCancelled
        except ImportCancelled:
            raise
        except Exception:  # Redis is a cache: losing it must not fail the work.
            log.warning("redis unavailable at checkpoint", exc_info=True)
        if self.on_progress is not None:
            self.on_progress(percent)
        # PostgreSQL is the truth: a cancel must stop the work even when Redis lost the flag.
        status = self.session.scalar(
            select(DataImport.status).where(DataImport.id == self.data_import.id)
        )
        if status == ImportStatus.CANCELLED:
            raise ImportCancelled


class Unit(Protocol):
    name: str

    def begin(self, session: Session, data_import: DataImport) -> bool:
        """Mark the unit running; False when it must not run (already done, cancelled...)."""

    def work(self, ctx: WorkContext) -> None: ...

    def succeed(self, session: Session, data_import: DataImport, ctx: WorkContext) -> None: ...

    def fail(self, session: Session, data_import: DataImport, error: str) -> None: ...

    def cancel(self, session: Session, data_import: DataImport) -> None: ...


class Outcome:
    SKIPPED = "skipped"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepFailed(Exception):
    """Raised to Celery once a failure is recorded, so the chain stops and Flower shows it."""


class StepRunner:
    def __init__(self, transactions: ImportTransactionManager, runtime_state: RuntimeState) -> None:
        self._tx = transactions
        self._state = runtime_state

    def run(self, import_id: uuid.UUID, client_account_id: uuid.UUID, unit: Unit) -> str:
        with self._tx.transaction() as session:
            data_import = self._tx.lock_import(session, import_id, client_account_id)
            if data_import is None or not unit.begin(session, data_import):
                log.info("skipping %s for import %s", unit.name, import_id)
                return Outcome.SKIPPED
        try:
            outcome, after_commit = self._work(import_id, client_account_id, unit)
        except ImportCancelled:
            self._record(import_id, client_account_id, unit.cancel)
            return Outcome.CANCELLED
        except Exception as exc:
            self._fail(import_id, client_account_id, unit, exc)
        try:
            for callback in after_commit:
                callback()
        except Exception as exc:
            self._fail(import_id, client_account_id, unit, exc)
        return outcome

    def _fail(
        self, import_id: uuid.UUID, client_account_id: uuid.UUID, unit: Unit, exc: Exception
    ) -> None:
        log.exception("%s failed for import %s", unit.name, import_id)
        error = f"{type(exc).__name__}: {exc}"
        self._record(import_id, client_account_id, lambda s, d: unit.fail(s, d, error))
        raise StepFailed(error) from exc

    def _work(
        self, import_id: uuid.UUID, client_account_id: uuid.UUID, unit: Unit
    ) -> tuple[str, list[Callable[[], None]]]:
        with self._tx.transaction() as session:
            data_import = session.get(DataImport, import_id)
            ctx = WorkContext(session, data_import, self._state, unit.name)
            unit.work(ctx)
            # The outcome is decided under the import's lock: a cancel either came first (and
            # this transaction rolls back) or comes after the unit's result is committed.
            data_import = self._tx.lock_import(session, import_id, client_account_id)
            if data_import.status == ImportStatus.CANCELLED:
                raise ImportCancelled
            if ctx.rejection is not None:
                unit.fail(session, data_import, ctx.rejection)
                return Outcome.FAILED, []
            unit.succeed(session, data_import, ctx)
            return Outcome.SUCCEEDED, ctx.after_commit

    def _record(
        self,
        import_id: uuid.UUID,
        client_account_id: uuid.UUID,
        action: Callable[[Session, DataImport], None],
    ) -> None:
        with self._tx.transaction() as session:
            data_import = self._tx.lock_import(session, import_id, client_account_id)
            if data_import is not None:
                action(session, data_import)
