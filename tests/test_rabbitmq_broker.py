"""The same pipeline with RabbitMQ as the broker instead of Redis."""

from __future__ import annotations

import io
import os

import pytest
from kombu import Connection

from importer.celery_app import create_celery
from importer.resources import Resources
from importer.sample_export import messy_csv_bytes
from tests.helpers import wait_for_final
from tests.worker_process import celery_worker_process
from web import create_app

AMQP_URL = os.environ.get("IMPORTER_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def rabbitmq_reachable() -> bool:
    try:
        with Connection(AMQP_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def amqp_resources(resources):
    if not rabbitmq_reachable():
        pytest.skip(f"RabbitMQ is not reachable at {AMQP_URL}")
    settings = resources.settings.model_copy(
        update={"broker_url": AMQP_URL, "task_queue": resources.settings.task_queue + "-amqp"}
    )
    amqp = Resources(settings)
    create_celery(settings, amqp)
    with celery_worker_process(settings):
        yield amqp
    with amqp.celery.connection_for_write() as conn:
        conn.default_channel.queue_delete(settings.task_queue)
    amqp.engine.dispose()


def test_pipeline_completes_over_rabbitmq(amqp_resources, make_account):
    _, headers = make_account()
    client = create_app(amqp_resources.settings, amqp_resources).test_client()
    content, stats = messy_csv_bytes(800, seed=5)
    response = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(content), "cmdb.csv")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    final = wait_for_final(client, response.get_json()["id"], headers)
    assert final["status"] == "completed"
    assert final["valid_records"] == stats.valid_rows
