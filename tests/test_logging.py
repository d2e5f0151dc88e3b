"""Structured logs: one JSON line per event carrying the import's context, in the API and the
worker alike, and never an API key."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from importer import logging_setup, task_log
from importer.celery_app import create_celery
from importer.logging_setup import (
    JsonLineFormatter,
    TextFormatter,
    configure_logging,
    log_context,
    redact,
)
from importer.resources import Resources
from importer.sample_export import messy_csv_bytes
from tests.helpers import uploaded, wait_for, wait_for_final
from tests.processes import (
    answering,
    free_port,
    gunicorn_command,
    running,
    worker_command,
    worker_ready,
)
from tests.worker_process import settings_env
from web import create_app


@contextmanager
def captured_logs(level: int = logging.DEBUG):
    """Every record that reaches the root logger, formatted as the importer's JSON handler does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def upload(client, headers, rows: int = 300, seed: int = 1) -> str:
    content, _ = messy_csv_bytes(rows, seed=seed)
    return uploaded(client, headers, content, "cmdb.csv")


# -- format ---------------------------------------------------------------------------------------


def make_record(message: str, **extra) -> logging.LogRecord:
    record = logging.getLogger("importer.test").makeRecord(
        "importer.test", logging.INFO, __file__, 1, message, (), None, extra=extra
    )
    return record


def test_json_line_carries_the_bound_context_and_extras():
    import_id = str(uuid.uuid4())
    with log_context(import_id=import_id, step="validate", task_id="t-1"):
        line = JsonLineFormatter().format(make_record("chunk done", rows=500))
    assert "\n" not in line
    body = json.loads(line)
    assert list(body)[:4] == ["time", "level", "logger", "message"]
    assert body["time"].endswith("Z")
    assert body["level"] == "INFO"
    assert body["logger"] == "importer.test"
    assert body["message"] == "chunk done"
    assert body["import_id"] == import_id
    assert body["step"] == "validate"
    assert body["task_id"] == "t-1"
    assert body["rows"] == 500


def test_context_is_restored_when_the_block_ends():
    with log_context(import_id="a"):
        with log_context(step="validate"):
            assert logging_setup.current_context() == {"import_id": "a", "step": "validate"}
        assert logging_setup.current_context() == {"import_id": "a"}
    assert logging_setup.current_context() == {}


def test_text_format_is_readable_key_value():
    with log_context(import_id="abc", step="mappings"):
        line = TextFormatter().format(make_record("hello world", note="two words"))
    assert re.fullmatch(
        r"\S+Z INFO +importer\.test hello world import_id=abc step=mappings note=\"two words\"",
        line,
    ), line


def test_exception_stays_on_one_json_line():
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    body = json.loads(JsonLineFormatter().format(record))
    assert "ValueError: bad" in body["exc_info"]


@pytest.mark.parametrize(
    ("env", "tty", "expected"),
    [
        ("", False, JsonLineFormatter),
        ("", True, TextFormatter),
        ("json", True, JsonLineFormatter),
        ("text", False, TextFormatter),
    ],
)
def test_format_follows_the_terminal_unless_overridden(monkeypatch, env, tty, expected):
    class Stream(io.StringIO):
        def isatty(self):
            return tty

    configure_logging()
    monkeypatch.setenv("IMPORTER_LOG_FORMAT", env)
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "importer")
    stream, formatter = handler.stream, handler.formatter
    handler.stream = Stream()
    try:
        configure_logging()
        assert type(handler.formatter) is expected
    finally:
        handler.stream = stream
        handler.setFormatter(formatter)


def test_secrets_are_masked_in_any_message():
    key = "imp_" + "A1b2" * 10
    masked = redact(f"Authorization: Bearer {key} api_key={key} {{'api_key': '{key}'}}")
    assert key not in masked
    assert "imp_[REDACTED]" in masked or "[REDACTED]" in masked
    body = json.loads(JsonLineFormatter().format(make_record(f"got {key}", header=f"Bearer {key}")))
    assert key not in json.dumps(body)


def test_task_fields_name_the_step_and_the_import():
    import_id, account = str(uuid.uuid4()), str(uuid.uuid4())
    fields = task_log.task_fields("importer.validate_import", [import_id, account], {})
    assert fields == {
        "task": "importer.validate_import",
        "step": "validate",
        "import_id": import_id,
        "client_account_id": account,
    }
    phase = task_log.task_fields(
        "importer.run_discovery_phase", [import_id, account, "data_cleansing"], {}
    )
    assert phase["phase"] == "data_cleansing"
    assert phase["step"] == "discovery_flow"
    # Arguments that are not ids are not taken for one.
    assert "import_id" not in task_log.task_fields("importer.other", ["x", "y"], {})


# -- the API --------------------------------------------------------------------------------------


def test_api_lines_carry_request_import_and_account_but_never_the_key(client, account):
    account_id, headers = account
    key = headers["Authorization"].removeprefix("Bearer ")
    with captured_logs() as stream:
        import_id = upload(client, headers)
        response = client.get(
            f"/api/v1/imports/{import_id}", headers={**headers, "X-Request-ID": "req-123"}
        )
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] == "req-123"
        # A rejected key is not logged either.
        client.get("/api/v1/imports", headers={"Authorization": f"Bearer {key}x"})
        # Nor one that something logs by mistake.
        logging.getLogger("web.test").warning("oops %s", headers["Authorization"])
    output = stream.getvalue()
    assert key not in output
    lines = json_lines(output)
    access = [line for line in lines if line["logger"] == "importer.request"]
    created = next(line for line in access if line["method"] == "POST")
    assert created["import_id"] == import_id
    assert created["client_account_id"] == str(account_id)
    assert created["status"] == 202
    assert created["request_id"]
    got = next(line for line in access if line.get("request_id") == "req-123")
    assert got["import_id"] == import_id
    assert got["client_account_id"] == str(account_id)
    assert got["path"] == f"/api/v1/imports/{import_id}"
    assert got["duration_ms"] >= 0
    refused = next(line for line in access if line["status"] == 401)
    assert "client_account_id" not in refused
    # Each request has its own context: nothing leaks into the next one.
    assert len({line["request_id"] for line in access}) == len(access)


def test_the_context_does_not_outlive_the_request(client, auth):
    client.get("/api/v1/imports", headers=auth)
    assert logging_setup.current_context() == {}


# -- the worker -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("celery_worker")
def test_task_lines_carry_the_import_step_and_task_id(client, account):
    account_id, headers = account
    with captured_logs(logging.INFO) as stream:
        import_id = upload(client, headers)
        final = wait_for_final(client, import_id, headers)
        assert final["status"] == "completed"
    lines = json_lines(stream.getvalue())
    step_lines = {
        line["step"]: line
        for line in lines
        if line["logger"] == "importer.steps" and line.get("import_id") == import_id
    }
    for step in final["steps"]:
        line = step_lines[step["name"]]
        assert line["task_id"] == step["task_id"]
        assert line["client_account_id"] == str(account_id)
        assert line["outcome"] == "succeeded"
        assert line["task"].startswith("importer.")


@pytest.fixture(scope="module")
def subprocess_settings(resources):
    return resources.settings.model_copy(
        update={"task_queue": resources.settings.task_queue + "-logging"}
    )


@contextmanager
def worker_with_output(settings, tmp_path: Path):
    """A real prefork worker whose stderr (its log) and stdout (its banner) the test can read."""
    err_path, out_path = tmp_path / "worker.err", tmp_path / "worker.out"
    env = {**os.environ, **settings_env(settings)}
    env.pop("IMPORTER_LOG_FORMAT", None)
    with running(worker_command(1), env, "worker", worker_ready, err_path, out_path):
        yield err_path


def test_a_worker_process_logs_json_lines_that_follow_the_import(
    subprocess_settings, make_account, tmp_path
):
    account_id, headers = make_account()
    resources = Resources(subprocess_settings)
    create_celery(subprocess_settings, resources)
    client = create_app(subprocess_settings, resources).test_client()
    with worker_with_output(subprocess_settings, tmp_path) as log_path:
        import_id = upload(client, headers)
        final = wait_for_final(client, import_id, headers)
        assert final["status"] == "completed"
        # Wait for the flow's own task to end (it completes the import before its last line).
        wait_for(lambda: log_path.read_text().count('"logger": "celery.app.trace"') >= 4)
    resources.engine.dispose()
    text = log_path.read_text()
    # Every line on stderr is one JSON object: Celery's own loggers and warnings included.
    lines = json_lines(text)
    assert any(line["logger"] == "celery.apps.worker" for line in lines)
    about_import = [line for line in text.splitlines() if import_id in line]
    assert about_import
    for raw in about_import:
        line = json.loads(raw)
        assert line.get("import_id") == import_id, line
        assert line["client_account_id"] == str(account_id), line
        assert line["task_id"] and line["step"], line
    # Celery's line for each finished step task names the import too.
    traced = {
        line["task_id"]
        for line in lines
        if line["logger"] == "celery.app.trace" and line.get("import_id") == import_id
    }
    assert {step["task_id"] for step in final["steps"]} <= traced


def test_gunicorn_says_the_address_it_listens_on(subprocess_settings):
    port = free_port()
    env = {**os.environ, **settings_env(subprocess_settings), "IMPORTER_LOG_FORMAT": "json"}
    env.update(IMPORTER_BIND=f"127.0.0.1:{port}", IMPORTER_WEB_WORKERS="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    health = answering(f"http://127.0.0.1:{port}/healthz")
    with running(gunicorn_command(), env, "gunicorn", health) as gunicorn:
        messages = [line["message"] for line in json_lines(gunicorn.text())]
    assert f"Listening at: http://127.0.0.1:{port} ({gunicorn.pid})" in messages
