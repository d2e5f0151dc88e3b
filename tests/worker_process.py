"""A real `celery worker` subprocess (prefork pool) for tests that need a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from importer.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as the IMPORTER_ variables a worker process reads."""
    return {
        f"IMPORTER_{name.upper()}": str(getattr(settings, name)) for name in Settings.model_fields
    }


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, and SIGKILL if it has not ended within ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def celery_worker_process(settings: Settings, concurrency: int = 1) -> Iterator[subprocess.Popen]:
    """A worker in its own process group, so that a test can SIGKILL it with its pool children."""
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
            # A unique node name, so that pings and inspections tell it from other workers.
            "--hostname",
            f"test-{uuid.uuid4().hex[:8]}@%h",
        ],
        cwd=ROOT,
        env={**os.environ, **settings_env(settings)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "ready." not in Path(log.name).read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("celery worker did not start:\n" + Path(log.name).read_text())
            time.sleep(0.2)
        yield process
    finally:
        stop_process(process)
        os.unlink(log.name)
