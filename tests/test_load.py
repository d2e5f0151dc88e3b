"""Many accounts uploading at once, with a short stale limit and the watchdog running.

Twelve accounts upload the same file together while `celery beat` runs the watchdog every second
with a stale limit of 10 s. Their imports wait for a worker past that limit (none is running
until then), then two worker subprocesses of one process each (as two machines would run them)
take them all, each import's steps and phases queued behind the others'. The watchdog must leave
waiting work alone, and every import must end as the same file imported alone does.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from importer.celery_app import create_celery
from importer.models import Run
from importer.resources import Resources
from importer.sample_export import messy_csv_bytes
from tests.helpers import uploaded, wait_for_final
from tests.outcomes import import_outcome
from tests.processes import celery_command, logged, running
from tests.worker_process import celery_worker_process, settings_env
from web import create_app

ACCOUNTS = 12
ROWS = 3000
STALE_AFTER = 10


@pytest.fixture(scope="module")
def load_resources(resources):
    """A queue of its own (no in-process worker takes its tasks), a 10 s stale limit."""
    settings = resources.settings.model_copy(
        update={
            "task_queue": resources.settings.task_queue + "-load",
            "stale_after_seconds": STALE_AFTER,
            "watchdog_interval_seconds": 1,
        }
    )
    load_resources = Resources(settings)
    create_celery(settings, load_resources)
    yield load_resources
    load_resources.engine.dispose()


@contextlib.contextmanager
def beat(settings):
    """`celery beat`, as the Procfile runs it: it sends the watchdog every interval."""
    with tempfile.TemporaryDirectory() as tmp:
        command = celery_command("beat", "--schedule", str(Path(tmp) / "schedule"), "-l", "INFO")
        env = {**os.environ, **settings_env(settings)}
        with running(command, env, "celery beat", logged("Sending due task watchdog")):
            yield


def longest_wait(resources: Resources, import_id: str) -> float:
    """The most seconds any of the import's steps and phases waited, sent, for a worker."""
    with resources.session_factory() as session:
        return session.scalar(
            select(func.max(func.extract("epoch", Run.started_at - Run.queued_at))).where(
                Run.import_id == import_id
            )
        )


def test_twelve_accounts_at_once_all_complete_as_one_alone(load_resources, make_account):
    app = create_app(load_resources.settings, load_resources)
    body, _ = messy_csv_bytes(ROWS, seed=3)

    def import_of_a_new_account() -> tuple[str, dict]:
        _, headers = make_account()
        return uploaded(app.test_client(), headers, body), headers

    with beat(load_resources.settings):
        with celery_worker_process(load_resources.settings):
            alone, headers = import_of_a_new_account()
            assert wait_for_final(app.test_client(), alone, headers, 120)["status"] == "completed"
        with concurrent.futures.ThreadPoolExecutor(ACCOUNTS) as pool:
            imports = list(pool.map(lambda _: import_of_a_new_account(), range(ACCOUNTS)))
        time.sleep(STALE_AFTER + 2)
        with (
            celery_worker_process(load_resources.settings),
            celery_worker_process(load_resources.settings),
        ):
            for import_id, headers in imports:
                wait_for_final(app.test_client(), import_id, headers, 600)

    expected = import_outcome(load_resources, alone)
    assert expected["status"] == "completed" and expected["cleaned"] > 0, expected
    outcomes = {import_id: import_outcome(load_resources, import_id) for import_id, _ in imports}
    assert {i: o for i, o in outcomes.items() if o != expected} == {}
    # Work waited past the stale limit while the watchdog ran: a watchdog that judged waiting
    # work stale would have failed imports.
    waits = [longest_wait(load_resources, import_id) for import_id, _ in imports]
    assert max(waits) > STALE_AFTER, waits
