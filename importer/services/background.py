"""BackgroundExecutionService: plans step runs with task ids up front, and is the one place that
sends tasks.

A pending run is work to be sent, so PostgreSQL is the outbox: whatever commits a pending run (an
upload, a retry, a resume, a unit that succeeded or planned chunks, a cancel that planned a
discard) calls ``send_next`` after its commit, and the watchdog calls it again for runs left
pending long after they were sent. Either way it sends the import's next runs, read from the
database, with the task ids stored before anything was sent: the next step or phase, or the
chunks of the running one as one Celery group, or its finish once PostgreSQL counts every chunk
succeeded. A message sent twice is harmless: a unit begins only on a pending run, or on a running
one whose worker is gone.

The chunks of a work that runs in order go one at a time: the lowest pending one, once none of
its siblings is running. A phase that waits for its account's lease (the inventory: see
importer.services.phases.asset_inventory.InventoryLease) stays pending; it is sent again by the
send that follows the commit that frees the lease, or by the watchdog.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import timedelta
from typing import Protocol

from celery import Celery, group
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from importer.models import (
    STEP_ORDER,
    WORKING_IMPORT_STATUSES,
    DataImport,
    ImportStatus,
    Run,
    RunKind,
    RunStatus,
    Step,
    flow_phases,
)
from importer.pipeline import transitions
from importer.pipeline.chunks import children
from importer.services.import_state import now
from importer.services.transactions import ImportTransactionManager

log = logging.getLogger(__name__)

STEP_TASKS: dict[Step, str] = {
    Step.VALIDATE: "importer.validate_import",
    Step.MAPPINGS: "importer.persist_field_mappings",
    Step.DISCOVERY: "importer.trigger_discovery_flow",
}
PHASE_TASK = "importer.run_discovery_phase"
CHUNK_TASK = "importer.run_chunk"
FINISH_TASK = "importer.finish_run"
DISCARD_TASK = "importer.discard_run"
UNDO_TASK = "importer.undo_import"


def task_message(run: Run) -> tuple[str, str, tuple]:
    """The task of a run, its id and its arguments after the import's and account's: ids and
    ranges, never rows."""
    if run.kind == RunKind.STEP:
        return STEP_TASKS[Step(run.name)], run.task_id, ()
    if run.kind == RunKind.PHASE:
        return PHASE_TASK, run.task_id, (run.name,)
    if run.kind == RunKind.CHUNK:
        return CHUNK_TASK, run.task_id, (run.row_from, run.row_to)
    if run.kind == RunKind.UNDO:
        return UNDO_TASK, run.task_id, ()
    return (FINISH_TASK if run.kind == RunKind.FINISH else DISCARD_TASK), run.task_id, ()


class Lease(Protocol):
    def waiting(self, session: Session, client_account_id: uuid.UUID) -> list[uuid.UUID]:
        """The account's imports whose phase waits for the lease, once it is free."""


class BackgroundExecutionService:
    def __init__(
        self,
        celery: Celery,
        transactions: ImportTransactionManager,
        *,
        in_order: Collection[str] = (),
        lease: Lease | None = None,
    ) -> None:
        self._celery = celery
        self._tx = transactions
        # The steps and phases whose chunks run one at a time, in the order of their rows.
        self._in_order = frozenset(in_order)
        self._lease = lease

    def plan_steps(self, session: Session, data_import: DataImport, steps: Sequence[Step]) -> None:
        """Pending step runs, each with its Celery task id, stored before anything is sent."""
        transitions.plan(session, data_import, RunKind.STEP, steps)

    def send_next(
        self,
        import_id: uuid.UUID,
        client_account_id: uuid.UUID,
        *,
        unsent_for: timedelta | None = None,
        wake: bool = True,
    ) -> list[str]:
        """Send the tasks of the import's next runs that were never sent; the task ids sent.

        ``unsent_for``: those still pending that long after they were planned or last sent
        instead (the watchdog's re-send). ``wake``: then send again the phases of the
        account's other imports that wait for a lease now free. Never raises: a run that could
        not be sent stays pending, and the watchdog sends it once the broker answers again.
        """
        try:
            with self._tx.transaction() as session:
                runs = self._next_pending(session, import_id, client_account_id)
                if unsent_for is None:
                    runs = [run for run in runs if run.sent_at is None]
                else:
                    due = now() - unsent_for
                    runs = [run for run in runs if (run.sent_at or run.queued_at) <= due]
                for run in runs:
                    run.sent_at = now()
                waiting = []
                if wake and self._lease is not None:
                    waiting = self._lease.waiting(session, client_account_id)
                # Sent before the commit: a message is never lost behind a committed sent_at.
                self._send(runs, str(import_id), str(client_account_id))
                sent = [run.task_id for run in runs]
        except Exception:
            log.warning(
                "could not send the next tasks of import %s; the watchdog sends them later",
                import_id,
                exc_info=True,
            )
            return []
        for other in waiting:
            if other != import_id:
                # Its phase was sent, and found the lease held: it is sent again now.
                sent += self.send_next(
                    other, client_account_id, unsent_for=timedelta(0), wake=False
                )
        return sent

    def _send(self, runs: list[Run], import_id: str, client_account_id: str) -> None:
        signatures = [
            self._celery.signature(name, args=(import_id, client_account_id, *args), task_id=tid)
            for name, tid, args in map(task_message, runs)
        ]
        if len(signatures) == 1:
            signatures[0].apply_async()
        elif signatures:
            # The chunks of a step or phase, in one go; nothing waits on the group's results.
            group(signatures).apply_async()

    def _next_pending(
        self, session: Session, import_id: uuid.UUID, client_account_id: uuid.UUID
    ) -> list[Run]:
        """The import's pending runs that are next, locked: its first step or phase that is not
        done, or that one's chunks, or their finish; after a cancel, its discards; while it is
        undone, its undo."""
        data_import = session.scalars(
            select(DataImport).where(
                DataImport.id == import_id, DataImport.client_account_id == client_account_id
            )
        ).one_or_none()
        if data_import is None:
            return []
        if data_import.status == ImportStatus.CANCELLED:
            return self._locked_pending(
                session, *transitions.of_import(data_import), Run.kind == RunKind.DISCARD
            )
        if data_import.status == ImportStatus.UNDOING:
            return self._locked_pending(
                session, *transitions.of_import(data_import), Run.kind == RunKind.UNDO
            )
        if data_import.status not in WORKING_IMPORT_STATUSES:
            return []
        steps = transitions.latest(session, data_import, RunKind.STEP)
        step = transitions.first_not_succeeded(steps, STEP_ORDER)
        if step is None or step not in steps:
            return []
        current = steps[step]
        if current.status == RunStatus.RUNNING and step == Step.DISCOVERY:
            # The discovery step stays running while its flow runs: the next run is the flow's.
            phases = transitions.latest(session, data_import, RunKind.PHASE)
            phase = transitions.first_not_succeeded(phases, flow_phases(data_import.import_type))
            current = phases.get(phase)
        if current is None:
            return []
        if current.status == RunStatus.PENDING:
            return self._locked_pending(session, Run.id == current.id)
        if current.status != RunStatus.RUNNING:
            return []
        # A chunked step or phase runs its chunks, then (every one succeeded) its finish.
        unfinished = session.scalar(
            select(
                select(Run.id)
                .where(children(current.id, RunKind.CHUNK), Run.status != RunStatus.SUCCEEDED)
                .exists()
            )
        )
        kind = RunKind.CHUNK if unfinished else RunKind.FINISH
        if kind == RunKind.CHUNK and current.name in self._in_order:
            return self._next_in_order(session, current.id)
        return self._locked_pending(session, children(current.id, kind))

    @staticmethod
    def _next_in_order(session: Session, parent_id: uuid.UUID) -> list[Run]:
        """The lowest pending chunk, locked, once none of the parent's chunks is running."""
        running = session.scalar(
            select(
                select(Run.id)
                .where(children(parent_id, RunKind.CHUNK), Run.status == RunStatus.RUNNING)
                .exists()
            )
        )
        if running:
            return []
        return list(
            session.scalars(
                select(Run)
                .where(children(parent_id, RunKind.CHUNK), Run.status == RunStatus.PENDING)
                .order_by(Run.row_from)
                .limit(1)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )

    @staticmethod
    def _locked_pending(session: Session, *where: ColumnElement[bool]) -> list[Run]:
        # Locked and read again: the watchdog's re-send waits for, and then sees, a send that
        # a unit which just committed is making of the same runs.
        return list(
            session.scalars(
                select(Run)
                .where(*where, Run.status == RunStatus.PENDING)
                .order_by(Run.row_from)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )

    def revoke(self, task_ids: Iterable[str]) -> None:
        """Stop queued tasks from starting; running ones stop cooperatively at their next chunk."""
        ids = [t for t in task_ids if t]
        if ids:
            self._celery.control.revoke(ids)
