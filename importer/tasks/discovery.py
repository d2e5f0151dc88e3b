"""The discovery flow: one task per phase, each sent once the phase before it completed."""

from __future__ import annotations

from celery import shared_task

from importer.tasks.pipeline import RETRYING, run_step


@shared_task(name="importer.run_discovery_phase", **RETRYING)
def run_discovery_phase(self, import_id: str, client_account_id: str, phase: str) -> str:
    unit = self.app.importer.services.discovery_phase(self.request.id, phase)
    return run_step(self, import_id, client_account_id, unit)
