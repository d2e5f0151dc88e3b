"""The watchdog: fails runs whose worker vanished, and sends again work whose message was lost.

It judges only running runs (steps and flow phases), each by its own heartbeat. A running run
refreshes its heartbeat as it works and holds the import's work lock for as long as it runs: one
whose heartbeat is older than the limit and whose work lock is free has no worker any more, so it
fails with an error saying so, and can be retried. A pending run is queued, not lost, however long
it waits. The discovery step stays running while its flow runs, but its own work ended when the
flow was planned: from then on the flow's phases are judged instead.

A pending run is work to be sent (see BackgroundExecutionService): the import's next run, still
pending long after its task was sent, is sent again, in case its message never reached the broker.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, func, not_, select

from importer.models import (
    WORKING_IMPORT_STATUSES,
    DataImport,
    Run,
    RunKind,
    RunStatus,
    Step,
)
from importer.services.background import BackgroundExecutionService
from importer.services.discovery_flow import FLOW_PLANNED, fail_phase
from importer.services.import_state import fail_import, now
from importer.services.transactions import ImportTransactionManager

log = logging.getLogger(__name__)

# A discovery step whose flow is planned: its phases are what runs, each judged by itself.
_HANDED_OVER = and_(Run.kind == RunKind.STEP, Run.name == Step.DISCOVERY, FLOW_PLANNED)


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
                    not_(_HANDED_OVER),
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
            if not self._tx.try_lock_work(session, import_id):
                return False  # A worker holds it: slow, not lost.
            data_import = self._tx.lock_import(session, import_id, client_account_id)
            # Judged again under the locks: since it was read, the run may have ended, or (the
            # discovery step) handed over to its flow.
            run = session.scalars(
                select(Run)
                .where(Run.id == run_id, Run.status == RunStatus.RUNNING, not_(_HANDED_OVER))
                .with_for_update(of=Run)
                .execution_options(populate_existing=True)
            ).one_or_none()
            if data_import is None or run is None:
                return False
            last_seen = run.heartbeat_at or run.started_at
            if last_seen >= cutoff:
                return False
            error = (
                f"The worker running the {run.name} {run.kind} vanished: no heartbeat since "
                f"{last_seen.isoformat()}. Retry the import to resume from this {run.kind}."
            )
            if run.kind == RunKind.PHASE:
                fail_phase(session, data_import, run, error)
            else:
                fail_import(session, data_import, error)
            log.warning("import %s: %s", import_id, error)
            return True

    # -- pending runs whose message may be lost ---------------------------------------------
    def resend(self) -> list[str]:
        """Send again the next run of every import still pending long after it was sent;
        returns the task ids sent."""
        cutoff = now() - self._resend_after
        with self._tx.reading() as session:
            imports = session.execute(
                select(Run.import_id, Run.client_account_id)
                .distinct()
                .join(DataImport, DataImport.id == Run.import_id)
                .where(
                    Run.status == RunStatus.PENDING,
                    Run.queued_at < cutoff,
                    DataImport.status.in_(WORKING_IMPORT_STATUSES),
                )
            ).all()
        sent = []
        for import_id, client_account_id in imports:
            task_id = self._background.send_next(
                import_id, client_account_id, unsent_for=self._resend_after
            )
            if task_id is not None:
                log.warning(
                    "import %s: its next task %s was still pending %ss after it was sent; sent "
                    "it again",
                    import_id,
                    task_id,
                    int(self._resend_after.total_seconds()),
                )
                sent.append(task_id)
        return sent
