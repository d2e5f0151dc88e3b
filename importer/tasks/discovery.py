"""The discovery flow's execution, started by the discovery step."""

from __future__ import annotations

from celery import shared_task

from importer.tasks.pipeline import RETRYING, run_step


@shared_task(name="importer.run_discovery_flow", **RETRYING)
def run_discovery_flow(self, import_id: str, client_account_id: str) -> str:
    return run_step(self, import_id, client_account_id, self.app.importer.services.discovery_flow())
