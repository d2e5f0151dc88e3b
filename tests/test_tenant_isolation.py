"""Every route and every task, tried with another client account's ids: 404, nothing changed."""

from __future__ import annotations

import io
import re

import pytest

from tests.helpers import import_completed, wait_for, wait_for_final

pytestmark = pytest.mark.usefixtures("celery_worker")

CSV = b"Host Name,IP Addr,Depends On\nweb-1,10.0.0.1,db-1\ndb-1,10.0.0.2,\n"
# web-1 again, known by its address only: a merge that waits for review.
BY_ADDRESS = b"Host Name,IP Addr\n10.0.0.1,10.0.0.1\n"
BODIES = {"PUT": {"mappings": [{"source_column": "Host Name", "target_field": "hostname"}]}}


def owned_import(client, headers) -> dict[str, str]:
    response = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(CSV), "owned.csv"), "engagement": "isolation"},
        headers=headers,
        content_type="multipart/form-data",
    )
    import_id = response.get_json()["id"]
    final = wait_for_final(client, import_id, headers)
    asset = client.get("/api/v1/assets", headers=headers).get_json()["items"][0]
    # An approval teaches the account a mapping: one more thing of its own to find.
    client.put(f"/api/v1/imports/{import_id}/mappings", json=BODIES["PUT"], headers=headers)
    learned = client.get("/api/v1/learned-mappings", headers=headers).get_json()["items"][0]
    import_completed(client, headers, BY_ADDRESS, "by-address.csv", engagement="isolation")
    merge = client.get("/api/v1/merges", headers=headers).get_json()["items"][0]
    return {
        "import_id": import_id,
        "flow_id": final["flow"]["id"],
        "asset_id": asset["id"],
        "learned_id": str(learned["id"]),
        "merge_id": merge["id"],
    }


def snapshot(client, headers, ids: dict[str, str]) -> list:
    return [
        client.get(f"/api/v1/imports/{ids['import_id']}", headers=headers).get_json(),
        client.get(f"/api/v1/imports/{ids['import_id']}/mappings", headers=headers).get_json(),
        client.get(f"/api/v1/flows/{ids['flow_id']}", headers=headers).get_json(),
        client.get(f"/api/v1/assets/{ids['asset_id']}", headers=headers).get_json(),
        client.get("/api/v1/learned-mappings", headers=headers).get_json(),
        client.get("/api/v1/merges", headers=headers).get_json(),
        client.get("/api/v1/account/settings", headers=headers).get_json(),
    ]


def test_every_route_answers_404_to_another_account(app, client, make_account):
    _, owner = make_account()
    _, stranger = make_account()
    ids = owned_import(client, owner)
    before = snapshot(client, owner, ids)
    walked = 0
    for rule in app.url_map.iter_rules():
        if not rule.arguments or not rule.rule.startswith("/api/v1/"):
            continue
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: ids[m.group(1)], rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(url, method=method, headers=stranger, json=BODIES.get(method))
            assert response.status_code == 404, (method, url, response.get_json())
            assert response.get_json()["error"]["code"] == "not-found"
            walked += 1
    assert walked >= 10
    assert snapshot(client, owner, ids) == before
    assert client.get("/api/v1/imports", headers=stranger).get_json()["items"] == []
    assert client.get("/api/v1/assets", headers=stranger).get_json()["items"] == []
    assert client.get("/api/v1/merges", headers=stranger).get_json()["items"] == []


def test_a_task_sent_with_another_accounts_id_does_nothing(
    client, make_account, resources, account
):
    _, owner = make_account()
    stranger_id, _ = account
    ids = owned_import(client, owner)
    before = snapshot(client, owner, ids)
    step = before[0]["steps"][0]
    # The right task id and import id, the wrong account: the task must find nothing to do.
    resources.celery.send_task(
        "importer.validate_import",
        args=(ids["import_id"], str(stranger_id)),
        task_id=step["task_id"] + "-replay",
    )
    resources.celery.send_task(
        "importer.run_discovery_phase",
        args=(ids["import_id"], str(stranger_id), "asset_inventory"),
    )
    _, prober = make_account()
    probe = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(CSV), "probe.csv"), "engagement": "probe"},
        headers=prober,
        content_type="multipart/form-data",
    ).get_json()
    # Tasks run in order on the worker: once a later import completes, the strays have run.
    wait_for(lambda: wait_for_final(client, probe["id"], prober)["status"] == "completed")
    assert snapshot(client, owner, ids) == before
