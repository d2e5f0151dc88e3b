"""Tasks revoked from outside the API (Flower, `celery control revoke`) cancel their import."""

from __future__ import annotations

import logging

from celery.signals import task_revoked

log = logging.getLogger(__name__)


def _on_task_revoked(sender=None, request=None, terminated=False, **_: object) -> None:
    if request is None or sender is None or not sender.name.startswith("importer."):
        return
    try:
        sender.app.importer.services.control.abandon_task(request.id, bool(terminated))
    except Exception:
        log.exception("could not cancel the import of revoked task %s", request.id)


def install_revocation_handler() -> None:
    task_revoked.connect(_on_task_revoked, weak=False, dispatch_uid="importer.revoked")
