"""Cancel latency: 20 cancels of a large import in its longest step (validate).

Measures, per cancel, cancel request → the step stopped (its run marked cancelled by the worker)
and cancel request → the import's status reads `cancelled`; prints p50 and p95 of each against the
goal (p95 under 1 s), with the step's time per chunk as the baseline that bounds it.

    python bench/cancel_latency.py [--rows 200000] [--cancels 20]
"""

from __future__ import annotations

import argparse
import functools
import io
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from importer import migrate  # noqa: E402
from importer.celery_app import create_celery  # noqa: E402
from importer.config import Settings  # noqa: E402
from importer.models import Run  # noqa: E402
from importer.resources import Resources  # noqa: E402
from importer.sample_export import messy_csv_bytes  # noqa: E402
from tests.helpers import wait_for  # noqa: E402
from tests.worker_process import celery_worker_process  # noqa: E402
from web import create_app  # noqa: E402

GOAL_SECONDS = 1.0
# The latencies are seen by polling: every 10 ms.
wait = functools.partial(wait_for, timeout=120, interval=0.01)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--cancels", type=int, default=20)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    base = Settings(_env_file=None)
    settings = base.model_copy(
        update={
            "database_url": base.database_url.rsplit("/", 1)[0] + f"/importer_bench_{run}",
            "redis_prefix": f"importer-bench-{run}",
            "task_queue": f"importer-bench-{run}",
        }
    )
    migrate.create_database_if_missing(settings.database_url)
    migrate.upgrade(settings.database_url)
    resources = Resources(settings)
    create_celery(settings, resources)
    try:
        measure(resources, args.rows, args.cancels)
    finally:
        stale = list(resources.redis.scan_iter(match=f"*importer-bench-{run}*"))
        if stale:
            resources.redis.delete(*stale)
        resources.engine.dispose()
        migrate.drop_database(settings.database_url)


def measure(resources: Resources, rows: int, cancels: int) -> None:
    key = resources.services.api_keys.create(f"bench-{uuid.uuid4().hex[:6]}").key
    headers = {"Authorization": f"Bearer {key}"}
    client = create_app(resources.settings, resources).test_client()
    content, _ = messy_csv_bytes(rows, seed=1)
    import_id = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(content), "bench.csv")},
        headers=headers,
        content_type="multipart/form-data",
    ).get_json()["id"]

    def validate_run() -> Run:
        with resources.session_factory() as session:
            return session.scalars(
                select(Run)
                .where(Run.import_id == import_id, Run.kind == "step", Run.name == "validate")
                .order_by(Run.attempt.desc())
                .limit(1)
            ).one()

    progress = resources.runtime_state.progress
    stopped, status_seen, chunk_times = [], [], []
    with celery_worker_process(resources.settings):
        for attempt in range(1, cancels + 1):
            if attempt > 1:
                retry = client.post(f"/api/v1/imports/{import_id}/retry", headers=headers)
                assert retry.status_code == 202, retry.get_json()
            wait(
                lambda a=attempt: validate_run().attempt == a and validate_run().status == "running"
            )
            # Cancel somewhere between 10% and 60% of the step, a different point each time.
            target = 10 + (attempt * 7) % 50
            wait(lambda t=target: progress(import_id).get("validate", 0) >= t)
            started = time.perf_counter()
            cancelled_at = datetime.now(UTC)
            response = client.post(f"/api/v1/imports/{import_id}/cancel", headers=headers)
            assert response.status_code == 202, response.get_json()
            wait(
                lambda: (
                    client.get(f"/api/v1/imports/{import_id}", headers=headers).get_json()["status"]
                    == "cancelled"
                )
            )
            status_seen.append(time.perf_counter() - started)
            run = wait(lambda: (r := validate_run()).status == "cancelled" and r)
            stopped.append((run.finished_at - cancelled_at).total_seconds())
            elapsed = (run.finished_at - run.started_at).total_seconds()
            done = max(1, progress(import_id).get("validate", 1))
            chunks = rows * done / 100 / resources.settings.chunk_size
            chunk_times.append(elapsed / max(chunks, 1))

    chunk = statistics.median(chunk_times)
    print(f"cancel latency: {cancels} cancels of a {rows}-row import during validate")
    print(f"{'figure':<34}{'p50':>9}{'p95':>9}{'goal':>9}{'p95/goal':>10}")
    for name, values in [
        ("cancel -> step stopped (s)", stopped),
        ("cancel -> status cancelled (s)", status_seen),
    ]:
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        print(f"{name:<34}{p50:>9.3f}{p95:>9.3f}{GOAL_SECONDS:>9.1f}{p95 / GOAL_SECONDS:>10.2f}")
    print(
        f"baseline: one chunk of {resources.settings.chunk_size} rows takes {chunk:.3f} s (median)"
    )


if __name__ == "__main__":
    main()
