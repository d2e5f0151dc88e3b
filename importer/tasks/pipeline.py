"""The upload's chain: validate → persist field mappings → trigger the discovery flow.

Each task takes the import id and client account id (what Flower shows), finds its step run by its
own task id, and lets the StepRunner do the rest.
"""

from __future__ import annotations

import uuid

from celery import shared_task
from celery.exceptions import Ignore

from importer.services.step_runner import Outcome


def run_step(task, import_id: str, client_account_id: str, unit) -> str:
    services = task.app.importer.services
    outcome = services.runner.run(uuid.UUID(import_id), uuid.UUID(client_account_id), unit)
    if outcome in (Outcome.SKIPPED, Outcome.CANCELLED, Outcome.FAILED):
        # Stops the chain here; the step run in PostgreSQL says why.
        raise Ignore()
    return outcome


@shared_task(bind=True, name="importer.validate_import")
def validate_import(self, import_id: str, client_account_id: str) -> str:
    return run_step(
        self,
        import_id,
        client_account_id,
        self.app.importer.services.validate_step(self.request.id),
    )


@shared_task(bind=True, name="importer.persist_field_mappings")
def persist_field_mappings(self, import_id: str, client_account_id: str) -> str:
    return run_step(
        self,
        import_id,
        client_account_id,
        self.app.importer.services.mappings_step(self.request.id),
    )


@shared_task(bind=True, name="importer.trigger_discovery_flow")
def trigger_discovery_flow(self, import_id: str, client_account_id: str) -> str:
    return run_step(
        self,
        import_id,
        client_account_id,
        self.app.importer.services.discovery_step(self.request.id),
    )
