"""A chunked step's or phase's runs: its chunks (sent as one group), its finish, and the discard
of its output after a cancel. Each finds its run by its own task id."""

from __future__ import annotations

from celery import shared_task

from importer.tasks.pipeline import RETRYING, run_step


@shared_task(name="importer.run_chunk", **RETRYING)
def run_chunk(self, import_id: str, client_account_id: str, row_from: int, row_to: int) -> str:
    unit = self.app.importer.services.chunk_unit(self.request.id, row_from)
    return run_step(self, import_id, client_account_id, unit)


@shared_task(name="importer.finish_run", **RETRYING)
def finish_run(self, import_id: str, client_account_id: str) -> str:
    unit = self.app.importer.services.finish_unit(self.request.id)
    return run_step(self, import_id, client_account_id, unit)


@shared_task(name="importer.discard_run", **RETRYING)
def discard_run(self, import_id: str, client_account_id: str) -> str:
    unit = self.app.importer.services.discard_unit(self.request.id)
    return run_step(self, import_id, client_account_id, unit)
