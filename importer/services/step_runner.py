"""The lifecycle every unit of background work shares: begin, work, finish or roll back.

A unit (a pipeline step, a discovery phase, a chunk of either, their finish, a discard) works
inside one transaction that first takes its run's advisory lock: a second delivery of the same
work (a broker redelivering to another worker) finds it held and drops out, while the lock of a
worker that died is released with its connection; the runs of one import (its chunks) each hold
their own. "Running" is committed in a short transaction of its own, so readers see it. The
outcome is decided in the work transaction under a lock on the import's row, which a cancel takes
exclusively: a cancel racing a unit's success ends in one consistent state. There the unit is
fenced: it commits only while its run is still running (the current attempt: a cancel, a failure
or a retry ends an old one), and a cancelled or failed unit rolls its partial writes back. A unit
that succeeded, or planned chunks, has the import's next runs sent after its commit.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from importer import metrics
from importer.models import (
    OPEN_RUN_STATUSES,
    WORKING_IMPORT_STATUSES,
    DataImport,
    ImportStatus,
    Run,
    RunKind,
    RunStatus,
)
from importer.pipeline import transitions
from importer.pipeline.chunks import HANDED_OVER
from importer.runtime_state import RuntimeState
from importer.services.background import BackgroundExecutionService
from importer.services.transactions import ImportTransactionManager

log = logging.getLogger(__name__)

# What a lost or restarting database looks like to SQLAlchemy.
CONNECTION_ERRORS = (OperationalError, InterfaceError)


class ImportCancelled(Exception):
    """Raised at a checkpoint once the import has been cancelled."""


class StepFailed(Exception):
    """Raised to Celery once a failure is recorded, so that Flower shows it."""


class TransientFailure(Exception):
    """The database connection failed; the task is retried with backoff, nothing is recorded."""


class TooManyRestarts(Exception):
    """The unit was started too many times without finishing; it fails instead of looping."""


class Fenced(Exception):
    """The unit's run ended meanwhile (cancelled, failed, an old attempt): nothing is kept."""


@dataclass
class WorkContext:
    session: Session
    data_import: DataImport
    runtime_state: RuntimeState
    progress_key: str
    heartbeat: Callable[[int], None]
    # The run the unit works on.
    run_id: uuid.UUID | None = None
    # Set when the input cannot give a result (zero valid rows, say): the unit fails, keeping
    # what it wrote so that the user can see why.
    rejection: str | None = None
    # Set when the unit needs a person before it can go on (mappings to approve): its outputs
    # are kept and the chain stops until it is resumed.
    paused: str | None = None
    # What the unit reports about its work (a phase's summary).
    result: dict | None = None
    # Set when the unit planned chunk runs: its run stays running until their finish ends it.
    handed_over: bool = False
    # The heartbeat (a transaction of its own) is written at most this often; progress in Redis
    # and the cancel checks happen at every checkpoint.
    heartbeat_interval: float = 0.5
    _last_heartbeat: float = field(default=float("-inf"), repr=False)

    def checkpoint(self, done: int, total: int) -> None:
        """Report progress and stop here if the import was cancelled (in Redis or PostgreSQL)."""
        percent = 100 if total <= 0 else min(100, int(done * 100 / total))
        try:
            self.runtime_state.set_progress(self.data_import.id, self.progress_key, percent)
            cancel_flagged = self.runtime_state.is_cancel_requested(self.data_import.id)
        except Exception:  # Redis is a cache: losing it must not fail the work.
            log.warning("redis unavailable at checkpoint", exc_info=True)
            cancel_flagged = False
        if cancel_flagged:
            raise ImportCancelled
        now = time.monotonic()
        if now - self._last_heartbeat >= self.heartbeat_interval:
            self._last_heartbeat = now
            self.heartbeat(percent)
        # PostgreSQL is the truth: a cancel must stop the work even when Redis lost the flag.
        status = self.session.scalar(
            select(DataImport.status).where(DataImport.id == self.data_import.id)
        )
        if status == ImportStatus.CANCELLED:
            raise ImportCancelled


def show_progress(state: RuntimeState, import_id: uuid.UUID, key: str, percent: int) -> None:
    """Progress in Redis, a cache: losing it must not fail the work."""
    try:
        state.set_progress(import_id, key, percent)
    except Exception:
        log.warning("redis unavailable when showing the progress of %s", key, exc_info=True)


class Unit(Protocol):
    name: str
    task_id: str
    # Whether the unit starts the progress of its step or phase from 0 (a chunk adds to it).
    resets_progress: bool
    # Whether it decides under a share lock of the import, beside other units of the import.
    shares_import: bool
    # The import statuses it works in.
    import_statuses: frozenset[ImportStatus]

    def run_id(self, session: Session, import_id: uuid.UUID) -> uuid.UUID | None:
        """Its run, by its task id."""

    def current(self, session: Session, data_import: DataImport) -> bool:
        """Whether its run (locked) is still one to commit the work of: the fence."""

    def begin(self, session: Session, data_import: DataImport, max_restarts: int) -> bool:
        """Mark the unit running; False when it must not run (already done, cancelled...).

        Raises TooManyRestarts when it was started max_restarts times before without finishing.
        """

    def work(self, ctx: WorkContext) -> None: ...

    def heartbeat(self, session: Session, import_id: uuid.UUID, percent: int) -> None: ...

    def succeed(self, session: Session, data_import: DataImport, ctx: WorkContext) -> None: ...

    def fail(self, session: Session, data_import: DataImport, error: str) -> None: ...

    def cancel(self, session: Session, data_import: DataImport) -> None: ...


class RunUnit:
    """A unit working on one run of its kind, found by its Celery task id: what every kind of
    run shares."""

    kind: RunKind
    resets_progress = True
    shares_import = False
    import_statuses = WORKING_IMPORT_STATUSES

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id

    def _mine(self) -> tuple[ColumnElement[bool], ...]:
        return (Run.task_id == self.task_id, Run.kind == self.kind)

    def run_id(self, session: Session, import_id: uuid.UUID) -> uuid.UUID | None:
        return session.scalar(select(Run.id).where(*self._mine(), Run.import_id == import_id))

    def _run(self, session: Session, data_import: DataImport) -> Run | None:
        return session.scalars(
            select(Run)
            .where(*self._mine(), *transitions.of_import(data_import))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()

    def current(self, session: Session, data_import: DataImport) -> bool:
        run = self._run(session, data_import)
        return run is not None and run.status == RunStatus.RUNNING

    @staticmethod
    def _handed_over(session: Session, run: Run) -> bool:
        """Whether a running run's task did its work already, the run staying open after it
        while its children run (a flow's phases, or chunks and their finish): doing it again
        would plan them again, and resume a flow that waits for a person's approval."""
        return session.scalar(select(Run.id).where(Run.id == run.id, HANDED_OVER)) is not None

    def _ready(self, session: Session, run: Run) -> bool:
        """Whether what the run waits for is done (a finish: its chunks)."""
        return True

    def _start(self, session: Session, data_import: DataImport, max_restarts: int) -> Run | None:
        """The run, moved to running; None when this message must not work on it."""
        run = self._run(session, data_import)
        # Only a pending run, or a running one whose worker is gone (a live one holds the work
        # lock), of an import at work is worked on: any other message of it (sent again by the
        # watchdog, delivered twice) does nothing.
        if run is None or run.status not in OPEN_RUN_STATUSES:
            return None
        # A chunk, its finish or a discard is named for its step or phase (in logs, metrics).
        self.name = (
            run.name if self.kind in (RunKind.STEP, RunKind.PHASE) else f"{run.name} {run.kind}"
        )
        if (
            data_import.status == ImportStatus.CANCELLED
            and ImportStatus.CANCELLED not in self.import_statuses
        ):
            self.cancel(session, data_import)
            return None
        if data_import.status not in self.import_statuses or not self._ready(session, run):
            return None
        if run.status == RunStatus.RUNNING and self._handed_over(session, run):
            return None
        transitions.move(run, RunStatus.RUNNING)
        if run.restarts >= max_restarts:
            raise TooManyRestarts(
                f"The {run.name} {run.kind} was started {run.restarts + 1} times without "
                "finishing (its worker died or lost the database each time); giving up."
            )
        return run

    def heartbeat(self, session: Session, import_id: uuid.UUID, percent: int) -> None:
        session.execute(
            update(Run)
            .where(*self._mine(), Run.import_id == import_id)
            .values(progress=percent, heartbeat_at=transitions.now())
        )

    def cancel(self, session: Session, data_import: DataImport) -> None:
        run = self._run(session, data_import)
        if run is not None and run.status in OPEN_RUN_STATUSES:
            transitions.move(run, RunStatus.CANCELLED)


class Outcome:
    SKIPPED = "skipped"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"


class StepRunner:
    def __init__(
        self,
        transactions: ImportTransactionManager,
        runtime_state: RuntimeState,
        max_restarts: int,
        background: BackgroundExecutionService,
    ) -> None:
        self._tx = transactions
        self._state = runtime_state
        self._max_restarts = max_restarts
        self._background = background

    @metrics.timed_step
    def run(
        self,
        import_id: uuid.UUID,
        client_account_id: uuid.UUID,
        unit: Unit,
        *,
        final_try: bool = True,
    ) -> str:
        """Run the unit once; ``final_try`` False lets a lost connection be retried unrecorded."""
        try:
            outcome = self._run(import_id, client_account_id, unit)
        except Fenced:
            log.info("%s of import %s ended meanwhile; rolled back", unit.name, import_id)
            return Outcome.SKIPPED
        except ImportCancelled:
            self._record(import_id, client_account_id, unit.cancel)
            return Outcome.CANCELLED
        except TooManyRestarts as exc:
            self._fail(import_id, client_account_id, unit, exc)
        except CONNECTION_ERRORS as exc:
            if not final_try:
                log.warning(
                    "%s lost its database connection for import %s",
                    unit.name,
                    import_id,
                    exc_info=True,
                )
                raise TransientFailure(str(exc)) from exc
            self._fail(import_id, client_account_id, unit, exc)
        except Exception as exc:
            self._fail(import_id, client_account_id, unit, exc)
        if outcome == Outcome.SUCCEEDED:
            self._background.send_next(import_id, client_account_id)
        return outcome

    def _run(self, import_id: uuid.UUID, client_account_id: uuid.UUID, unit: Unit) -> str:
        with self._tx.transaction() as session:
            run_id = unit.run_id(session, import_id)
            if run_id is None or not self._tx.try_lock_work(session, run_id):
                log.info("%s of import %s is not to run here; dropping", unit.name, import_id)
                return Outcome.SKIPPED
            if not self._begin(import_id, client_account_id, unit):
                log.info("skipping %s for import %s", unit.name, import_id)
                return Outcome.SKIPPED
            if unit.resets_progress:
                show_progress(self._state, import_id, unit.name, 0)
            data_import = session.get(DataImport, import_id)
            ctx = WorkContext(
                session,
                data_import,
                self._state,
                unit.name,
                heartbeat=lambda percent: self._heartbeat(import_id, unit, percent),
                run_id=run_id,
            )
            unit.work(ctx)
            # The outcome is decided under the import's lock: a cancel either came first (and
            # this transaction rolls back) or comes after the unit's result is committed.
            data_import = self._tx.lock_import(
                session, import_id, client_account_id, share=unit.shares_import
            )
            # An import deleted meanwhile is gone with its rows (migration 0006's triggers): the
            # rows written here for it must not outlive it.
            if data_import is None:
                raise ImportCancelled
            if not unit.current(session, data_import):
                raise Fenced
            if (
                data_import.status == ImportStatus.CANCELLED
                and ImportStatus.CANCELLED not in unit.import_statuses
            ):
                raise ImportCancelled
            if ctx.rejection is not None:
                unit.fail(session, data_import, ctx.rejection)
                return Outcome.FAILED
            unit.succeed(session, data_import, ctx)
            if ctx.paused is not None:
                return Outcome.PAUSED
            # Handed over, its own work (planning) succeeded: what it planned is sent next.
            return Outcome.SUCCEEDED

    def _heartbeat(self, import_id: uuid.UUID, unit: Unit, percent: int) -> None:
        # Its own short transaction, taking no lock the work transaction may hold.
        with self._tx.transaction() as session:
            unit.heartbeat(session, import_id, percent)

    def _begin(self, import_id: uuid.UUID, client_account_id: uuid.UUID, unit: Unit) -> bool:
        with self._tx.transaction() as session:
            data_import = self._tx.lock_import(
                session, import_id, client_account_id, share=unit.shares_import
            )
            return data_import is not None and unit.begin(session, data_import, self._max_restarts)

    def _fail(
        self, import_id: uuid.UUID, client_account_id: uuid.UUID, unit: Unit, exc: Exception
    ) -> None:
        log.exception("%s failed for import %s", unit.name, import_id)
        error = str(exc) if isinstance(exc, TooManyRestarts) else f"{type(exc).__name__}: {exc}"
        self._record(import_id, client_account_id, lambda s, d: unit.fail(s, d, error))
        # Nothing of the failed import is sent; another import's phase waiting for a lease it
        # held (importer.services.phases.asset_inventory.InventoryLease) is.
        self._background.send_next(import_id, client_account_id)
        raise StepFailed(error) from exc

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
