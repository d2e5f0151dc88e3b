"""Merges below the account's confidence threshold wait for review: approve merges the pair by the
inventory's precedence, split keeps it apart, and either is remembered by the next import."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.helpers import wait_for_final

pytestmark = pytest.mark.usefixtures("celery_worker")

ERP = {"hostname": "erp-01", "ip_address": "10.4.0.1"}
# A later export that knows the machine by its address only.
BY_ADDRESS = {"hostname": "10.4.0.1", "ip_address": "10.4.0.1"}


def import_records(client, auth, records: list[dict], engagement: str) -> str:
    body = {"records": records, "import_type": "servers", "engagement": engagement}
    response = client.post("/api/v1/imports", json=body, headers=auth)
    assert response.status_code == 202, response.get_json()
    final = wait_for_final(client, response.get_json()["id"], auth, timeout=120)
    assert final["status"] == "completed", final
    return final["id"]


def assets(client, auth) -> dict[str, dict]:
    items = client.get("/api/v1/assets?limit=1000", headers=auth).get_json()["items"]
    return {asset["name"]: asset for asset in items}


def merges(client, auth, status: str = "pending") -> list[dict]:
    response = client.get(f"/api/v1/merges?status={status}", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def set_threshold(client, auth, value) -> dict:
    response = client.put(
        "/api/v1/account/settings", json={"merge_review_threshold": value}, headers=auth
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def matched_on(resources, import_id: str) -> list[tuple[str, str]]:
    with resources.engine.connect() as conn:
        return [
            (str(asset_id), how)
            for asset_id, how in conn.execute(
                text(
                    "SELECT asset_id, matched_on FROM asset_sources WHERE import_id = :i "
                    "ORDER BY row_number"
                ),
                {"i": import_id},
            )
        ]


def test_an_ip_alone_waits_for_review_instead_of_merging(client, auth, resources):
    engagement = uuid.uuid4().hex
    import_records(client, auth, [ERP], engagement)
    second = import_records(client, auth, [{**BY_ADDRESS, "os_name": "Ubuntu 22.04"}], engagement)
    found = assets(client, auth)
    assert set(found) == {"erp-01", "10.4.0.1"}
    assert found["erp-01"]["os_name"] is None
    [merge] = merges(client, auth)
    assert (merge["matched_on"], merge["match_kind"], merge["confidence"]) == ("ip", "ip", 0.4)
    assert merge["asset"]["id"] == found["erp-01"]["id"]
    assert merge["proposed_asset"]["id"] == found["10.4.0.1"]["id"]
    assert (merge["import_id"], merge["row_number"]) == (second, 1)
    assert merge["row_keys"] == {"hostname_key": "10.4.0.1", "primary_ip": "10.4.0.1"}
    assert matched_on(resources, second) == [(found["10.4.0.1"]["id"], "created")]
    # The same export again: its row lands on its own asset, and is not proposed again.
    again = import_records(client, auth, [BY_ADDRESS], engagement)
    assert set(assets(client, auth)) == {"erp-01", "10.4.0.1"}
    assert [m["id"] for m in merges(client, auth)] == [merge["id"]]
    assert matched_on(resources, again) == [(found["10.4.0.1"]["id"], "hostname")]


def test_two_hosts_sharing_an_ip_stay_two_and_propose_nothing(client, auth):
    engagement = uuid.uuid4().hex
    import_records(client, auth, [ERP], engagement)
    import_records(client, auth, [{"hostname": "erp-01-dr", "ip_address": "10.4.0.1"}], engagement)
    assert set(assets(client, auth)) == {"erp-01", "erp-01-dr"}
    assert merges(client, auth) == []


def test_approve_merges_the_pair_by_the_inventorys_precedence(client, auth, resources):
    engagement = uuid.uuid4().hex
    first = import_records(
        client,
        auth,
        [
            {
                **ERP,
                "environment": "dev",
                "memory_gb": 16,
                "owner": "Ann",
                "os_name": "Ubuntu 20.04",
            },
            {"hostname": "db-9"},
        ],
        engagement,
    )
    # Newer: its values win, but its blanks erase nothing; its own flag makes it a VM.
    second = import_records(
        client,
        auth,
        [
            {
                **BY_ADDRESS,
                "environment": "prod",
                "memory_gb": 32,
                "is_virtual": True,
                "dependencies": "db-9",
            }
        ],
        engagement,
    )
    [merge] = merges(client, auth)
    kept, proposed = merge["asset"]["id"], merge["proposed_asset"]["id"]
    response = client.post(f"/api/v1/merges/{merge['id']}/approve", headers=auth)
    assert response.status_code == 200, response.get_json()
    approved = response.get_json()
    assert approved["status"] == "approved" and approved["decided_at"]
    assert approved["proposed_asset"] is None and approved["asset"]["id"] == kept
    assert client.get(f"/api/v1/assets/{proposed}", headers=auth).status_code == 404
    detail = client.get(f"/api/v1/assets/{kept}", headers=auth).get_json()
    assert (detail["name"], detail["hostname_key"], detail["primary_ip"]) == (
        "erp-01",
        "erp-01",
        "10.4.0.1",
    )
    assert (detail["environment"], detail["memory_gb"]) == ("production", 32)
    assert detail["os_name"] == "Ubuntu 20.04"
    assert detail["asset_type"] == "virtual_machine"
    # Its rows and its dependencies are the kept asset's now.
    assert [(i["id"], i["matched_on"]) for i in detail["imports"]] == [
        (first, {"created": 1}),
        (second, {"created": 1}),
    ]
    assert [d["name"] for d in detail["depends_on"]] == ["db-9"]
    with resources.engine.connect() as conn:
        attributes = conn.scalar(text("SELECT attributes FROM assets WHERE id = :i"), {"i": kept})
    assert attributes["owner"] == "Ann"
    assert merges(client, auth) == []
    assert [m["id"] for m in merges(client, auth, "approved")] == [merge["id"]]
    # Decided once: no second decision.
    for action in ("approve", "split"):
        again = client.post(f"/api/v1/merges/{merge['id']}/{action}", headers=auth)
        assert again.status_code == 409
        assert again.get_json()["error"]["code"] == "merge-decided"
    # The next export's row is that machine: merged, not proposed again.
    third = import_records(client, auth, [BY_ADDRESS], engagement)
    assert len(assets(client, auth)) == 2
    assert merges(client, auth) == []
    assert matched_on(resources, third) == [(kept, "ip")]


def test_a_split_is_remembered_by_the_next_import(client, auth, resources):
    engagement = uuid.uuid4().hex
    # Reviewed too: a short name under another DNS domain than the asset's.
    set_threshold(client, auth, 0.7)
    import_records(client, auth, [{"hostname": "web-01.corp.example"}], engagement)
    dmz = {"hostname": "web-01.dmz.example"}
    import_records(client, auth, [dmz], engagement)
    [merge] = merges(client, auth)
    response = client.post(f"/api/v1/merges/{merge['id']}/split", headers=auth)
    assert response.status_code == 200, response.get_json()
    split = response.get_json()
    assert (split["status"], split["asset"]["id"]) == ("split", merge["asset"]["id"])
    assert split["proposed_asset"]["id"] == merge["proposed_asset"]["id"]
    # Its own asset holds no host name (the found one's): the review alone finds it again.
    assert split["proposed_asset"]["hostname_key"] is None
    third = import_records(client, auth, [{**dmz, "os_name": "RHEL 9"}], engagement)
    assert len(assets(client, auth)) == 2
    assert merges(client, auth) == []
    assert [m["id"] for m in merges(client, auth, "split")] == [merge["id"]]
    assert matched_on(resources, third) == [(merge["proposed_asset"]["id"], "hostname")]
    own = client.get(f"/api/v1/assets/{merge['proposed_asset']['id']}", headers=auth).get_json()
    assert own["os_name"] == "RHEL 9"
    found = client.get(f"/api/v1/assets/{merge['asset']['id']}", headers=auth).get_json()
    assert found["os_name"] is None


def test_the_threshold_changes_what_waits(client, auth):
    assert client.get("/api/v1/account/settings", headers=auth).get_json() == {
        "merge_review_threshold": 0.5
    }
    engagement = uuid.uuid4().hex
    # Nothing waits: an IP alone merges, as it did before reviews.
    assert set_threshold(client, auth, 0) == {"merge_review_threshold": 0.0}
    import_records(client, auth, [ERP], engagement)
    import_records(client, auth, [{**BY_ADDRESS, "os_name": "RHEL 9"}], engagement)
    assert [a["os_name"] for a in assets(client, auth).values()] == ["RHEL 9"]
    assert merges(client, auth) == []
    # Stricter: a short name under another DNS domain waits; under the same domain it merges.
    set_threshold(client, auth, 0.7)
    import_records(client, auth, [{"hostname": "web-01.corp.example"}], engagement)
    import_records(
        client,
        auth,
        [
            {"hostname": "web-01.dmz.example", "environment": "dev"},
            {"hostname": "WEB-01.corp.example", "environment": "prod"},
        ],
        engagement,
    )
    found = assets(client, auth)
    assert found["web-01.corp.example"]["environment"] == "production"
    assert found["web-01.dmz.example"]["environment"] == "development"
    assert found["web-01.dmz.example"]["hostname_key"] is None
    [merge] = merges(client, auth)
    assert (merge["matched_on"], merge["match_kind"], merge["confidence"]) == (
        "hostname",
        "hostname_other_domain",
        0.6,
    )
    assert merge["asset"]["id"] == found["web-01.corp.example"]["id"]


@pytest.mark.parametrize(
    "body",
    [{"merge_review_threshold": 1.5}, {"merge_review_threshold": "0.5"}, {}, [], None],
)
def test_a_bad_threshold_is_refused_and_nothing_changes(client, auth, body):
    response = client.put("/api/v1/account/settings", json=body, headers=auth)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid-settings"
    assert client.get("/api/v1/account/settings", headers=auth).get_json() == {
        "merge_review_threshold": 0.5
    }


def test_bad_merge_ids_and_queries(client, auth):
    for merge_id in ("nope", str(uuid.uuid4())):
        response = client.post(f"/api/v1/merges/{merge_id}/approve", headers=auth)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not-found"
    response = client.get("/api/v1/merges?status=maybe", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid-query"
    response = client.get("/api/v1/merges?cursor=bm9wZQ", headers=auth)
    assert response.status_code == 400


def test_the_queue_is_paginated(client, auth):
    engagement = uuid.uuid4().hex
    hosts = [{"hostname": f"h-{n}", "ip_address": f"10.8.0.{n}"} for n in range(1, 6)]
    import_records(client, auth, hosts, engagement)
    import_records(
        client,
        auth,
        [{"hostname": f"10.8.0.{n}", "ip_address": f"10.8.0.{n}"} for n in range(1, 6)],
        engagement,
    )
    seen, cursor = [], None
    while True:
        url = "/api/v1/merges?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=auth).get_json()
        seen += [m["asset"]["name"] for m in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"h-{n}" for n in range(1, 6)]
