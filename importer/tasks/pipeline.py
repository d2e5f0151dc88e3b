"""The upload's steps: validate → persist field mappings → trigger the discovery flow.

Each task takes the import id and client account id (what Flower shows), finds its step run by its
own task id, and lets the StepRunner do the rest, including sending the next step's task.
"""

from __future__ import annotations

import uuid

from celery import shared_task
from celery.exceptions import Ignore

from importer.services.step_runner import Outcome, TransientFailure

# A lost database connection (PostgreSQL restarting) is retried with exponential backoff; the
# bound is IMPORTER_DB_RETRIES, after which the runner records the failure itself.
RETRYING = {
    "bind": True,
    "autoretry_for": (TransientFailure,),
    "retry_backoff": True,
    "retry_backoff_max": 30,
    "max_retries": None,
}


def run_step(task, import_id: str, client_account_id: str, unit) -> str:
    services = task.app.importer.services
    final_try = task.request.retries >= task.app.importer.settings.db_retries
    outcome = services.runner.run(
        uuid.UUID(import_id), uuid.UUID(client_account_id), unit, final_try=final_try
    )
    if outcome != Outcome.SUCCEEDED:
        # Not shown as a success in Flower: the step run in PostgreSQL says what happened.
        raise Ignore()
    return outcome


@shared_task(name="importer.validate_import", **RETRYING)
def validate_import(self, import_id: str, client_account_id: str) -> str:
    unit = self.app.importer.services.validate_step(self.request.id)
    return run_step(self, import_id, client_account_id, unit)


@shared_task(name="importer.persist_field_mappings", **RETRYING)
def persist_field_mappings(self, import_id: str, client_account_id: str) -> str:
    unit = self.app.importer.services.mappings_step(self.request.id)
    return run_step(self, import_id, client_account_id, unit)


@shared_task(name="importer.trigger_discovery_flow", **RETRYING)
def trigger_discovery_flow(self, import_id: str, client_account_id: str) -> str:
    unit = self.app.importer.services.discovery_step(self.request.id)
    return run_step(self, import_id, client_account_id, unit)
