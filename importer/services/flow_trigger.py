"""FlowTriggerService: creates (or resumes) an import's discovery flow and plans its phases."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from importer.models import DataImport, DiscoveryFlow, FlowPhase, RunKind, flow_phases
from importer.pipeline import transitions
from importer.services.discovery_flow import locked_flow


class FlowTriggerService:
    def prepare_flow(
        self, session: Session, data_import: DataImport, step_run_id: uuid.UUID
    ) -> None:
        """The import's flow, ready to run from the first phase that did not succeed: a new
        pending run of that phase and of each after it, children of the discovery step run
        ``step_run_id``, each with a new task id, for the caller to send after its commit. One
        flow per import: a retry resumes it, the phases that succeeded are kept; an undone import
        committed again runs the phases after the cleansing again."""
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
        phases = flow_phases(data_import.import_type)
        start = transitions.first_not_succeeded(
            transitions.latest(session, data_import, RunKind.PHASE), phases
        )
        # Every phase succeeded: an undone import committed again. What the undo took back is
        # built again from its cleaned rows, which the undo kept.
        again = start is None
        if again:
            start = phases[phases.index(FlowPhase.DATA_CLEANSING) + 1]
        transitions.plan(
            session,
            data_import,
            RunKind.PHASE,
            phases[phases.index(start) :],
            parent_id=step_run_id,
            again=again,
        )
        flow.finished_at = None
