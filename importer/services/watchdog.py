"""The watchdog: fails runs whose worker vanished, and sends again work whose message was lost.

It judges only running runs that do work, each by its own heartbeat: chunks, finishes, discards,
and a step or phase while it has no children. A running run refreshes its heartbeat as it works
and holds its own work lock for as long as it runs: one whose heartbeat is older than the limit
and whose work lock is free has no worker any more, so it fails with an error saying so, and can
be retried (a lost discard is planned again). A pending run is queued, not lost, however long it
waits. A step or phase that planned children (the discovery step its flow's phases, a chunked one
its chunks and their finish) stays running while they run, its own work done: they are judged
instead.

A pending run is work to be sent (see BackgroundExecutionService): the import's next runs, still
pending long after their tasks were sent, are sent again, in case a message never reached the
broker.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, func, not_, or_, select

from importer.models import (
    WORKING_IMPORT_STATUSES,
    DataImport,
    ImportStatus,
    Run,
    RunKind,
    RunStatus,
)
from importer.pipeline import transitions
from importer.pipeline.chunks import HANDED_OVER
from importer.services.background import BackgroundExecutionService
from importer.services.chunk_units import fail_run
from importer.services.discovery_flow import fail_phase
from importer.services.import_state import fail_import, now
from importer.services.transactions import ImportTransactionManager
from importer.services.undo import fail_undo

log = logging.getLogger(__name__)


class Watchdog:
    def __init__(
        self,
        transactions: ImportTransactionManager,
        background: BackgroundExecutionService,
        stale_after: timedelta,
        resend_after: timedelta,
    ) -> None:
        self._tx = transactions
        self._background = background
        self._stale_after = stale_after
        self._resend_after = resend_after

    def run(self) -> tuple[list[uuid.UUID], list[str]]:
        """One round: the imports failed, then the task ids sent again."""
        return self.reap(), self.resend()

    # -- running runs whose worker vanished -----------------------------------------------------
    def reap(self) -> list[uuid.UUID]:
        """Fail every stale running run that no worker holds; returns the imports failed."""
        cutoff = now() - self._stale_after
        with self._tx.reading() as session:
            stale = session.execute(
                select(Run.import_id, Run.client_account_id, Run.id).where(
                    Run.status == RunStatus.RUNNING,
                    func.coalesce(Run.heartbeat_at, Run.started_at) < cutoff,
                    not_(HANDED_OVER),
                )
            ).all()
        return [
            import_id
            for import_id, client_account_id, run_id in stale
            if self._fail_if_lost(import_id, client_account_id, run_id, cutoff)
        ]

    def _fail_if_lost(
        self,
        import_id: uuid.UUID,
        client_account_id: uuid.UUID,
        run_id: uuid.UUID,
        cutoff: datetime,
    ) -> bool:
        with self._tx.transaction() as session:
            if not self._tx.try_lock_work(session, run_id):
                return False  # A worker holds it: slow, not lost.
            data_import = self._tx.lock_import(session, import_id, client_account_id)
            # Judged again under the locks: since it was read, the run may have ended, or handed
            # over to its children.
            run = session.scalars(
                select(Run)
                .where(Run.id == run_id, Run.status == RunStatus.RUNNING, not_(HANDED_OVER))
                .with_for_update(of=Run)
                .execution_options(populate_existing=True)
            ).one_or_none()
            if data_import is None or run is None:
                return False
            last_seen = run.heartbeat_at or run.started_at
            if last_seen >= cutoff:
                return False
            what = f"the {run.name} {run.kind}"
            if run.kind == RunKind.CHUNK:
                what += f" (rows {run.row_from}-{run.row_to})"
            error = (
                f"The worker running {what} vanished: no heartbeat since "
                f"{last_seen.isoformat()}. Retry the import to resume from this {run.kind}."
            )
            if run.kind == RunKind.DISCARD:
                # The import stays cancelled; its output is still to be removed.
                transitions.move(run, RunStatus.FAILED, error=error)
                transitions.plan(
                    session, data_import, RunKind.DISCARD, [run.name], parent_id=run.parent_id
                )
            elif run.kind in (RunKind.CHUNK, RunKind.FINISH):
                fail_run(session, data_import, run, error)
            elif run.kind == RunKind.PHASE:
                fail_phase(session, data_import, run, error)
            elif run.kind == RunKind.UNDO:
                # Its transaction died with its worker: the import is completed again.
                fail_undo(session, data_import, run, error)
            else:
                fail_import(session, data_import, error)
            log.warning("import %s: %s", import_id, error)
            return True

    # -- pending runs whose message may be lost ---------------------------------------------
    def resend(self) -> list[str]:
        """Send again the next runs of every import still pending long after they were sent;
        returns the task ids sent."""
        cutoff = now() - self._resend_after
        with self._tx.reading() as session:
            imports = session.execute(
                select(Run.import_id, Run.client_account_id)
                .distinct()
                .join(DataImport, DataImport.id == Run.import_id)
                .where(
                    Run.status == RunStatus.PENDING,
                    func.coalesce(Run.sent_at, Run.queued_at) < cutoff,
                    or_(
                        DataImport.status.in_(WORKING_IMPORT_STATUSES),
                        and_(
                            DataImport.status == ImportStatus.CANCELLED,
                            Run.kind == RunKind.DISCARD,
                        ),
                    ),
                )
            ).all()
        sent = []
        for import_id, client_account_id in imports:
            task_ids = self._background.send_next(
                import_id, client_account_id, unsent_for=self._resend_after
            )
            if task_ids:
                log.warning(
                    "import %s: its next tasks %s were still pending %ss after they were sent; "
                    "sent them again",
                    import_id,
                    ", ".join(task_ids),
                    int(self._resend_after.total_seconds()),
                )
                sent.extend(task_ids)
        return sent
