"""Undo of a completed import: the inventory becomes what the account's other imports alone
build, checked against an inventory built from scratch; the API's and CLI's paths and codes."""

from __future__ import annotations

import difflib
import os
import threading
import time
import uuid

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from werkzeug.serving import make_server

from importer.cli import main
from importer.models import DataImport, Run, RunKind, RunStatus
from importer.pipeline import transitions
from tests.helpers import wait_for_final

pytestmark = pytest.mark.usefixtures("celery_worker")

ASSET_COLUMNS = (
    "hostname_key, serial_number, primary_ip, uuid, source_id, name, asset_type, os_family, "
    "os_name, os_version, environment, cpu_cores, memory_gb, is_virtual, attributes, "
    "eos_severity, end_of_support, eos_source"
)


def import_records(client, auth, records: list[dict], engagement: str = "e") -> str:
    body = {"records": records, "import_type": "servers", "engagement": engagement}
    response = client.post("/api/v1/imports", json=body, headers=auth)
    assert response.status_code == 202, response.get_json()
    final = wait_for_final(client, response.get_json()["id"], auth, timeout=120)
    assert final["status"] == "completed", final
    return final["id"]


def settled(client, auth, import_id: str, timeout: float = 120) -> dict:
    """The import once it is no longer at work (an undo that failed leaves it undoing, with its
    error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/imports/{import_id}", headers=auth).get_json()
        working = ("undoing", "discovering", "stored", "validating", "mapping")
        if body["status"] not in working or body["error"]:
            return body
        time.sleep(0.1)
    raise AssertionError(f"import {import_id} did not settle: {body}")


def undone(client, auth, import_id: str) -> dict:
    response = client.post(f"/api/v1/imports/{import_id}/undo", headers=auth)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "undoing"
    body = settled(client, auth, import_id)
    assert body["status"] == "undone", body
    return body


def committed(client, auth, import_id: str) -> dict:
    response = client.post(f"/api/v1/imports/{import_id}/commit", headers=auth)
    assert response.status_code == 202, response.get_json()
    body = settled(client, auth, import_id)
    assert body["status"] == "completed", body
    return body


def inventory(resources, account: uuid.UUID, imports: list[str]) -> dict:
    """The account's inventory by content: each asset's fields, the imports (by position in
    ``imports``) that first and last described it, its rows with the key each matched on, its
    declared edges; and the merges waiting for review."""
    position = {uuid.UUID(i): n for n, i in enumerate(imports)}
    with resources.engine.connect() as conn:
        assets = conn.execute(
            text(
                f"SELECT id, {ASSET_COLUMNS}, first_import_id, last_import_id FROM assets "
                "WHERE client_account_id = :a"
            ),
            {"a": account},
        ).all()
        sources = conn.execute(
            text(
                "SELECT asset_id, import_id, row_number, matched_on FROM asset_sources "
                "WHERE client_account_id = :a"
            ),
            {"a": account},
        ).all()
        edges = conn.execute(
            text(
                "SELECT d.source_asset_id, d.target_ref, t.name, d.import_id "
                "FROM asset_dependencies d LEFT JOIN assets t ON t.id = d.target_asset_id "
                "WHERE d.client_account_id = :a"
            ),
            {"a": account},
        ).all()
        merges = conn.execute(
            text(
                "SELECT a.name, p.name, m.import_id, m.row_number, m.matched_on, m.status "
                "FROM asset_merges m JOIN assets a ON a.id = m.asset_id "
                "LEFT JOIN assets p ON p.id = m.proposed_asset_id WHERE m.client_account_id = :a"
            ),
            {"a": account},
        ).all()
    rows_of: dict = {}
    for asset_id, import_id, row_number, matched_on in sources:
        rows_of.setdefault(asset_id, []).append((position[import_id], row_number, matched_on))
    edges_of: dict = {}
    for source, ref, target, import_id in edges:
        edges_of.setdefault(source, []).append((ref, target, position[import_id]))
    found = sorted(
        repr(
            (
                tuple(row[1:-2]),
                position.get(row[-2]),
                position.get(row[-1]),
                sorted(rows_of.get(row[0], [])),
                sorted(edges_of.get(row[0], []), key=repr),
            )
        )
        for row in assets
    )
    waiting = sorted(
        repr((found, proposed, position[i], n, on, status))
        for found, proposed, i, n, on, status in merges
    )
    return {"assets": found, "merges": waiting}


def new_account(resources):
    issued = resources.services.api_keys.create(f"undo-{uuid.uuid4().hex[:8]}")
    return issued.client_account_id, {"Authorization": f"Bearer {issued.key}"}


# -- the property ------------------------------------------------------------------------------

HOSTS = ["web-01", "web-02", "db-01", "web-01.corp.example"]
IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", ""]
SERIALS = ["SN-AAA111", "SN-BBB222", ""]
UUIDS = ["4c4c4544-0001-0000-0000-000000000001", "4c4c4544-0002-0000-0000-000000000002", ""]
OS_NAMES = ["Ubuntu 22.04", "Windows Server 2012 R2", "CentOS 6", ""]

record = st.fixed_dictionaries(
    {
        "hostname": st.sampled_from(HOSTS),
        "ip_address": st.sampled_from(IPS),
        "serial_number": st.sampled_from(SERIALS),
        "uuid": st.sampled_from(UUIDS),
        "os_name": st.sampled_from(OS_NAMES),
        "environment": st.sampled_from(["prod", "dev", ""]),
        "cpu_cores": st.sampled_from(["2", "8", ""]),
        "depends_on": st.sampled_from(["", "db-01", "web-02"]),
    }
)
# Modest, so that the file runs in about a minute; raise it to search longer.
EXAMPLES = int(os.environ.get("IMPORTER_UNDO_EXAMPLES", "12"))
# An import (its records), or the undo of the n-th import still committed (modulo their count).
step = st.one_of(
    st.lists(record, min_size=1, max_size=3).map(lambda records: ("import", records)),
    st.integers(min_value=0, max_value=5).map(lambda n: ("undo", n)),
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=3, max_size=6))
def test_after_each_undo_the_inventory_is_the_one_the_other_imports_build(client, resources, steps):
    account, auth = new_account(resources)
    live: list[tuple[str, list[dict]]] = []
    for kind, value in steps:
        if kind == "import":
            live.append((import_records(client, auth, value), value))
            continue
        if not live:
            continue
        import_id, _ = live.pop(value % len(live))
        undone(client, auth, import_id)
        fresh, fresh_auth = new_account(resources)
        rebuilt = [import_records(client, fresh_auth, records) for _, records in live]
        after_undo = inventory(resources, account, [i for i, _ in live])
        from_scratch = inventory(resources, fresh, rebuilt)
        assert after_undo == from_scratch, "\n".join(
            difflib.unified_diff(
                [*after_undo["assets"], *after_undo["merges"]],
                [*from_scratch["assets"], *from_scratch["merges"]],
                "after the undo",
                "from scratch",
                lineterm="",
            )
        )


# -- plain tests -------------------------------------------------------------------------------

WEB = {"hostname": "web-01", "ip_address": "10.1.0.1", "os_name": "Ubuntu 22.04"}
DB = {"hostname": "db-01", "ip_address": "10.1.0.2", "os_name": "CentOS 6"}
VM_UUID = "4c4c4544-0077-0000-0000-000000000077"
APP_VM = {"hostname": "app-vm", "uuid": VM_UUID, "cpu_cores": 4}


def assets_by_name(client, auth) -> dict[str, dict]:
    items = client.get("/api/v1/assets?limit=1000", headers=auth).get_json()["items"]
    return {asset["name"]: asset for asset in items}


def test_undo_of_an_older_import_restores_values_and_splits_the_merge_it_caused(client, resources):
    account, auth = new_account(resources)
    first = import_records(client, auth, [{**WEB, "serial_number": "SN-1"}, DB])
    # Tells web-01's serial number a UUID, and says another OS.
    second = import_records(
        client,
        auth,
        [{"hostname": "web-01", "serial_number": "SN-1", "uuid": VM_UUID, "os_name": "RHEL 9"}],
    )
    # Found by that UUID alone: merged into web-01 because of the second import.
    third = import_records(client, auth, [APP_VM])
    before = assets_by_name(client, auth)
    # The newer import's first row renames the asset it found.
    assert set(before) == {"app-vm", "db-01"}
    assert before["app-vm"]["os_name"] == "RHEL 9"

    undone(client, auth, second)
    after = assets_by_name(client, auth)
    assert set(after) == {"web-01", "db-01", "app-vm"}
    assert after["web-01"]["os_name"] == "Ubuntu 22.04"
    assert after["web-01"]["id"] == before["app-vm"]["id"]
    # Its end-of-support flag follows the OS it has again.
    assert after["web-01"]["end_of_support"]["source"] == "https://ubuntu.com/about/release-cycle"
    # Its raw records stay for audit.
    records = client.get(f"/api/v1/imports/{second}/records", headers=auth).get_json()
    assert len(records["items"]) == 1
    fresh, fresh_auth = new_account(resources)
    rebuilt = [
        import_records(client, fresh_auth, r)
        for r in (
            [{**WEB, "serial_number": "SN-1"}, DB],
            [{"hostname": "app-vm", "uuid": VM_UUID, "cpu_cores": 4}],
        )
    ]
    assert inventory(resources, account, [first, third]) == inventory(resources, fresh, rebuilt)


def test_undo_of_the_latest_import_then_commit_again_gives_the_same_inventory(client, resources):
    account, auth = new_account(resources)
    first = import_records(client, auth, [{**WEB, "depends_on": "db-01"}, DB])
    second = import_records(
        client,
        auth,
        [
            {"hostname": "web-01", "os_name": "Windows Server 2008", "depends_on": "cache-01"},
            {"hostname": "cache-01", "ip_address": "10.1.0.9"},
        ],
    )
    imports = [first, second]
    before = inventory(resources, account, imports)
    undone(client, auth, second)
    after = assets_by_name(client, auth)
    assert set(after) == {"web-01", "db-01"}
    assert after["web-01"]["os_name"] == "Ubuntu 22.04"
    web = client.get(f"/api/v1/assets/{after['web-01']['id']}", headers=auth).get_json()
    # The edge the second import had replaced is back; its own is gone.
    assert [(d["target"], d["resolved"]) for d in web["depends_on"]] == [("db-01", True)]
    committed(client, auth, second)
    assert inventory(resources, account, imports) == before


def test_undo_answers_404_and_409_with_stable_codes(client, resources):
    _, auth = new_account(resources)
    _, other_auth = new_account(resources)
    import_id = import_records(client, auth, [WEB])
    assert client.post(f"/api/v1/imports/{import_id}/undo", headers=other_auth).status_code == 404
    unknown = client.post(f"/api/v1/imports/{uuid.uuid4()}/undo", headers=auth)
    assert unknown.status_code == 404
    again = client.post(f"/api/v1/imports/{import_id}/commit", headers=auth)
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "not-undone")
    undone(client, auth, import_id)
    twice = client.post(f"/api/v1/imports/{import_id}/undo", headers=auth)
    assert (twice.status_code, twice.get_json()["error"]["code"]) == (409, "already-undone")
    committed(client, auth, import_id)
    # Undone again after the commit, and committed again.
    undone(client, auth, import_id)
    committed(client, auth, import_id)


def test_an_import_that_is_not_completed_cannot_be_undone(client, resources):
    _, auth = new_account(resources)
    body = {"records": [{"hostname": ""}], "import_type": "servers", "engagement": "e"}
    response = client.post("/api/v1/imports", json=body, headers=auth)
    import_id = response.get_json()["id"]
    final = wait_for_final(client, import_id, auth, timeout=120)
    assert final["status"] == "failed"
    refused = client.post(f"/api/v1/imports/{import_id}/undo", headers=auth)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (409, "not-completed")


def test_undo_is_refused_while_an_inventory_phase_of_the_account_runs(client, resources):
    account, auth = new_account(resources)
    import_id = import_records(client, auth, [WEB])
    busy = import_records(client, auth, [DB])
    # The other import's inventory phase, as it is while it runs.
    with resources.session_factory() as session, session.begin():
        data_import = session.get(DataImport, busy)
        (run,) = transitions.plan(
            session, data_import, RunKind.PHASE, ["asset_inventory"], again=True
        )
        transitions.move(run, RunStatus.RUNNING)
        run_id = run.id
    try:
        refused = client.post(f"/api/v1/imports/{import_id}/undo", headers=auth)
        assert (refused.status_code, refused.get_json()["error"]["code"]) == (
            409,
            "inventory-busy",
        )
    finally:
        with resources.session_factory() as session, session.begin():
            run = session.get(Run, run_id)
            transitions.move(run, RunStatus.SUCCEEDED)


@pytest.fixture(scope="module")
def live_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_cli_undoes_and_commits_again(client, resources, live_url):
    account, auth = new_account(resources)
    import_id = import_records(client, auth, [WEB, DB])
    env = {
        "IMPORTER_API_URL": live_url,
        "IMPORTER_API_KEY": auth["Authorization"].removeprefix("Bearer "),
    }
    result = CliRunner().invoke(main, ["undo", import_id, "--wait"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["undoing", "undone"]
    assert assets_by_name(client, auth) == {}
    result = CliRunner().invoke(main, ["commit", import_id, "--wait"], env=env)
    assert result.exit_code == 0, result.output
    assert set(assets_by_name(client, auth)) == {"web-01", "db-01"}
    refused = CliRunner().invoke(main, ["commit", import_id], env=env)
    assert refused.exit_code != 0
    assert "not-undone" in refused.output


def test_an_undo_of_many_assets_commits_them_in_batches_and_is_exact(client, resources, settings):
    """More assets than a chunk: written in several batches, the inventory is still the one the
    other import alone builds."""
    hosts = settings.chunk_size * 2 + 50
    rows = [
        {"hostname": f"h-{n}", "ip_address": f"10.2.{n // 250}.{n % 250}"} for n in range(hosts)
    ]
    account, auth = new_account(resources)
    first = import_records(client, auth, rows[: hosts // 2])
    # Describes every host again (another OS), and as many new ones.
    second = import_records(client, auth, [{**row, "os_name": "CentOS 6"} for row in rows])
    undone(client, auth, second)
    with resources.engine.connect() as conn:
        summary = conn.execute(
            text("SELECT summary FROM runs WHERE import_id = :i AND kind = 'undo'"), {"i": second}
        ).scalar_one()
    assert summary["batches"] > 1
    assert summary["assets"] == {"removed": hosts - hosts // 2, "rebuilt": hosts // 2, "created": 0}
    fresh, fresh_auth = new_account(resources)
    rebuilt = [import_records(client, fresh_auth, rows[: hosts // 2])]
    assert inventory(resources, account, [first]) == inventory(resources, fresh, rebuilt)


def test_a_failed_undo_stays_undoing_and_undoing_again_finishes_it(client, resources):
    account, auth = new_account(resources)
    first = import_records(client, auth, [WEB])
    second = import_records(client, auth, [{**WEB, "os_name": "RHEL 9"}, DB])
    # PostgreSQL refuses to delete the second import's db-01 once: the undo fails there.
    refuse = f"""
        CREATE FUNCTION refuse_{account.hex}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.client_account_id = '{account}' THEN RAISE EXCEPTION 'refused'; END IF;
            RETURN OLD;
        END $$;
        CREATE TRIGGER refuse_{account.hex} BEFORE DELETE ON assets
        FOR EACH ROW EXECUTE FUNCTION refuse_{account.hex}();
    """
    with resources.engine.begin() as conn:
        conn.exec_driver_sql(refuse)
    try:
        response = client.post(f"/api/v1/imports/{second}/undo", headers=auth)
        assert response.status_code == 202
        failed = settled(client, auth, second)
    finally:
        with resources.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TRIGGER refuse_{account.hex} ON assets")
            conn.exec_driver_sql(f"DROP FUNCTION refuse_{account.hex}()")
    assert failed["status"] == "undoing"
    assert "refused" in failed["error"]
    undone(client, auth, second)
    fresh, fresh_auth = new_account(resources)
    rebuilt = [import_records(client, fresh_auth, [WEB])]
    assert inventory(resources, account, [first]) == inventory(resources, fresh, rebuilt)
