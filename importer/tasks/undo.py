"""The undo of a completed import: one task, finding its undo run by its own task id."""

from __future__ import annotations

from celery import shared_task

from importer.tasks.pipeline import RETRYING, run_step


@shared_task(name="importer.undo_import", **RETRYING)
def undo_import(self, import_id: str, client_account_id: str) -> str:
    unit = self.app.importer.services.undo_unit(self.request.id)
    return run_step(self, import_id, client_account_id, unit)
