"""The periodic check for steps whose worker vanished (run by celery beat)."""

from __future__ import annotations

from celery import shared_task


@shared_task(bind=True, name="importer.reap_stale_steps", ignore_result=True)
def reap_stale_steps(self) -> list[str]:
    return [str(i) for i in self.app.importer.services.reaper.reap()]
