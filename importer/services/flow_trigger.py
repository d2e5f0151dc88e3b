"""FlowTriggerService: creates (or resumes) an import's discovery flow and plans its phases."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from importer.models import (
    PHASE_ORDER,
    DataImport,
    DiscoveryFlow,
    DiscoveryPhaseRun,
    FlowPhase,
    FlowStatus,
    PhaseStatus,
    flow_phases,
)
from importer.services.discovery_flow import locked_flow
from importer.services.import_state import now


class FlowTriggerService:
    def prepare_flow(
        self, session: Session, data_import: DataImport, from_phase: FlowPhase | None = None
    ) -> None:
        """The import's flow, ready to run from ``from_phase`` (default: the first phase that
        did not complete): those phases pending, each with a new task id, for the caller to send
        after its commit. One flow per import: a retry resumes it, completed phases are kept."""
        flow = locked_flow(session, data_import)
        if flow is None:
            flow = DiscoveryFlow(
                import_id=data_import.id,
                client_account_id=data_import.client_account_id,
                engagement=data_import.engagement,
                progress=0,
            )
            session.add(flow)
            session.flush()
        runs = {
            FlowPhase(run.phase): run
            for run in session.scalars(
                select(DiscoveryPhaseRun)
                .where(DiscoveryPhaseRun.flow_id == flow.id)
                .with_for_update()
            )
        }
        phases = flow_phases(data_import.import_type)
        if from_phase is None:
            from_phase = next(
                (p for p in phases if p not in runs or runs[p].status != "completed"),
                phases[0],
            )
        start = PHASE_ORDER.index(from_phase)
        for phase in [p for p in phases if PHASE_ORDER.index(p) >= start]:
            run = runs.get(phase)
            if run is None:
                run = DiscoveryPhaseRun(
                    flow_id=flow.id,
                    import_id=data_import.id,
                    client_account_id=data_import.client_account_id,
                    phase=phase,
                    attempt=1,
                )
                session.add(run)
            else:
                run.attempt += 1
            run.status, run.progress, run.error = PhaseStatus.PENDING, 0, None
            run.task_id, run.queued_at = str(uuid.uuid4()), now()
            run.started_at, run.heartbeat_at, run.finished_at = None, None, None
        flow.status, flow.error, flow.finished_at = FlowStatus.PENDING, None, None
        session.flush()
