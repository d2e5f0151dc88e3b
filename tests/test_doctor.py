"""``importer doctor``: green with everything up, and a red line saying what to do otherwise."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import make_url

from importer import migrate
from importer.cli import main
from importer.doctor import run_checks
from tests.processes import free_port
from tests.worker_process import celery_worker_process, settings_env


def by_name(checks) -> dict:
    return {check.name: check for check in checks}


def doctor_cli(settings, *args: str):
    return CliRunner().invoke(main, ["doctor", *args], env=settings_env(settings))


@pytest.fixture(scope="module")
def doctor_settings(resources):
    """The test database and Redis, on a queue of the module's own."""
    return resources.settings.model_copy(
        update={"task_queue": resources.settings.task_queue + "-doctor"}
    )


@pytest.fixture()
def scratch_database(doctor_settings):
    """An empty database next to the test database: reachable, never migrated."""
    url = make_url(doctor_settings.database_url).set(
        database=f"importer_doctor_{uuid.uuid4().hex[:8]}"
    )
    rendered = url.render_as_string(hide_password=False)
    migrate.create_database_if_missing(rendered)
    yield rendered
    migrate.drop_database(rendered)


def test_all_green_with_a_live_worker(doctor_settings):
    with celery_worker_process(doctor_settings):
        checks = run_checks(doctor_settings)
        result = doctor_cli(doctor_settings, "--json")
    assert all(check.ok for check in checks), checks
    assert by_name(checks)["migrations"].detail == (
        f"at head {migrate.head_revision(doctor_settings.database_url)}"
    )
    assert doctor_settings.task_queue in by_name(checks)["workers"].detail
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["ok"] is True
    assert [c["name"] for c in body["checks"]] == [
        "database",
        "migrations",
        "redis",
        "broker",
        "workers",
    ]


def test_no_worker_on_the_queue_is_a_red_line(doctor_settings):
    # Other workers may share this Redis (the suite's own, a developer's): none serves this queue.
    settings = doctor_settings.model_copy(update={"task_queue": f"nobody-{uuid.uuid4().hex[:8]}"})
    checks = by_name(run_checks(settings, worker_timeout=1))
    assert checks["database"].ok and checks["redis"].ok and checks["broker"].ok
    workers = checks["workers"]
    assert not workers.ok
    assert settings.task_queue in workers.detail
    assert "celery -A worker worker" in workers.fix
    result = doctor_cli(settings, "--worker-timeout", "1")
    assert result.exit_code == 1
    assert "FAIL" in result.stdout and "workers" in result.stdout


def test_a_wrong_redis_port_is_named_with_its_fix(doctor_settings):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    settings = doctor_settings.model_copy(update={"redis_url": url, "broker_url": url})
    checks = by_name(run_checks(settings))
    assert checks["database"].ok and checks["migrations"].ok
    redis_check = checks["redis"]
    assert not redis_check.ok
    assert f"127.0.0.1:{port}" in redis_check.detail
    assert "IMPORTER_REDIS_URL" in redis_check.fix
    assert not checks["broker"].ok
    assert "IMPORTER_BROKER_URL" in checks["broker"].fix
    assert not checks["workers"].ok
    assert "broker does not answer" in checks["workers"].detail
    result = doctor_cli(settings, "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["ok"] is False
    assert [c["name"] for c in body["checks"] if not c["ok"]] == ["redis", "broker", "workers"]


def test_a_database_behind_head_says_to_upgrade(doctor_settings, scratch_database):
    settings = doctor_settings.model_copy(update={"database_url": scratch_database})
    checks = by_name(run_checks(settings, worker_timeout=0.5))
    assert checks["database"].ok
    migrations = checks["migrations"]
    assert not migrations.ok
    assert "not migrated" in migrations.detail
    assert migrations.fix == "Run: importer db upgrade"


def test_a_database_at_an_unknown_revision_says_the_code_is_older(
    doctor_settings, scratch_database
):
    with psycopg.connect(
        make_url(scratch_database)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    ) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('f00dfeed')")
    settings = doctor_settings.model_copy(update={"database_url": scratch_database})
    migrations = by_name(run_checks(settings, worker_timeout=0.5))["migrations"]
    assert not migrations.ok
    assert "f00dfeed" in migrations.detail and "does not know" in migrations.detail


def test_a_missing_database_says_how_to_create_it(doctor_settings):
    url = make_url(doctor_settings.database_url).set(database=f"missing_{uuid.uuid4().hex[:8]}")
    settings = doctor_settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False)}
    )
    checks = by_name(run_checks(settings, worker_timeout=0.5))
    assert not checks["database"].ok
    assert "does not exist" in checks["database"].detail
    assert checks["database"].fix == "Create and migrate it: importer db upgrade"
    assert not checks["migrations"].ok
    assert "not checked" in checks["migrations"].detail
