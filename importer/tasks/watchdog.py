"""The periodic watchdog (run by celery beat): lost running runs fail, lost messages are re-sent."""

from __future__ import annotations

from celery import shared_task


@shared_task(bind=True, name="importer.watchdog", ignore_result=True)
def watchdog(self) -> dict[str, list[str]]:
    failed, resent = self.app.importer.services.watchdog.run()
    return {"failed": [str(i) for i in failed], "resent": resent}
