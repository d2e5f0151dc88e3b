"""The discovery flow end to end: mappings approval, cleansing, de-duplicated inventory,
dependencies and end-of-support flags, through the API and a real worker."""

from __future__ import annotations

import io
import uuid

import pytest

from tests.helpers import csv_bytes, wait_for_final

pytestmark = pytest.mark.usefixtures("celery_worker")

HEADER = ["Host Name", "IP Addr", "Serial No", "Operating System", "Env", "RAM (GB)", "Depends On"]
ROWS = [
    # web-01 appears three times: short name, FQDN in capitals, and an old name with its serial.
    ["web-01", "10.0.0.1", "SN-1", "Windows Server 2008 R2", "PROD", "16GB", "db-01;cache-09"],
    ["WEB-01.corp.example", "10.0.0.1", "SN-1", "Windows Server 2008 R2", "Production", "16", ""],
    ["web-01-old", "10.0.0.99", "SN-1", "", "prod", "", ""],
    ["db-01", "10.0.0.2", "SN-2", "Red Hat Enterprise Linux 9.2", "prd", "64 GB", "app-01"],
    ["app-01", "10.0.0.3", "SN-3", "Windows Server 2022", "dev", "8", "db-01, 10.0.0.1"],
    # Named by its address only, no serial: its IP finds app-01, but an IP alone is too weak a
    # match to merge by itself (the account's default threshold): it waits for review as an
    # asset of its own (tests/test_merge_review.py). Another name with the same IP would be
    # another asset: tests/test_inventory_matching.py.
    ["10.0.0.3", "10.0.0.3", "", "", "Development", "", ""],
    ["lb-01", "10.0.0.4", "SN-4", "Solaris 11", "test", "4", ""],
]


def upload(client, auth, content: bytes, engagement: str | None = None) -> str:
    response = client.post(
        "/api/v1/imports",
        data={
            "file": (io.BytesIO(content), "inventory.csv"),
            "engagement": engagement or uuid.uuid4().hex,
        },
        headers=auth,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def flow_of(client, auth, import_id: str) -> dict:
    detail = client.get(f"/api/v1/imports/{import_id}", headers=auth).get_json()
    return client.get(f"/api/v1/flows/{detail['flow']['id']}", headers=auth).get_json()


def assets_by_name(client, auth) -> dict[str, dict]:
    items = client.get("/api/v1/assets?limit=1000", headers=auth).get_json()["items"]
    return {a["name"]: a for a in items}


def test_a_messy_export_becomes_a_deduplicated_inventory(client, auth):
    import_id = upload(client, auth, csv_bytes(HEADER, ROWS))
    final = wait_for_final(client, import_id, auth)
    assert final["status"] == "completed", final
    flow = flow_of(client, auth, import_id)
    summary = flow["summary"]

    assert summary["cleansing"]["records_cleaned"] == 7
    # "test" is already canonical; the six others are synonyms.
    assert summary["cleansing"]["fields"]["environment"] == {"changed": 6, "kept": 1}
    assert summary["assets"]["created"] == {"server": 4, "database": 1}
    assets = assets_by_name(client, auth)
    assert set(assets) == {"web-01", "db-01", "app-01", "lb-01", "10.0.0.3"}
    [pending] = client.get("/api/v1/merges", headers=auth).get_json()["items"]
    assert (pending["asset"]["name"], pending["proposed_asset"]["name"]) == ("app-01", "10.0.0.3")
    assert summary["merges_for_review"] == 1
    web = assets["web-01"]
    assert web["environment"] == "production"
    assert (web["os_family"], web["os_version"]) == ("windows", "2008 R2")
    assert web["memory_gb"] == 16
    assert web["end_of_support"]["severity"] == "critical"
    assert web["end_of_support"]["source"].startswith("https://")
    db = assets["db-01"]
    assert (db["asset_type"], db["os_family"], db["environment"]) == (
        "database",
        "rhel",
        "production",
    )
    assert assets["app-01"]["end_of_support"]["severity"] == "ok"
    assert assets["lb-01"]["end_of_support"]["severity"] == "unknown"

    deps = summary["dependencies"]
    assert (deps["edges"], deps["resolved"], deps["unresolved"]) == (5, 4, 1)
    assert deps["unresolved_targets"] == ["cache-09"]
    # db-01 → app-01 → db-01, and app-01 → web-01 (by IP) → db-01 → app-01: one tangle.
    assert deps["cycles"] == 1
    assert sorted(deps["cycle_examples"][0]) == ["app-01", "db-01", "web-01"]
    assert summary["end_of_support"]["by_severity"] == {
        "critical": 1,
        "ok": 2,
        "unknown": 2,
    }

    detail = client.get(f"/api/v1/assets/{web['id']}", headers=auth).get_json()
    assert {(d["target"], d["resolved"]) for d in detail["depends_on"]} == {
        ("db-01", True),
        ("cache-09", False),
    }
    assert [d["name"] for d in detail["depended_on_by"]] == ["app-01"]
    assert [i["id"] for i in detail["imports"]] == [import_id]

    critical = client.get("/api/v1/assets?end_of_support=critical", headers=auth).get_json()
    assert [a["name"] for a in critical["items"]] == ["web-01"]
    windows = client.get("/api/v1/assets?os_family=windows", headers=auth).get_json()
    assert {a["name"] for a in windows["items"]} == {"web-01", "app-01"}
    bad = client.get("/api/v1/assets?type=spaceship", headers=auth)
    assert bad.status_code == 400


def test_importing_again_updates_instead_of_doubling(client, auth):
    first = upload(client, auth, csv_bytes(HEADER, ROWS))
    assert wait_for_final(client, first, auth)["status"] == "completed"
    again = upload(client, auth, csv_bytes(HEADER, ROWS))
    assert wait_for_final(client, again, auth)["status"] == "completed"
    assets = flow_of(client, auth, again)["summary"]["assets"]
    assert assets["created"] == {}
    assert assets["unchanged"] == {"server": 4, "database": 1}

    changed = [list(r) for r in ROWS]
    changed[4][5] = "32"  # app-01 gets more memory
    third = upload(client, auth, csv_bytes(HEADER, changed))
    assert wait_for_final(client, third, auth)["status"] == "completed"
    assets = flow_of(client, auth, third)["summary"]["assets"]
    assert assets["created"] == {}
    assert assets["updated"] == {"server": 1}
    inventory = assets_by_name(client, auth)
    assert len(inventory) == 5
    assert inventory["app-01"]["memory_gb"] == 32
    assert inventory["app-01"]["last_import_id"] == third
    assert inventory["app-01"]["first_import_id"] == first


def test_unsure_mappings_pause_for_approval_and_are_learned(client, auth):
    header = ["Srvr", "Addr1", "OS"]
    rows = [[f"node-{n}", f"192.168.1.{n}", "Ubuntu 22.04"] for n in range(1, 11)]
    import_id = upload(client, auth, csv_bytes(header, rows))
    paused = wait_for_final(client, import_id, auth, statuses={"waiting_for_approval"})
    assert paused["flow"]["status"] == "waiting_for_approval"
    flow = flow_of(client, auth, import_id)
    assert flow["phases"][0]["status"] == "waiting_for_approval"
    assert flow["summary"]["mapping"]["missing_required"] == ["hostname or name or fqdn"]

    mappings = client.get(f"/api/v1/imports/{import_id}/mappings", headers=auth).get_json()
    by_column = {m["source_column"]: m for m in mappings["items"]}
    # Its header says nothing, but its values are IP addresses.
    assert (by_column["Addr1"]["target_field"], by_column["Addr1"]["match_type"]) == (
        "ip_address",
        "value",
    )
    assert by_column["Addr1"]["confidence"] == 1.0

    early = client.post(f"/api/v1/flows/{flow['id']}/resume", headers=auth)
    assert early.status_code == 409
    assert early.get_json()["error"]["code"] == "mappings-need-approval"

    edited = client.put(
        f"/api/v1/imports/{import_id}/mappings",
        json={"mappings": [{"source_column": "Srvr", "target_field": "hostname"}]},
        headers=auth,
    )
    assert edited.status_code == 200, edited.get_json()
    srvr = next(m for m in edited.get_json()["items"] if m["source_column"] == "Srvr")
    assert (srvr["target_field"], srvr["status"], srvr["match_type"]) == (
        "hostname",
        "approved",
        "manual",
    )
    resumed = client.post(f"/api/v1/flows/{flow['id']}/resume", headers=auth)
    assert resumed.status_code == 202
    final = wait_for_final(client, import_id, auth)
    assert final["status"] == "completed"
    assert flow_of(client, auth, import_id)["summary"]["assets"]["created"] == {"server": 10}

    # The same header next time maps with confidence 1.0, learned, and nothing waits.
    again = upload(client, auth, csv_bytes(header, [["node-99", "192.168.1.99", "RHEL 8"]] * 1))
    assert wait_for_final(client, again, auth)["status"] == "completed"
    learned = client.get(f"/api/v1/imports/{again}/mappings", headers=auth).get_json()
    srvr = next(m for m in learned["items"] if m["source_column"] == "Srvr")
    assert (srvr["target_field"], srvr["confidence"], srvr["match_type"]) == (
        "hostname",
        1.0,
        "learned",
    )


def test_mapping_edits_are_checked(client, auth):
    import_id = upload(client, auth, csv_bytes(["Srvr"], [["a-1"], ["a-2"]]))
    wait_for_final(client, import_id, auth, statuses={"waiting_for_approval"})
    url = f"/api/v1/imports/{import_id}/mappings"
    for body, code in [
        ({"mappings": [{"source_column": "Nope", "target_field": "hostname"}]}, "unknown-column"),
        ({"mappings": [{"source_column": "Srvr", "target_field": "warp"}]}, "unknown-field"),
        ({"mappings": [{"source_column": "Srvr", "status": "maybe"}]}, "invalid-mappings"),
        ({"mappings": []}, "invalid-mappings"),
        ([1, 2], "invalid-mappings"),
    ]:
        response = client.put(url, json=body, headers=auth)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["code"] == code
    assert client.post(f"/api/v1/imports/{import_id}/cancel", headers=auth).status_code == 202


def test_flows_and_assets_belong_to_their_account(client, make_account):
    _, owner = make_account()
    _, stranger = make_account()
    import_id = upload(client, owner, csv_bytes(HEADER, ROWS))
    wait_for_final(client, import_id, owner)
    flow_id = client.get(f"/api/v1/imports/{import_id}", headers=owner).get_json()["flow"]["id"]
    asset_id = client.get("/api/v1/assets", headers=owner).get_json()["items"][0]["id"]
    for method, url in [
        ("get", f"/api/v1/flows/{flow_id}"),
        ("post", f"/api/v1/flows/{flow_id}/resume"),
        ("get", f"/api/v1/assets/{asset_id}"),
        ("put", f"/api/v1/imports/{import_id}/mappings"),
    ]:
        response = getattr(client, method)(
            url, headers=stranger, json={"mappings": [{"source_column": "Env"}]}
        )
        assert response.status_code == 404, (method, url)
    assert client.get("/api/v1/assets", headers=stranger).get_json()["items"] == []


def test_two_imports_of_one_account_at_once_share_the_inventory(client, auth):
    first = upload(client, auth, csv_bytes(HEADER, ROWS))
    second = upload(client, auth, csv_bytes(HEADER, ROWS))
    assert wait_for_final(client, first, auth)["status"] == "completed"
    assert wait_for_final(client, second, auth)["status"] == "completed"
    assert set(assets_by_name(client, auth)) == {"web-01", "db-01", "app-01", "lb-01", "10.0.0.3"}
    created = [flow_of(client, auth, i)["summary"]["assets"]["created"] for i in (first, second)]
    assert sorted(sum(c.values()) for c in created) == [0, 5]
    # The address-only row waits for review once, not once per import.
    assert len(client.get("/api/v1/merges", headers=auth).get_json()["items"]) == 1


def test_more_dependency_targets_than_a_query_has_parameters(client, auth):
    """PostgreSQL takes at most 65,535 parameters per query; targets are looked up as arrays."""
    targets = ";".join(f"t-{n}" for n in range(70_000))
    import_id = upload(client, auth, csv_bytes(["Host Name", "Depends On"], [["hub-1", targets]]))
    final = wait_for_final(client, import_id, auth, timeout=180)
    assert final["status"] == "completed", final
    deps = flow_of(client, auth, import_id)["summary"]["dependencies"]
    assert (deps["edges"], deps["resolved"], deps["unresolved"]) == (70_000, 0, 70_000)


def test_huge_numbers_and_long_values_are_carried_through(client, auth):
    records = [
        {
            "hostname": "big-1",
            "cpu_cores": 10**30,
            "serial_number": 2**70,
            "environment": "e" * 500,
            "os_version": "9." * 200,
        },
        {"hostname": "long-serial", "serial_number": "S" * 5000},
    ]
    response = client.post("/api/v1/imports", json={"records": records}, headers=auth)
    final = wait_for_final(client, response.get_json()["id"], auth)
    assert final["status"] == "completed", final
    assets = assets_by_name(client, auth)
    assert assets["big-1"]["serial_number"] == str(2**70)
    assert assets["big-1"]["cpu_cores"] is None
    assert assets["long-serial"]["serial_number"] is None
