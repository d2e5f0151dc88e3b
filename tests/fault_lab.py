"""A place to break things: a worker subprocess on its own queue and Redis database, table locks
that hold a step at a known point, and the database's view of an import."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import func, select

from importer.models import (
    CleanedRecord,
    DiscoveryFlow,
    ImportFieldMapping,
    Run,
    ValidationIssue,
)
from importer.resources import Resources
from importer.sample_export import ExportStats, messy_csv_bytes
from tests.helpers import FINAL_STATUSES, wait_for
from tests.worker_process import celery_worker_process

# The fault tests' stale limit (IMPORTER_STALE_AFTER_SECONDS), in seconds.
STALE_AFTER = 2
# Each step's first write goes to this table: locking it holds the step there, mid-step.
STEP_TABLES = {
    "validate": "import_validation_issues",
    "mappings": "import_field_mappings",
    "discovery": "cleaned_records",
}


class FaultLab:
    def __init__(self, resources: Resources, client, headers: dict[str, str]) -> None:
        self.resources = resources
        self.client = client
        self.headers = headers
        self._worker: subprocess.Popen | None = None
        self._worker_cm = None

    # -- the worker -------------------------------------------------------------------------
    def start_worker(self) -> None:
        self._worker_cm = celery_worker_process(self.resources.settings)
        self._worker = self._worker_cm.__enter__()

    def stop_worker(self) -> None:
        if self._worker_cm is not None:
            self._worker_cm.__exit__(None, None, None)
            self._worker_cm = self._worker = None

    def stop_worker_after_its_task(self) -> None:
        """Ask the worker to stop (a warm shutdown: it takes no more tasks, and finishes the one
        it runs); stop_worker waits for it."""
        self._worker.terminate()

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool children: no goodbye, no ack, no cleanup."""
        os.killpg(self._worker.pid, signal.SIGKILL)
        self._worker.wait()
        self.stop_worker()

    # -- holding a step mid-way ---------------------------------------------------------------
    @contextmanager
    def hold(self, step: str) -> Iterator[None]:
        """Keep ``step`` blocked at its first write until the block ends."""
        url = self.resources.settings.psycopg_url
        conn = psycopg.connect(url)
        try:
            conn.execute(f"LOCK TABLE {STEP_TABLES[step]} IN ACCESS EXCLUSIVE MODE")
            yield
        finally:
            # The connection may be gone already (a test restarting PostgreSQL kills it).
            conn.close()

    # -- the watchdog -------------------------------------------------------------------------
    @contextmanager
    def watchdog_running(self, interval: float = 0.3) -> Iterator[list[str]]:
        """What celery beat does, every ``interval`` seconds until the block ends; yields the
        task ids it sent again, as it sends them."""
        stop, resent = threading.Event(), []

        def rounds() -> None:
            while not stop.wait(interval):
                resent.extend(self.resources.services.watchdog.run()[1])

        thread = threading.Thread(target=rounds, daemon=True)
        thread.start()
        try:
            yield resent
        finally:
            stop.set()
            thread.join()

    # -- the API ----------------------------------------------------------------------------
    def upload(self, rows: int = 1500, seed: int = 1) -> tuple[str, ExportStats]:
        content, stats = messy_csv_bytes(rows, seed)
        return self.upload_bytes(content), stats

    def upload_bytes(self, content: bytes) -> str:
        response = self.client.post(
            "/api/v1/imports",
            data={"file": (io.BytesIO(content), "cmdb.csv"), "engagement": uuid.uuid4().hex},
            headers=self.headers,
            content_type="multipart/form-data",
        )
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    def detail(self, import_id: str) -> dict:
        response = self.client.get(f"/api/v1/imports/{import_id}", headers=self.headers)
        assert response.status_code == 200
        return response.get_json()

    def post(self, import_id: str, action: str):
        return self.client.post(f"/api/v1/imports/{import_id}/{action}", headers=self.headers)

    def latest_step(self, import_id: str, step: str) -> dict:
        return [s for s in self.detail(import_id)["steps"] if s["name"] == step][-1]

    def wait_running(self, import_id: str, step: str) -> None:
        def running() -> bool:
            body = self.detail(import_id)
            current = [s for s in body["steps"] if s["name"] == step][-1]
            if step == "discovery":
                # The held phase: data_cleansing is the first to write cleaned_records.
                flow = body["flow"]
                return flow is not None and flow["current_phase"] == "data_cleansing"
            return current["status"] == "running"

        wait_for(running, timeout=60)

    def wait_settled(self, import_id: str, timeout: float = 90) -> dict:
        """The import once it is final and no run of it is still open: no step, phase or chunk,
        and no discard of a cancelled step's output still to do."""

        def settled():
            body = self.detail(import_id)
            open_steps = [s for s in body["steps"] if s["status"] in ("pending", "running")]
            flow_open = body["flow"] is not None and body["flow"]["status"] in (
                "pending",
                "running",
            )
            if body["status"] not in FINAL_STATUSES or open_steps or flow_open:
                return None
            open_runs = [r for r in self.runs(import_id).values() if r[3] in ("pending", "running")]
            return None if open_runs else body

        return wait_for(
            settled, timeout=timeout, interval=0.1, describe=lambda: self.detail(import_id)
        )

    # -- what PostgreSQL holds --------------------------------------------------------------
    def stored(self, import_id: str) -> dict[str, int]:
        counts = {}
        with self.resources.session_factory() as session:
            for name, model in [
                ("issues", ValidationIssue),
                ("mappings", ImportFieldMapping),
                ("cleaned", CleanedRecord),
                ("flows", DiscoveryFlow),
            ]:
                counts[name] = session.scalar(
                    select(func.count()).select_from(model).where(model.import_id == import_id)
                )
        return counts

    def runs(self, import_id: str) -> dict[str, tuple]:
        """Every run's (kind, name, attempt, status, restarts, row_from), by task id: what a
        stray task must leave alone."""
        with self.resources.session_factory() as session:
            runs = session.execute(
                select(
                    Run.task_id,
                    Run.kind,
                    Run.name,
                    Run.attempt,
                    Run.status,
                    Run.restarts,
                    Run.row_from,
                ).where(Run.import_id == import_id)
            ).all()
        return {row[0]: tuple(row[1:]) for row in runs}

    def step_runs(self, import_id: str) -> list[Run]:
        with self.resources.session_factory() as session:
            return list(
                session.scalars(
                    select(Run)
                    .where(Run.import_id == import_id, Run.kind == "step")
                    .order_by(Run.attempt, Run.created_at)
                )
            )
