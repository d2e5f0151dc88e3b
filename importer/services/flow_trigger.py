"""FlowTriggerService: creates (or resets) an import's discovery flow and starts its execution."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from importer.models import DataImport, DiscoveryFlow, FlowStatus
from importer.services.background import BackgroundExecutionService


class FlowTriggerService:
    def __init__(self, background: BackgroundExecutionService) -> None:
        self._background = background

    def prepare_flow(self, session: Session, data_import: DataImport) -> DiscoveryFlow:
        """The import's flow, pending, with a new task id; one flow per import, reused on retry."""
        flow = session.scalars(
            select(DiscoveryFlow)
            .where(
                DiscoveryFlow.import_id == data_import.id,
                DiscoveryFlow.client_account_id == data_import.client_account_id,
            )
            .with_for_update()
        ).one_or_none()
        if flow is None:
            flow = DiscoveryFlow(
                import_id=data_import.id,
                client_account_id=data_import.client_account_id,
                engagement=data_import.engagement,
                progress=0,
            )
            session.add(flow)
        flow.status = FlowStatus.PENDING
        flow.task_id = str(uuid.uuid4())
        flow.error = None
        flow.finished_at = None
        session.flush()
        return flow

    def start(self, flow: DiscoveryFlow) -> None:
        self._background.enqueue_flow(flow)
