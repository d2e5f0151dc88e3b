"""A fresh, Alembic-migrated database per test session, the real Redis, and a real Celery worker."""

from __future__ import annotations

import os
import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from importer import migrate
from importer.celery_app import create_celery
from importer.config import Settings
from importer.resources import Resources
from tests.fault_lab import STALE_AFTER
from web import create_app


@pytest.fixture(scope="session")
def settings() -> Settings:
    run = uuid.uuid4().hex[:10]
    base = os.environ.get(
        "IMPORTER_TEST_DATABASE_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("IMPORTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    return Settings(
        _env_file=None,
        database_url=base.rsplit("/", 1)[0] + f"/importer_test_{run}",
        redis_url=redis_url,
        broker_url=os.environ.get("IMPORTER_TEST_BROKER_URL", redis_url),
        # Namespaced so that the tests never see (or clear) a developer's keys and queues.
        redis_prefix=f"importer-test-{run}",
        task_queue=f"importer-test-{run}",
        chunk_size=500,
    )


@pytest.fixture(scope="session")
def database(settings: Settings):
    migrate.create_database_if_missing(settings.database_url)
    migrate.upgrade(settings.database_url)
    yield settings.database_url
    migrate.drop_database(settings.database_url)


@pytest.fixture(scope="session")
def resources(settings: Settings, database) -> Resources:
    resources = Resources(settings)
    create_celery(settings, resources)
    yield resources
    # The run's flags, progress and queues: every key names the run, none is a developer's.
    stale = list(resources.redis.scan_iter(match=f"*{settings.task_queue}*", count=1000))
    if stale:
        resources.redis.delete(*stale)
    resources.engine.dispose()


@pytest.fixture(scope="session")
def celery_worker(resources: Resources):
    with start_worker(
        resources.celery,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as worker:
        yield worker


@pytest.fixture(scope="module")
def fault_resources(resources):
    """Its own queue and Redis database: the fault tests flush Redis and kill workers."""
    redis_url = os.environ.get("IMPORTER_TEST_FLUSH_REDIS_URL", "redis://127.0.0.1:6379/15")
    settings = resources.settings.model_copy(
        update={
            "redis_url": redis_url,
            "broker_url": redis_url,
            "task_queue": resources.settings.task_queue + "-faults",
            "chunk_size": 100,
            "broker_visibility_timeout": 3,
            "stale_after_seconds": STALE_AFTER,
            "resend_pending_after_seconds": 2,
            "db_retries": 8,
        }
    )
    lab_resources = Resources(settings)
    create_celery(settings, lab_resources)
    if lab_resources.redis.dbsize():
        pytest.skip(
            f"{redis_url} holds data, and these tests flush it; set IMPORTER_TEST_FLUSH_REDIS_URL"
        )
    yield lab_resources
    lab_resources.redis.flushdb()
    lab_resources.engine.dispose()


@pytest.fixture(scope="session")
def app(resources: Resources):
    app = create_app(resources.settings, resources)
    app.testing = True
    return app


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def make_account(resources: Resources):
    def make() -> tuple[uuid.UUID, dict[str, str]]:
        issued = resources.services.api_keys.create(f"account-{uuid.uuid4().hex[:8]}")
        return issued.client_account_id, {"Authorization": f"Bearer {issued.key}"}

    return make


@pytest.fixture()
def account(make_account):
    return make_account()


@pytest.fixture()
def auth(account) -> dict[str, str]:
    return account[1]
