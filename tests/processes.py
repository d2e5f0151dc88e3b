"""Processes that tests and benchmarks start and wait for: a Celery worker, gunicorn, Flower.

Each runs from the repository's root in a process group of its own (a test can SIGKILL a worker
with its pool children), its output in a log file that tells why when it does not start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A started command. Its log is its stdout and stderr, or its stderr alone when ``stdout``
    names another file (a Celery worker's banner, say)."""

    def __init__(
        self, args: list[str], env: dict[str, str], log: Path, stdout: Path | None = None
    ) -> None:
        self.log = log
        with contextlib.ExitStack() as files:
            err = files.enter_context(log.open("w"))
            out = files.enter_context(stdout.open("w")) if stdout else err
            self.popen = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until(self, ready: Callable[[Process], bool], what: str) -> Process:
        """Once ``ready`` says so; stopped, with its log in the error, if it dies or takes too
        long."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while not ready(self):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{what} did not start:\n{self.text()}")
            time.sleep(0.2)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """``sig``, then SIGKILL to its whole group if it has not ended within ``timeout``."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


@contextlib.contextmanager
def running(
    args: list[str],
    env: dict[str, str],
    what: str,
    ready: Callable[[Process], bool],
    log: Path | None = None,
    stdout: Path | None = None,
) -> Iterator[Process]:
    """The process once it is ready, stopped at the end (its log too, unless ``log`` names it)."""
    with contextlib.ExitStack() as stack:
        if log is None:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / f"{what}.log"
        process = Process(args, env, log, stdout).wait_until(ready, what)
        try:
            yield process
        finally:
            process.stop()


def logged(text: str) -> Callable[[Process], bool]:
    return lambda process: text in process.text()


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def answering(url: str) -> Callable[[Process], bool]:
    return lambda _process: answers(url)


def celery_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "worker", *args]


def worker_command(concurrency: int, *options: str) -> list[str]:
    """``celery worker`` with a prefork pool, sending events, asking no other worker anything."""
    return celery_command(
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
        *options,
    )


# Celery's "celery@host ready." once the worker consumes.
worker_ready = logged("ready.")


def gunicorn_command(*options: str) -> list[str]:
    """The API as the Procfile serves it (gunicorn.conf.py: IMPORTER_BIND and the rest)."""
    config = str(ROOT / "gunicorn.conf.py")
    return [sys.executable, "-m", "gunicorn", "--config", config, *options, "web:create_app()"]
