"""Flower beside a real worker: an import's tasks are there, by the task ids the API reports, and
only for those who hold the credentials; their metrics are at Flower's /metrics."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from importer.celery_app import create_celery
from importer.resources import Resources
from importer.sample_export import messy_csv_bytes
from tests.helpers import wait_for, wait_for_final
from tests.processes import answering, celery_command, free_port, running
from tests.worker_process import celery_worker_process, settings_env
from web import create_app

USER, PASSWORD = "flower-user", "s3cret-pw"


@contextmanager
def flower_process(settings) -> Iterator[str]:
    """``celery -A worker flower`` with basic auth, on the test broker; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = celery_command("flower", "--address=127.0.0.1", f"--port={port}")
    command.append(f"--basic-auth={USER}:{PASSWORD}")
    env = {**os.environ, **settings_env(settings)}
    with running(command, env, "flower", answering(f"{url}/healthcheck")):
        yield url


@pytest.fixture(scope="module")
def flower_settings(resources):
    return resources.settings.model_copy(
        update={"task_queue": resources.settings.task_queue + "-flower"}
    )


@pytest.fixture(scope="module")
def flower_resources(flower_settings):
    lab = Resources(flower_settings)
    create_celery(flower_settings, lab)
    yield lab
    lab.engine.dispose()


def test_flower_lists_the_import_tasks_by_the_ids_the_api_reports(
    flower_settings, flower_resources, make_account
):
    _, headers = make_account()
    client = create_app(flower_settings, flower_resources).test_client()
    auth = httpx.BasicAuth(USER, PASSWORD)
    # Flower first: it sees the tasks from the moment they are sent.
    with flower_process(flower_settings) as flower, celery_worker_process(flower_settings):
        content, _ = messy_csv_bytes(300, seed=6)
        response = client.post(
            "/api/v1/imports",
            data={"file": (io.BytesIO(content), "cmdb.csv"), "engagement": uuid.uuid4().hex},
            headers=headers,
            content_type="multipart/form-data",
        )
        assert response.status_code == 202
        import_id = response.get_json()["id"]
        final = wait_for_final(client, import_id, headers)
        assert final["status"] == "completed"
        step_tasks = {step["task_id"]: step["name"] for step in final["steps"]}
        assert len(step_tasks) == 3

        def import_tasks() -> dict[str, dict]:
            listed = httpx.get(f"{flower}/api/tasks", params={"limit": 1000}, auth=auth)
            assert listed.status_code == 200, listed.text
            return {
                task_id: task
                for task_id, task in listed.json().items()
                if import_id in (task.get("args") or "")
            }

        # Events reach Flower asynchronously: wait until every step's task has succeeded there.
        tasks = wait_for(
            lambda: (
                (found := import_tasks())
                and all(found.get(t, {}).get("state") == "SUCCESS" for t in step_tasks)
                and found
            ),
            timeout=30,
        )
        assert all(task["name"].startswith("importer.") for task in tasks.values())
        assert {tasks[t]["name"] for t in step_tasks} == {
            "importer.validate_import",
            "importer.persist_field_mappings",
            "importer.trigger_discovery_flow",
        }
        # The discovery flow's own tasks are the import's too.
        assert len(tasks) > len(step_tasks)

        for task_id, step in step_tasks.items():
            info = httpx.get(f"{flower}/api/task/info/{task_id}", auth=auth)
            assert info.status_code == 200, (step, info.text)
            body = info.json()
            assert body["uuid"] == task_id
            assert body["name"] == tasks[task_id]["name"]
            assert import_id in body["args"]
            assert body["state"] == "SUCCESS"

        # Per-task metrics are Flower's, from the same events: Prometheus scrapes its /metrics
        # (served without the basic auth the UI and API need, as /healthcheck is).
        metrics = httpx.get(f"{flower}/metrics")
        assert metrics.status_code == 200, metrics.text
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(metrics.text)
            for sample in family.samples
        }

        def counted(name: str, **labels) -> float:
            return sum(
                value
                for (sample, found), value in samples.items()
                if sample == name and labels.items() <= dict(found).items()
            )

        for name in {tasks[t]["name"] for t in step_tasks} | {"importer.run_discovery_phase"}:
            succeeded = counted("flower_events_total", task=name, type="task-succeeded")
            assert succeeded >= 1, name
            assert counted("flower_task_runtime_seconds_count", task=name) >= succeeded, name
        assert counted("flower_worker_online") >= 1
        # And only Flower's: ours are the API's /metrics (tests/test_metrics.py).
        assert not {name for name, _ in samples if name.startswith("importer_")}

        # No credentials, or wrong ones: refused.
        assert httpx.get(f"{flower}/api/tasks").status_code == 401
        assert httpx.get(f"{flower}/api/task/info/{task_id}").status_code == 401
        wrong = httpx.BasicAuth(USER, "wrong")
        assert httpx.get(f"{flower}/api/tasks", auth=wrong).status_code == 401
        assert httpx.get(f"{flower}/", follow_redirects=False).status_code == 401
