"""Prometheus metrics at the API's /metrics: scrape-time gauges, the domain's counters and
durations observed in the workers, and their aggregation over processes (a real prefork worker
subprocess and the API in this process)."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import prometheus_client.values
import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from importer import metrics
from importer.celery_app import create_celery
from importer.logging_setup import log_context
from importer.models import DataImport, ImportStatus
from importer.resources import Resources
from importer.sample_export import messy_csv_bytes
from tests.helpers import wait_for, wait_for_final
from tests.worker_process import celery_worker_process
from web import create_app

STEPS = ("validate", "mappings", "discovery")


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return parse(response.get_data(as_text=True))


def parse(exposition: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def labelled(samples, name: str, label: str, **labels) -> dict[str, float]:
    """{label value: sample value} of the samples of ``name`` that also match ``labels``."""
    found = {}
    for (sample_name, sample_labels), sample_value in samples.items():
        as_dict = dict(sample_labels)
        if sample_name == name and all(as_dict.get(k) == v for k, v in labels.items()):
            found[as_dict[label]] = sample_value
    return found


def labelled_by(samples, name: str, outer: str, inner: str) -> dict[str, dict[str, float]]:
    """{outer label value: {inner label value: sample value}} of the samples of ``name``."""
    found: dict[str, dict[str, float]] = {}
    for (sample_name, sample_labels), sample_value in samples.items():
        as_dict = dict(sample_labels)
        if sample_name == name:
            found.setdefault(as_dict[outer], {})[as_dict[inner]] = sample_value
    return found


def upload(client, headers, rows: int, seed: int) -> dict:
    content, _ = messy_csv_bytes(rows, seed=seed)
    response = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(content), "cmdb.csv"), "engagement": uuid.uuid4().hex},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()


# -- scrape-time gauges ---------------------------------------------------------------------------


def test_metrics_endpoint_answers_without_an_api_key(client, settings):
    samples = scrape(client)
    assert value(samples, "importer_scrape_source_up", source="postgresql") == 1
    assert value(samples, "importer_scrape_source_up", source="broker") == 1
    assert value(samples, "importer_queue_depth", queue=settings.task_queue) is not None


def test_the_imports_gauge_names_the_top_accounts_and_sums_the_others(resources, make_account):
    top, left_out = 3, 2
    with resources.session_factory() as session:
        most = session.scalar(
            text(
                "SELECT coalesce(max(n), 0) FROM "
                "(SELECT count(*) AS n FROM data_imports GROUP BY client_account_id) counts"
            )
        )
    # The named accounts have more imports than any other (the session's tests made some too).
    statuses = ("completed", "failed", "cancelled")
    made: dict[uuid.UUID, list[str]] = {}
    for rank in range(top + left_out):
        account_id, _ = make_account()
        count = most + 1 + top - rank if rank < top else 1
        made[account_id] = [statuses[n % len(statuses)] for n in range(count)]
    with resources.session_factory.begin() as session:
        for account_id, kinds in made.items():
            for status in kinds:
                session.add(
                    DataImport(
                        client_account_id=account_id,
                        engagement="metrics",
                        import_type="servers",
                        format="csv",
                        status=status,
                    )
                )

    body, _ = metrics.scrape(resources, metrics.ScrapeTimeCollector(resources, top_accounts=top))
    samples = parse(body.decode())
    imports = labelled_by(samples, "importer_imports", "client_account", "status")
    named = list(made)[:top]
    assert set(imports) == {str(a) for a in named} | {"other"}
    for account_id in named:
        kinds = made[account_id]
        expected = {str(s): kinds.count(str(s)) for s in ImportStatus}
        assert imports[str(account_id)] == expected
    with resources.session_factory() as session:
        total = session.scalar(text("SELECT count(*) FROM data_imports"))
    assert sum(n for statuses in imports.values() for n in statuses.values()) == total
    assert sum(imports["other"].values()) >= left_out
    names = labelled(samples, "importer_client_account_info", "client_account")
    assert set(names) == {str(a) for a in named}
    # No other series names a tenant.
    tenant_series = {name for name, labels in samples if "client_account" in dict(labels)}
    assert tenant_series == {"importer_imports", "importer_client_account_info"}


def test_queue_depth_counts_every_priority_of_the_queue(resources):
    settings = resources.settings.model_copy(
        update={"task_queue": resources.settings.task_queue + "-depth"}
    )
    lab = Resources(settings)
    app = create_celery(settings, lab)
    try:
        for priority in (None, None, 9):
            app.send_task(
                "importer.validate_import",
                args=("x", "y"),
                queue=settings.task_queue,
                priority=priority,
            )
        families = {m.name: m for m in metrics.ScrapeTimeCollector(lab).collect()}
        depth = families["importer_queue_depth"].samples
        assert [(s.labels, s.value) for s in depth] == [({"queue": settings.task_queue}, 3)]
    finally:
        keys = list(lab.redis.scan_iter(match=f"{settings.task_queue}*"))
        if keys:
            lab.redis.delete(*keys)
        lab.engine.dispose()


def test_an_unreachable_source_is_reported_not_raised(resources):
    settings = resources.settings.model_copy(
        update={"broker_url": "redis://127.0.0.1:1/0", "task_queue": "nowhere"}
    )
    lab = Resources(settings)
    families = {m.name: m for m in metrics.ScrapeTimeCollector(lab).collect()}
    up = {s.labels["source"]: s.value for s in families["importer_scrape_source_up"].samples}
    assert up == {"postgresql": 1, "broker": 0}
    assert "importer_queue_depth" not in families
    lab.engine.dispose()


# -- what the worker observes ---------------------------------------------------------------------


class FakeUnit:
    def __init__(self, name: str) -> None:
        self.name = name


class StepFailed(Exception):
    """Named like the StepRunner's: the decorator labels exceptions by name."""


def test_step_durations_are_observed_by_outcome():
    @metrics.timed_step
    def run(self, import_id, client_account_id, unit, *, final_try=True):
        if unit.name.endswith("boom"):
            raise StepFailed("no")
        return "succeeded"

    step = f"step-{uuid.uuid4().hex[:6]}"
    run(None, uuid.uuid4(), uuid.uuid4(), FakeUnit(step))
    with pytest.raises(StepFailed):
        run(None, uuid.uuid4(), uuid.uuid4(), FakeUnit(step + "boom"))
    count = "importer_step_duration_seconds_count"
    assert metrics.REGISTRY.get_sample_value(count, {"step": step, "outcome": "succeeded"}) == 1
    sample = metrics.REGISTRY.get_sample_value
    assert sample(count, {"step": step + "boom", "outcome": "failed"}) == 1
    # A discovery flow phase task (phase in its log context) is timed as a phase.
    phase = f"phase-{uuid.uuid4().hex[:6]}"
    with log_context(phase=phase):
        run(None, uuid.uuid4(), uuid.uuid4(), FakeUnit(phase))
    assert (
        metrics.REGISTRY.get_sample_value(
            "importer_phase_duration_seconds_count", {"phase": phase, "outcome": "succeeded"}
        )
        == 1
    )
    assert metrics.REGISTRY.get_sample_value(count, {"step": phase, "outcome": "succeeded"}) is None


# -- many processes -------------------------------------------------------------------------------


@pytest.fixture()
def multiprocess_dir(tmp_path, monkeypatch) -> Path:
    """This process and its subprocesses in prometheus_client's multiprocess mode."""
    path = tmp_path / "metrics"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    # A gunicorn worker started with the variable stores its values in files from the import of
    # prometheus_client on; this process imported it long before, so switch it the same way.
    monkeypatch.setattr(
        prometheus_client.values, "ValueClass", prometheus_client.values.MultiProcessValue()
    )
    # A metric without labels made its value at import: a new one, restored after the test.
    monkeypatch.setattr(metrics.ROWS_INGESTED, "_value", metrics.ROWS_INGESTED._value)
    metrics.ROWS_INGESTED._metric_init()
    return path


def test_files_of_every_container_are_added_up(tmp_path):
    """The API's processes write to the directory, a worker container to a subdirectory: the same
    PID in both (two PID namespaces) still counts twice."""
    key = mmap_key("importer_rows_ingested", "importer_rows_ingested_total", [], [], "help")
    for folder, count in ((tmp_path, 1.0), (tmp_path / "worker", 2.0)):
        folder.mkdir(exist_ok=True)
        files = MmapedDict(str(folder / "counter_7.db"))
        files.write_value(key, count, 0.0)
        files.close()
    collected = list(metrics.MultiProcessFilesCollector(str(tmp_path)).collect())
    samples = [s for family in collected for s in family.samples]
    assert [(s.name, s.labels, s.value) for s in samples] == [
        ("importer_rows_ingested_total", {}, 3.0)
    ]


def test_counters_from_a_prefork_worker_are_served_by_the_api(
    resources, make_account, multiprocess_dir
):
    settings = resources.settings.model_copy(
        update={
            "task_queue": resources.settings.task_queue + "-metrics",
            # The session's other tests made accounts with more imports: name every account.
            "metrics_top_accounts": 1_000_000,
        }
    )
    lab = Resources(settings)
    create_celery(settings, lab)
    client = create_app(settings, lab).test_client()
    # Two client accounts, so that the two imports run side by side without sharing any asset.
    (first_account, first_headers), (second_account, second_headers) = (
        make_account(),
        make_account(),
    )

    def complete(samples) -> bool:
        phases = labelled(
            samples, "importer_phase_duration_seconds_count", "phase", outcome="succeeded"
        )
        steps = labelled(
            samples, "importer_step_duration_seconds_count", "step", outcome="succeeded"
        )
        return (
            bool(phases)
            and all(count >= 2 for count in phases.values())
            and all(steps.get(step, 0) >= 2 for step in STEPS)
        )

    with celery_worker_process(settings, concurrency=2) as worker:
        first = upload(client, first_headers, rows=400, seed=1)
        second = upload(client, second_headers, rows=250, seed=2)
        for accepted, headers in ((first, first_headers), (second, second_headers)):
            final = wait_for_final(client, accepted["id"], headers)
            assert final["status"] == "completed", (final["error"], final.get("flow"))
        # An import is complete once its last phase committed; the worker times that phase a
        # moment later.
        wait_for(lambda: complete(scrape(client)), timeout=30)
        # The worker's pool children wrote their own files.
        pids = {int(p.stem.rsplit("_", 1)[1]) for p in multiprocess_dir.rglob("*.db")}
        assert pids - {os.getpid(), worker.pid}

    # Counters outlive the processes that counted: scraped after the worker stopped.
    samples = scrape(client)
    rows = first["records_stored"] + second["records_stored"]
    assert value(samples, "importer_rows_ingested_total") == rows
    for step in STEPS:
        count = "importer_step_duration_seconds_count"
        assert value(samples, count, step=step, outcome="succeeded") == 2, step
        buckets = labelled(
            samples, "importer_step_duration_seconds_bucket", "le", step=step, outcome="succeeded"
        )
        assert buckets["+Inf"] == 2
    phases = labelled(
        samples, "importer_phase_duration_seconds_count", "phase", outcome="succeeded"
    )
    assert phases and set(phases.values()) == {2}, phases
    # Per-task counts are Flower's (tests/test_flower.py), not kept a second time here.
    assert not {name for name, _ in samples if name.startswith("importer_task")}
    for account in (first_account, second_account):
        imports = labelled(samples, "importer_imports", "status", client_account=str(account))
        assert imports["completed"] == 1
        assert sum(imports.values()) == 1
    assert value(samples, "importer_queue_depth", queue=settings.task_queue) == 0
    lab.engine.dispose()
