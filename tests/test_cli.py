"""The CLI against a live API server and a real worker."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from rich.console import Console
from werkzeug.serving import make_server

from importer.cli import main, status_table
from importer.client import ApiClient
from importer.sample_export import messy_csv_bytes
from tests.helpers import wait_for

pytestmark = pytest.mark.usefixtures("celery_worker")


@pytest.fixture(scope="module")
def live_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture()
def cli_env(live_url, resources, make_account, settings):
    _, headers = make_account()
    key = headers["Authorization"].removeprefix("Bearer ")
    return {
        "IMPORTER_API_URL": live_url,
        "IMPORTER_API_KEY": key,
        "IMPORTER_DATABASE_URL": settings.database_url,
    }


def test_upload_wait_follows_the_import_to_completed(tmp_path, cli_env):
    content, stats = messy_csv_bytes(1200, seed=3)
    path = tmp_path / "cmdb.csv"
    path.write_bytes(content)
    result = CliRunner().invoke(main, ["upload", str(path), "--wait"], env=cli_env)
    assert result.exit_code == 0, result.output
    import_id = result.stdout.strip().splitlines()[0]
    assert "completed" in result.stderr
    assert f"{stats.valid_rows}" in result.stderr

    status = CliRunner().invoke(main, ["status", import_id, "--json"], env=cli_env)
    assert status.exit_code == 0
    assert '"status": "completed"' in status.stdout

    status = CliRunner().invoke(main, ["status", import_id], env=cli_env)
    assert status.exit_code == 0, status.output
    assert flow_row(status.stdout) == "succeeded"


def flow_row(table: str) -> str:
    """The value of the ``flow`` row of a status table as rich draws it."""
    (row,) = [line for line in table.splitlines() if line.strip("│ ").startswith("flow ")]
    return row.strip("│ ").split("│")[1].strip()


def test_status_names_the_phase_a_running_flow_is_in():
    body = {"id": "x", "status": "discovering", "steps": []}
    body["flow"] = {"status": "running", "current_phase": "data_cleansing"}
    console = Console(width=100, record=True)
    console.print(status_table(body))
    assert flow_row(console.export_text()) == "running (data_cleansing)"


def test_upload_wait_exits_non_zero_when_the_import_fails(tmp_path, cli_env):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"Host Name,IP\n,10.0.0.1\n")
    result = CliRunner().invoke(
        main, ["upload", str(path), "--wait", "--engagement", "cli-bad"], env=cli_env
    )
    assert result.exit_code == 1
    assert "failed" in result.stderr


def test_api_errors_are_reported_with_their_code(tmp_path, cli_env):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    result = CliRunner().invoke(main, ["upload", str(path)], env=cli_env)
    assert result.exit_code == 2
    assert "422 empty-file" in result.stderr


def test_create_api_key_prints_only_the_key(cli_env):
    result = CliRunner().invoke(main, ["create-api-key", "cli-account"], env=cli_env)
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("imp_") and "\n" not in key


def test_revoked_and_expired_keys_are_refused(cli_env, client, monkeypatch):
    # The API believes a valid key for a few seconds (tests/test_upload_auth_cache.py checks
    # that bound); here the lookup itself is checked.
    monkeypatch.setitem(client.application.config, "API_KEY_CACHE_SECONDS", 0)
    key = CliRunner().invoke(main, ["create-api-key", "revocable"], env=cli_env).stdout.strip()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/v1/imports", headers=headers).status_code == 200
    revoked = CliRunner().invoke(main, ["revoke-api-key", key], env=cli_env)
    assert revoked.exit_code == 0
    assert client.get("/api/v1/imports", headers=headers).status_code == 401
    assert CliRunner().invoke(main, ["revoke-api-key", key], env=cli_env).exit_code == 1


def test_keys_can_expire(resources, client):
    expired = resources.services.api_keys.create(
        "expiring", expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    response = client.get("/api/v1/imports", headers={"Authorization": f"Bearer {expired.key}"})
    assert response.status_code == 401


def test_mappings_approval_and_errors_from_the_cli(tmp_path, cli_env, live_url):
    path = tmp_path / "nodes.csv"
    path.write_bytes(b"Srvr,IP\n" + b"".join(f"n-{i},10.9.0.{i}\n".encode() for i in range(9)))
    path.write_bytes(path.read_bytes() + b"n-9,not-an-ip\n")
    waited = CliRunner().invoke(
        main, ["upload", str(path), "--wait", "--engagement", "cli-approve"], env=cli_env
    )
    assert waited.exit_code == 1
    assert "mappings need approval" in waited.stderr
    import_id = waited.stdout.strip()

    shown = CliRunner().invoke(main, ["mappings", import_id, "--json"], env=cli_env)
    srvr = next(m for m in json.loads(shown.stdout)["items"] if m["source_column"] == "Srvr")
    assert srvr["target_field"] is None

    approved = CliRunner().invoke(
        main,
        ["mappings", import_id, "--approve", "Srvr=hostname", "--resume", "--json"],
        env=cli_env,
    )
    assert approved.exit_code == 0, approved.output
    client = ApiClient(live_url, cli_env["IMPORTER_API_KEY"])
    wait_for(lambda: client.get(import_id)["status"] == "completed", timeout=60)

    errors = CliRunner().invoke(main, ["errors", import_id, "--json"], env=cli_env)
    body = json.loads(errors.stdout)
    assert [(i["row_number"], i["code"]) for i in body["items"]] == [(10, "type-error")]


def test_profiles_lists_each_known_layout_with_its_documentation():
    result = CliRunner().invoke(main, ["profiles", "--json"])
    assert result.exit_code == 0, result.output
    listed = {row["id"]: row for row in json.loads(result.output)}
    assert listed["rvtools-vinfo"]["sheet"] == "vInfo"
    assert listed["azure-migrate-dependencies"]["import_type"] == "dependencies"
    assert all(row["sources"] and row["columns"] > 0 for row in listed.values())
