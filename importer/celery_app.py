"""The Celery application: production settings, with the pipeline's tasks registered."""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_process_init

from importer.config import Settings
from importer.logging_setup import configure_logging
from importer.resources import Resources
from importer.task_log import install_celery_logging
from importer.tasks.revocation import install_revocation_handler

TASK_MODULES = [
    "importer.tasks.pipeline",
    "importer.tasks.discovery",
    "importer.tasks.chunks",
    "importer.tasks.undo",
    "importer.tasks.watchdog",
]


def create_celery(settings: Settings | None = None, resources: Resources | None = None) -> Celery:
    settings = settings or Settings()
    app = Celery("importer", broker=settings.broker_url, include=TASK_MODULES)
    app.conf.update(
        # A task is acknowledged only once it finished, and redelivered when its worker dies.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Events for Flower: tasks show from the moment they are sent.
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_track_started=True,
        # PostgreSQL holds every task's state; a result backend would be a second, weaker truth.
        task_ignore_result=True,
        task_default_queue=settings.task_queue,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout,
            # Sweep for messages of dead workers often enough to honour the timeout.
            "unacked_restore_interval": max(1, min(10, settings.broker_visibility_timeout // 4)),
            "unacked_restore_throttle": 1,
        },
        beat_schedule={
            "watchdog": {
                "task": "importer.watchdog",
                "schedule": settings.watchdog_interval_seconds,
            }
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_serializer="json",
        accept_content=["json"],
    )
    app.importer = resources or Resources(settings)
    app.importer.celery = app
    # Observability: JSON logs with the task's import context (once per process); per-task
    # metrics are Flower's, from the events above.
    configure_logging()
    install_celery_logging()
    install_revocation_handler()

    @worker_process_init.connect(weak=False)
    def _reset_connections(**_: object) -> None:
        app.importer.after_fork()

    return app
