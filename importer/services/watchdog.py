"""Marks steps failed whose worker vanished, so that they can be retried.

A running step refreshes its heartbeat at every chunk and holds the import's work lock for as long
as it runs. A step whose heartbeat is older than the limit and whose work lock is free has no
worker any more: nothing will finish it, so it fails with an error saying so.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import func, or_, select, update

from importer.models import (
    DiscoveryFlow,
    DiscoveryPhaseRun,
    FlowStatus,
    ImportStepRun,
    PhaseStatus,
    Step,
    StepStatus,
)
from importer.services.import_state import fail_import, now
from importer.services.transactions import ImportTransactionManager

log = logging.getLogger(__name__)


class StaleStepReaper:
    def __init__(self, transactions: ImportTransactionManager, stale_after: timedelta) -> None:
        self._tx = transactions
        self._stale_after = stale_after

    def _stale_runs(self) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
        cutoff = now() - self._stale_after
        with self._tx.reading() as session:
            rows = session.execute(
                select(ImportStepRun.import_id, ImportStepRun.client_account_id, ImportStepRun.id)
                .outerjoin(DiscoveryFlow, DiscoveryFlow.import_id == ImportStepRun.import_id)
                .where(
                    ImportStepRun.status == StepStatus.RUNNING,
                    func.coalesce(ImportStepRun.heartbeat_at, ImportStepRun.started_at) < cutoff,
                    # A discovery step whose flow is queued or waits for a person is not lost.
                    or_(
                        ImportStepRun.step != Step.DISCOVERY,
                        DiscoveryFlow.status.not_in(
                            (FlowStatus.PENDING, FlowStatus.WAITING_FOR_APPROVAL)
                        ),
                    ),
                )
            ).all()
        return [tuple(row) for row in rows]

    def reap(self) -> list[uuid.UUID]:
        """Fail every stale step that no worker holds; returns the imports failed."""
        failed = []
        for import_id, client_account_id, run_id in self._stale_runs():
            with self._tx.transaction() as session:
                if not self._tx.try_lock_work(session, import_id):
                    continue  # A worker holds it: slow, not lost.
                data_import = self._tx.lock_import(session, import_id, client_account_id)
                run = session.get(ImportStepRun, run_id, with_for_update=True)
                if run is None or run.status != StepStatus.RUNNING:
                    continue
                last_seen = run.heartbeat_at or run.started_at
                error = (
                    f"The worker running the {run.step} step vanished: no heartbeat since "
                    f"{last_seen.isoformat()}. Retry the import to resume from this step."
                )
                flow = session.scalars(
                    select(DiscoveryFlow).where(DiscoveryFlow.import_id == import_id)
                ).one_or_none()
                if run.step == Step.DISCOVERY and flow is not None:
                    flow.status, flow.error, flow.finished_at = FlowStatus.FAILED, error, now()
                    session.execute(
                        update(DiscoveryPhaseRun)
                        .where(
                            DiscoveryPhaseRun.flow_id == flow.id,
                            DiscoveryPhaseRun.status == PhaseStatus.RUNNING,
                        )
                        .values(status=PhaseStatus.FAILED, error=error, finished_at=now())
                    )
                fail_import(session, data_import, error)
                log.warning("import %s: %s", import_id, error)
                failed.append(import_id)
        return failed
