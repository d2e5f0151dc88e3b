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

from sqlalchemy import and_, func, not_, select, union

from importer.models import (
    FINAL_FLOW_STATUSES,
    WORKING_IMPORT_STATUSES,
    DataImport,
    DiscoveryFlow,
    DiscoveryPhaseRun,
    ImportStepRun,
    PhaseStatus,
    Step,
    StepStatus,
)
from importer.services.background import BackgroundExecutionService
from importer.services.discovery_flow import fail_phase, flow_under_way
from importer.services.import_state import fail_import, now
from importer.services.transactions import ImportTransactionManager

log = logging.getLogger(__name__)

# A discovery step whose flow is under way (flow_under_way, in SQL): the phases are what runs.
_FLOW_UNDER_WAY = (
    select(DiscoveryFlow.id)
    .where(
        DiscoveryFlow.import_id == ImportStepRun.import_id,
        DiscoveryFlow.status.not_in(FINAL_FLOW_STATUSES),
    )
    .exists()
)


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
            steps = session.execute(
                select(
                    ImportStepRun.import_id, ImportStepRun.client_account_id, ImportStepRun.id
                ).where(
                    ImportStepRun.status == StepStatus.RUNNING,
                    func.coalesce(ImportStepRun.heartbeat_at, ImportStepRun.started_at) < cutoff,
                    not_(and_(ImportStepRun.step == Step.DISCOVERY, _FLOW_UNDER_WAY)),
                )
            ).all()
            phases = session.execute(
                select(
                    DiscoveryPhaseRun.import_id,
                    DiscoveryPhaseRun.client_account_id,
                    DiscoveryPhaseRun.id,
                ).where(
                    DiscoveryPhaseRun.status == PhaseStatus.RUNNING,
                    func.coalesce(DiscoveryPhaseRun.heartbeat_at, DiscoveryPhaseRun.started_at)
                    < cutoff,
                )
            ).all()
        failed = []
        for model, rows in ((ImportStepRun, steps), (DiscoveryPhaseRun, phases)):
            for import_id, client_account_id, run_id in rows:
                if self._fail_if_lost(model, import_id, client_account_id, run_id, cutoff):
                    failed.append(import_id)
        return failed

    def _fail_if_lost(
        self,
        model: type[ImportStepRun] | type[DiscoveryPhaseRun],
        import_id: uuid.UUID,
        client_account_id: uuid.UUID,
        run_id: uuid.UUID,
        cutoff: datetime,
    ) -> bool:
        with self._tx.transaction() as session:
            if not self._tx.try_lock_work(session, import_id):
                return False  # A worker holds it: slow, not lost.
            data_import = self._tx.lock_import(session, import_id, client_account_id)
            run = session.get(model, run_id, with_for_update=True, populate_existing=True)
            # Judged again under the locks: since it was read, the run may have ended, or (the
            # discovery step) handed over to its flow.
            if data_import is None or run is None or run.status != "running":
                return False
            last_seen = run.heartbeat_at or run.started_at
            if last_seen >= cutoff:
                return False
            phase = isinstance(run, DiscoveryPhaseRun)
            if not phase and run.step == Step.DISCOVERY and flow_under_way(session, import_id):
                return False
            kind, name = ("phase", run.phase) if phase else ("step", run.step)
            error = (
                f"The worker running the {name} {kind} vanished: no heartbeat since "
                f"{last_seen.isoformat()}. Retry the import to resume from this {kind}."
            )
            if phase:
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
        overdue = union(
            *(
                select(model.import_id, model.client_account_id).where(
                    model.status == "pending", model.queued_at < cutoff
                )
                for model in (ImportStepRun, DiscoveryPhaseRun)
            )
        ).subquery()
        with self._tx.reading() as session:
            imports = session.execute(
                select(overdue.c.import_id, overdue.c.client_account_id)
                .join(DataImport, DataImport.id == overdue.c.import_id)
                .where(DataImport.status.in_(WORKING_IMPORT_STATUSES))
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
