"""A real `celery worker` subprocess (prefork pool) for tests that need a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from importer.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def settings_env(settings: Settings) -> dict[str, str]:
    return {
        "IMPORTER_DATABASE_URL": settings.database_url,
        "IMPORTER_REDIS_URL": settings.redis_url,
        "IMPORTER_BROKER_URL": settings.broker_url,
        "IMPORTER_REDIS_PREFIX": settings.redis_prefix,
        "IMPORTER_TASK_QUEUE": settings.task_queue,
        "IMPORTER_CHUNK_SIZE": str(settings.chunk_size),
    }


@contextmanager
def celery_worker_process(settings: Settings, concurrency: int = 1) -> Iterator[subprocess.Popen]:
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            "worker",
            "-E",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env={**os.environ, **settings_env(settings)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in Path(log.name).read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("celery worker did not start:\n" + Path(log.name).read_text())
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.unlink(log.name)
