"""A real `celery worker` subprocess (prefork pool) for tests that need a separate process."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from importer.config import Settings
from tests.processes import running, worker_command, worker_ready


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as the IMPORTER_ variables a worker process reads."""
    return {
        f"IMPORTER_{name.upper()}": str(getattr(settings, name)) for name in Settings.model_fields
    }


@contextmanager
def celery_worker_process(
    settings: Settings, concurrency: int = 1, log: Path | None = None
) -> Iterator[subprocess.Popen]:
    """A worker in its own process group, so that a test can SIGKILL it with its pool children;
    its log (the tasks it received, by id) in ``log`` when given."""
    # A unique node name, so that pings and inspections tell it from other workers.
    command = worker_command(concurrency, "--hostname", f"test-{uuid.uuid4().hex[:8]}@%h")
    env = {**os.environ, **settings_env(settings)}
    with running(command, env, "celery worker", worker_ready, log=log) as worker:
        yield worker.popen
