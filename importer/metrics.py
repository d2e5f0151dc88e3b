"""Prometheus metrics: what the importer alone knows, served by the API at ``/metrics``.

Ours are the domain's: rows ingested (the API), step and discovery phase durations by outcome
(the workers), imports by status and client account and the broker's queue depth (read at
scrape time). Per-task metrics (tasks by state, failures, retries, runtimes, workers online) are
Flower's, at Flower's own ``/metrics``, computed from the Celery events the workers send (``-E``):
counting them again here would be a second, hand-kept copy of what the ecosystem already keeps.

Counters and histograms live in the process that observes them. Gunicorn workers and Celery's
prefork children are many processes, so with ``PROMETHEUS_MULTIPROC_DIR`` set (before the process
starts: prometheus_client picks its storage on import) each writes its values to files there and
``/metrics`` adds them up, reading the directory and its subdirectories. A worker in another
container (another PID namespace) therefore writes to a subdirectory of a shared volume, so that
two processes with the same PID never share a file.

Gauges that describe the system rather than a process are computed at scrape time by the API:
imports by status and client account (PostgreSQL) and the broker's queue depth (Redis ``LLEN``, or
a passive ``queue_declare`` on AMQP).

No series is labelled per tenant but the imports gauge, and that one names only the accounts with
the most imports (``IMPORTER_METRICS_TOP_ACCOUNTS``), the rest summed as ``other``: every label
value is a series Prometheus keeps, and a few thousand tenants would swamp it.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from importer.logging_setup import current_context

log = logging.getLogger(__name__)
steps_log = logging.getLogger("importer.steps")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


# prometheus_client writes into the directory from the first metric on: it must exist by then.
if multiprocess_dir():
    os.makedirs(multiprocess_dir(), exist_ok=True)

# Steps take from milliseconds (a skipped redelivery) to an hour (millions of rows).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

# Ours, apart from prometheus_client's default registry: Flower's process imports the importer too,
# and its /metrics (the default registry) would otherwise show our counters at zero beside its own.
REGISTRY = CollectorRegistry()

ROWS_INGESTED = Counter(
    "importer_rows_ingested",
    "Raw records stored by uploads (counted once their transaction committed).",
    registry=REGISTRY,
)
STEP_DURATION = Histogram(
    "importer_step_duration_seconds",
    "Wall time of a pipeline step (validate, mappings, discovery) in a worker, by outcome.",
    ["step", "outcome"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
PHASE_DURATION = Histogram(
    "importer_phase_duration_seconds",
    "Wall time of a discovery flow phase in a worker, by outcome.",
    ["phase", "outcome"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)

# -- observing ------------------------------------------------------------------------------------


def rows_ingested(rows: int) -> None:
    if rows > 0:
        ROWS_INGESTED.inc(rows)


# StepRunner.run's exceptions, by name (importing them here would be circular).
_RAISED_OUTCOMES = {"StepFailed": "failed", "TransientFailure": "retrying"}


def timed_step(run):
    """Decorates ``StepRunner.run``: its wall time by step (or flow phase) and outcome, and a
    log line."""

    @functools.wraps(run)
    def wrapper(self, import_id, client_account_id, unit, *args: Any, **kwargs: Any) -> str:
        started = time.perf_counter()
        outcome = "error"
        try:
            outcome = run(self, import_id, client_account_id, unit, *args, **kwargs)
            return outcome
        except Exception as exc:
            outcome = _RAISED_OUTCOMES.get(type(exc).__name__, "error")
            raise
        finally:
            elapsed = time.perf_counter() - started
            # A discovery flow phase (its task's third argument, in the log context) is timed as
            # a phase; the pipeline's steps as steps.
            phase = getattr(unit, "phase", None) or current_context().get("phase")
            if phase:
                PHASE_DURATION.labels(phase=str(phase), outcome=outcome).observe(elapsed)
            else:
                STEP_DURATION.labels(step=unit.name, outcome=outcome).observe(elapsed)
            steps_log.info(
                "%s %s in %.3fs",
                unit.name,
                outcome,
                elapsed,
                extra={"outcome": outcome, "duration_s": round(elapsed, 3)},
            )

    return wrapper


# -- scrape time ----------------------------------------------------------------------------------


class MultiProcessFilesCollector:
    """Every process's values from the directory and its subdirectories (one per container)."""

    def __init__(self, path: str) -> None:
        self._path = path

    def collect(self) -> Iterator[Metric]:
        files = glob.glob(os.path.join(self._path, "**", "*.db"), recursive=True)
        return iter(MultiProcessCollector.merge(files, accumulate=True))


class _ProcessRegistry:
    """This process's own metrics (single-process mode: the Flask development server, tests)."""

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


# Celery's Redis transport keeps a queue's priorities in separate lists: the queue's own name for
# priority 0, then name + "\x06\x16" + step for each further priority step.
_REDIS_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


# The label of the imports of the accounts the imports gauge does not name (ids are UUIDs).
OTHER_ACCOUNTS = "other"
# The accounts with the most imports (ties by id, so that the choice holds still between scrapes);
# the imports of the others come with no account.
_IMPORTS_BY_SHOWN_ACCOUNT = """
    WITH shown AS (
        SELECT client_account_id FROM data_imports GROUP BY client_account_id
        ORDER BY count(*) DESC, client_account_id LIMIT :top
    )
    SELECT s.client_account_id, a.name, i.status, count(*)
    FROM data_imports i
    LEFT JOIN shown s ON s.client_account_id = i.client_account_id
    LEFT JOIN client_accounts a ON a.id = s.client_account_id
    GROUP BY s.client_account_id, a.name, i.status
"""


class ScrapeTimeCollector:
    """Gauges read from PostgreSQL and the broker when Prometheus scrapes."""

    def __init__(self, resources, top_accounts: int | None = None) -> None:
        self._resources = resources
        self._top = (
            resources.settings.metrics_top_accounts if top_accounts is None else top_accounts
        )
        self._broker_redis = None

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "importer_scrape_source_up",
            "Whether a scrape-time source answered (1) or not (0).",
            labels=["source"],
        )
        for source, collect in (("postgresql", self._imports), ("broker", self._queue_depth)):
            try:
                metrics = list(collect())
            except Exception as exc:
                log.warning("metrics: %s did not answer: %s: %s", source, type(exc).__name__, exc)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from metrics
        yield up

    def _imports(self) -> Iterator[Metric]:
        from sqlalchemy import text

        from importer.models import ImportStatus

        with self._resources.engine.connect() as conn:
            conn.execute(text("SET LOCAL statement_timeout = '5s'"))
            counts = conn.execute(text(_IMPORTS_BY_SHOWN_ACCOUNT), {"top": self._top}).all()
        by_account: dict[str, dict[str, int]] = {}
        names: dict[str, str] = {}
        for account, name, status, count in counts:
            label = OTHER_ACCOUNTS if account is None else str(account)
            by_account.setdefault(label, {})[status] = count
            if account is not None:
                names[label] = name
        imports = GaugeMetricFamily(
            "importer_imports",
            f"Imports by status and client account (from PostgreSQL at scrape time): the "
            f"{self._top} accounts with the most imports, the others summed as "
            f'"{OTHER_ACCOUNTS}".',
            labels=["status", "client_account"],
        )
        # Every status of every account shown, and of "other" even when no account is left out:
        # zeros included, so that series do not vanish.
        for account in [*sorted(names), OTHER_ACCOUNTS]:
            statuses = by_account.get(account, {})
            for status in ImportStatus:
                imports.add_metric([str(status), account], statuses.get(str(status), 0))
        yield imports
        info = GaugeMetricFamily(
            "importer_client_account_info",
            "Client accounts: the id the imports gauge labels, with its name.",
            labels=["client_account", "name"],
        )
        for account, name in sorted(names.items()):
            info.add_metric([account, name], 1)
        yield info

    def _queue_depth(self) -> Iterator[Metric]:
        settings = self._resources.settings
        url = settings.broker_url
        queue = settings.task_queue
        scheme = url.split("://", 1)[0].lower()
        if scheme in ("redis", "rediss", "unix"):
            client = self._redis_for(url)
            pipe = client.pipeline(transaction=False)
            for suffix in _REDIS_PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
            depth = sum(pipe.execute())
        elif scheme.startswith("amqp") or scheme.startswith("pyamqp"):
            depth = self._amqp_depth(queue)
        else:
            return
        gauge = GaugeMetricFamily(
            "importer_queue_depth",
            "Messages waiting in the broker's task queue (not yet taken by a worker).",
            labels=["queue"],
        )
        gauge.add_metric([queue], depth)
        yield gauge

    def _redis_for(self, url: str):
        settings = self._resources.settings
        if url == settings.redis_url:
            return self._resources.redis
        if self._broker_redis is None:
            import redis

            self._broker_redis = redis.Redis.from_url(
                url, socket_timeout=5, socket_connect_timeout=5
            )
        return self._broker_redis

    def _amqp_depth(self, queue: str) -> int:
        celery = self._resources.celery
        with celery.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1)
            # Passive: asks about the queue without creating it.
            _, depth, _ = conn.default_channel.queue_declare(queue=queue, passive=True)
        return depth


def scrape(resources, collector: ScrapeTimeCollector | None = None) -> tuple[bytes, str]:
    """The exposition ``/metrics`` answers with, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path and os.path.isdir(path):
        registry.register(MultiProcessFilesCollector(path))
    else:
        registry.register(_ProcessRegistry())
    registry.register(collector or ScrapeTimeCollector(resources))
    return generate_latest(registry), CONTENT_TYPE_LATEST
