"""Cleansing helpers: processes that clean a share of the ranges store what the phase alone
stores, leave their ranges to the phase when they fail, and stop with the phase."""

from __future__ import annotations

import subprocess
import sys
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from importer.models import DataImport
from importer.sample_export import messy_csv_bytes
from importer.services.cleansing_helpers import (
    FRAME,
    MIN_RANGES,
    CleansingHelpers,
    Helper,
    HelperRun,
)
from importer.services.phases.data_cleansing import DataCleansingPhase
from importer.services.range_reader import RangeReader
from importer.services.step_runner import ImportCancelled
from tests.helpers import import_completed

pytestmark = pytest.mark.usefixtures("celery_worker")

STORED = text(
    """
    SELECT row_number, data::text, hostname_key, serial_number, primary_ip, asset_type
    FROM cleaned_records WHERE import_id = :import_id ORDER BY row_number
    """
)


class Recorded(CleansingHelpers):
    """Helpers as the worker starts them, each run kept to look at; ``then`` acts on it."""

    def __init__(self, resources, count: int, then=lambda run: None, **options) -> None:
        super().__init__(resources.settings.database_url, count, **options)
        self.runs: list[HelperRun] = []
        self._then = then

    def start(self, job, last, chunk_size) -> HelperRun:
        run = super().start(job, last, chunk_size)
        self.runs.append(run)
        self._then(run)
        return run


@pytest.fixture(scope="module")
def large_import(resources, app) -> uuid.UUID:
    """An import of more ranges than helpers need, run through the pipeline."""
    chunk_size = resources.settings.chunk_size
    body, _ = messy_csv_bytes(chunk_size * (MIN_RANGES + 3) + 17, seed=11)
    issued = resources.services.api_keys.create(f"helpers-{uuid.uuid4().hex[:8]}")
    auth = {"Authorization": f"Bearer {issued.key}"}
    final = import_completed(app.test_client(), auth, body, "cmdb.csv", 180, engagement="helpers")
    return uuid.UUID(final["id"])


def cleanse(resources, import_id: uuid.UUID, helpers: CleansingHelpers, checkpoint=None):
    """The phase run once in a transaction that is rolled back: its summary and its rows."""
    services = resources.services
    phase = DataCleansingPhase(
        services.mappings,
        resources.settings.chunk_size,
        RangeReader(resources.engine),
        helpers,
    )
    with resources.session_factory() as session:
        ctx = SimpleNamespace(
            session=session,
            data_import=session.get(DataImport, import_id),
            checkpoint=checkpoint or (lambda done, total: None),
        )
        try:
            summary = phase.run(ctx)
            return summary, session.execute(STORED, {"import_id": import_id}).all()
        finally:
            session.rollback()


def test_helpers_store_what_the_phase_alone_stores(resources, large_import):
    alone = Recorded(resources, 0)
    helped = Recorded(resources, 2)
    summary, rows = cleanse(resources, large_import, alone)
    assert alone.runs[0].shares == 1
    assert (summary, rows) == cleanse(resources, large_import, helped)
    assert len(rows) == summary["records_cleaned"] > MIN_RANGES * resources.settings.chunk_size
    assert helped.runs[0].shares == 3
    assert [h.process.returncode for h in helped.runs[0].helpers] == [0, 0]


def test_the_pipeline_stored_what_the_phase_alone_stores(resources, large_import):
    with resources.session_factory() as session:
        stored = session.execute(STORED, {"import_id": large_import}).all()
    assert cleanse(resources, large_import, Recorded(resources, 0))[1] == stored


def test_a_helper_that_dies_leaves_its_ranges_to_the_phase(resources, large_import):
    def kill(run: HelperRun) -> None:
        for helper in run.helpers:
            helper.process.kill()

    dying = Recorded(resources, 1, then=kill)
    expected = cleanse(resources, large_import, Recorded(resources, 0))
    assert cleanse(resources, large_import, dying) == expected
    assert dying.runs[0].shares == 2


@pytest.mark.parametrize(
    ("command", "shares"),
    [
        (["/nonexistent/python"], 1),  # no process at all
        ([sys.executable, "-c", "import sys; sys.exit(3)"], 2),  # gone before its order
        # Sends nothing, for longer than the test may take: only giving it up ends the wait.
        ([sys.executable, "-c", "import time; time.sleep(3600)"], 2),
    ],
)
def test_helpers_that_cannot_work_leave_their_ranges_to_the_phase(
    resources, large_import, command, shares
):
    helpers = Recorded(resources, 1, command=command, stall_after=1)
    expected = cleanse(resources, large_import, Recorded(resources, 0))
    assert cleanse(resources, large_import, helpers) == expected
    assert helpers.runs[0].shares == shares
    assert all(h.process.poll() is not None for h in helpers.runs[0].helpers)


def test_a_cancel_stops_the_helpers(resources, large_import):
    helpers = Recorded(resources, 1)

    def cancelled(done: int, total: int) -> None:
        raise ImportCancelled

    with pytest.raises(ImportCancelled):
        cleanse(resources, large_import, helpers, checkpoint=cancelled)
    (helper,) = helpers.runs[0].helpers
    assert helper.process.poll() is not None


@pytest.mark.parametrize(
    "sent",
    [
        FRAME.pack(0, 3, 100, 2) + b"the first part of a frame",  # the helper died mid-frame
        FRAME.pack(500, 0, 0, 2) + b"{}",  # a range the phase did not ask for next
    ],
)
def test_a_helper_that_sends_what_was_not_asked_gives_no_range(sent: bytes):
    process = subprocess.Popen(
        [sys.executable, "-c", f"import sys; sys.stdout.buffer.write({sent!r})"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    helper = Helper(process, stall_after=30)
    assert helper.take(0, waiting=lambda: None) is None
    helper.close()
    assert process.poll() is not None
