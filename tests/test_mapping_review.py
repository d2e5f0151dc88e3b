"""A wrong guess is caught by review, and what a person fixes is what the rows are checked with."""

from __future__ import annotations

import pytest

from tests.helpers import csv_bytes, uploaded, wait_for_final

pytestmark = pytest.mark.usefixtures("celery_worker")

# The headers that make a file RVTools' vInfo, and the columns these tests use of it.
VINFO = ["VM", "Powerstate", "Template", "CPUs", "Memory", "NICs", "Disks", "VI SDK Server"]


def mappings(client, auth, import_id: str) -> dict[str, dict]:
    body = client.get(f"/api/v1/imports/{import_id}/mappings", headers=auth).get_json()
    return {m["source_column"]: m for m in body["items"]}


def put_mappings(client, auth, import_id: str, changes: list[dict]):
    return client.put(
        f"/api/v1/imports/{import_id}/mappings", json={"mappings": changes}, headers=auth
    )


def vinfo_rows(count: int, address) -> list[list]:
    return [
        [f"vm-{n:02}", "poweredOn", "False", 2, 4096, 1, 1, "vc01.corp", address(n)]
        for n in range(1, count + 1)
    ]


def test_a_validation_refusing_every_row_can_be_fixed_then_retried(client, auth):
    # A profile's mapping the values do not bear out: every row fails on it.
    header = [*VINFO, "Primary IP Address"]
    import_id = uploaded(client, auth, csv_bytes(header, vinfo_rows(6, lambda n: f"n/a-{n}")))
    failed = wait_for_final(client, import_id, auth)
    assert failed["status"] == "failed", failed
    assert failed["profile"] == "rvtools-vinfo"

    stored = mappings(client, auth, import_id)
    assert stored["Primary IP Address"]["target_field"] == "ip_address"
    assert stored["Memory"]["unit"] == "MiB"
    response = put_mappings(
        client, auth, import_id, [{"source_column": "Primary IP Address", "status": "ignored"}]
    )
    assert response.status_code == 200, response.get_json()
    assert client.post(f"/api/v1/imports/{import_id}/retry", headers=auth).status_code == 202

    final = wait_for_final(client, import_id, auth)
    assert final["status"] == "completed", final
    assert (final["valid_records"], final["invalid_records"]) == (6, 0)
    assets = client.get("/api/v1/assets?limit=100", headers=auth).get_json()["items"]
    assert sorted((a["name"], a["memory_gb"]) for a in assets) == [
        (f"vm-{n:02}", 4) for n in range(1, 7)
    ]


def test_rows_refused_under_a_guess_come_back_once_a_person_fixes_it(client, auth):
    header = ["Srvr", "Memory"]
    rows = [[f"node-{n}", "unknown" if n <= 3 else 8] for n in range(1, 11)]
    import_id = uploaded(client, auth, csv_bytes(header, rows))
    paused = wait_for_final(client, import_id, auth, statuses={"waiting_for_approval"})
    assert (paused["valid_records"], paused["invalid_records"]) == (7, 3)

    changes = [
        {"source_column": "Srvr", "target_field": "hostname"},
        {"source_column": "Memory", "status": "ignored"},
    ]
    assert put_mappings(client, auth, import_id, changes).status_code == 200
    flow_id = paused["flow"]["id"]
    assert client.post(f"/api/v1/flows/{flow_id}/resume", headers=auth).status_code == 202

    final = wait_for_final(client, import_id, auth)
    assert final["status"] == "completed", final
    assert (final["valid_records"], final["invalid_records"]) == (10, 0)
    errors = client.get(f"/api/v1/imports/{import_id}/errors", headers=auth).get_json()
    assert errors["items"] == []
    assets = client.get("/api/v1/assets?limit=100", headers=auth).get_json()["items"]
    assert len(assets) == 10


def test_two_columns_naming_a_host_wait_for_a_person(client, auth):
    header = ["Server Name", "Host", "RAM (MB)"]
    rows = [[f"vm-{n}", f"esx-{n % 2}.corp.example", 16384] for n in range(1, 8)]
    import_id = uploaded(client, auth, csv_bytes(header, rows))
    paused = wait_for_final(client, import_id, auth, statuses={"waiting_for_approval"})
    flow = client.get(f"/api/v1/flows/{paused['flow']['id']}", headers=auth).get_json()
    assert flow["summary"]["mapping"]["contested"] == [
        {"target_field": "hostname", "source_columns": ["Server Name", "Host"]}
    ]
    stored = mappings(client, auth, import_id)
    assert (stored["RAM (MB)"]["target_field"], stored["RAM (MB)"]["unit"]) == ("memory_gb", "MB")

    changes = [
        {"source_column": "Server Name", "target_field": "hostname"},
        {"source_column": "Host", "target_field": "virtual_host"},
    ]
    assert put_mappings(client, auth, import_id, changes).status_code == 200
    assert (
        client.post(f"/api/v1/flows/{paused['flow']['id']}/resume", headers=auth).status_code == 202
    )
    assert wait_for_final(client, import_id, auth)["status"] == "completed"
    assets = client.get("/api/v1/assets?limit=100", headers=auth).get_json()["items"]
    assert sorted((a["name"], a["memory_gb"]) for a in assets) == [
        (f"vm-{n}", 16) for n in range(1, 8)
    ]


def test_a_unit_set_in_review_converts_the_column(client, auth):
    header = ["Srvr", "Memory"]
    rows = [[f"node-{n}", 2048 * n] for n in range(1, 6)]
    import_id = uploaded(client, auth, csv_bytes(header, rows))
    paused = wait_for_final(client, import_id, auth, statuses={"waiting_for_approval"})
    changes = [
        {"source_column": "Srvr", "target_field": "hostname"},
        {"source_column": "Memory", "target_field": "memory_gb", "unit": "MiB"},
    ]
    response = put_mappings(client, auth, import_id, changes)
    assert response.status_code == 200, response.get_json()
    wrong = put_mappings(
        client,
        auth,
        import_id,
        [{"source_column": "Srvr", "target_field": "hostname", "unit": "GB"}],
    )
    assert (wrong.status_code, wrong.get_json()["error"]["code"]) == (422, "invalid-unit")
    assert (
        client.post(f"/api/v1/flows/{paused['flow']['id']}/resume", headers=auth).status_code == 202
    )
    assert wait_for_final(client, import_id, auth)["status"] == "completed"
    assets = client.get("/api/v1/assets?limit=100", headers=auth).get_json()["items"]
    assert sorted((a["name"], a["memory_gb"]) for a in assets) == [
        (f"node-{n}", 2 * n) for n in range(1, 6)
    ]


def test_what_a_review_teaches_is_kept_per_layout_and_can_be_unlearned(client, auth, make_account):
    header, rows = ["Srvr", "Memory"], [[f"node-{n}", 8] for n in range(1, 6)]
    first = uploaded(client, auth, csv_bytes(header, rows))
    paused = wait_for_final(client, first, auth, statuses={"waiting_for_approval"})
    put_mappings(client, auth, first, [{"source_column": "Srvr", "target_field": "hostname"}])
    assert (
        client.post(f"/api/v1/flows/{paused['flow']['id']}/resume", headers=auth).status_code == 202
    )
    assert wait_for_final(client, first, auth)["status"] == "completed"

    learned = client.get("/api/v1/learned-mappings", headers=auth).get_json()["items"]
    [srvr] = [row for row in learned if row["header"] == "srvr"]
    assert (srvr["target_field"], srvr["context"], srvr["import_type"]) == (
        "hostname",
        None,
        "servers",
    )
    # Learned: the next export of that layout goes through untouched.
    again = uploaded(client, auth, csv_bytes(header, rows))
    assert wait_for_final(client, again, auth)["status"] == "completed"
    # Not in another layout: RVTools' vInfo has its own meaning for its columns.
    vinfo = uploaded(client, auth, csv_bytes([*VINFO, "Srvr"], vinfo_rows(5, lambda n: f"x{n}")))
    settled = {"completed", "failed", "waiting_for_approval"}
    assert wait_for_final(client, vinfo, auth, statuses=settled)["profile"] == "rvtools-vinfo"
    in_vinfo = mappings(client, auth, vinfo)["Srvr"]
    assert in_vinfo["match_type"] != "learned"

    _, other = make_account()
    gone = client.delete(f"/api/v1/learned-mappings/{srvr['id']}", headers=other)
    assert gone.status_code == 404
    assert client.delete(f"/api/v1/learned-mappings/{srvr['id']}", headers=auth).status_code == 204
    assert client.delete(f"/api/v1/learned-mappings/{srvr['id']}", headers=auth).status_code == 404
    unlearned = uploaded(client, auth, csv_bytes(header, rows))
    assert (
        wait_for_final(client, unlearned, auth, statuses={"waiting_for_approval"})["status"]
        == "waiting_for_approval"
    )
