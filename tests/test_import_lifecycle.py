"""Idempotency, the engagement conflict, tenant isolation, and the simple cancel and retry."""

from __future__ import annotations

import io
import uuid

import pytest

from importer.celery_app import create_celery
from importer.resources import Resources
from tests.helpers import wait_for_final
from web import create_app

CSV = b"Host Name,IP Addr\nweb-1,10.0.0.1\nweb-2,10.0.0.2\n"


def upload(client, headers, content: bytes = CSV, filename="s.csv", extra_headers=None, **fields):
    data = {"file": (io.BytesIO(content), filename), **fields}
    return client.post(
        "/api/v1/imports",
        data=data,
        headers={**headers, **(extra_headers or {})},
        content_type="multipart/form-data",
    )


@pytest.fixture(scope="module")
def idle_client(resources):
    """An API whose tasks go to a queue no worker consumes: imports stay where they are put."""
    settings = resources.settings.model_copy(
        update={"task_queue": f"{resources.settings.task_queue}-idle"}
    )
    idle = Resources(settings)
    create_celery(settings, idle)
    yield create_app(settings, idle).test_client()
    idle.engine.dispose()


def test_idempotency_key_returns_the_first_import(client, auth):
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = upload(client, auth, extra_headers=key, engagement="idem")
    second = upload(client, auth, extra_headers=key, engagement="idem")
    assert first.status_code == second.status_code == 202
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    listed = client.get("/api/v1/imports", headers=auth).get_json()["items"]
    assert [i["id"] for i in listed] == [first.get_json()["id"]]

    other = upload(client, auth, content=CSV + b"web-3,10.0.0.3\n", extra_headers=key)
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency-key-reused"


def test_idempotency_keys_belong_to_one_account(client, make_account):
    key = {"Idempotency-Key": "shared-key"}
    _, a = make_account()
    _, b = make_account()
    first = upload(client, a, extra_headers=key).get_json()
    second = upload(client, b, extra_headers=key).get_json()
    assert first["id"] != second["id"]


def test_unfinished_import_blocks_its_engagement_until_cancelled(idle_client, auth):
    first = upload(idle_client, auth, engagement="wave-1").get_json()
    assert first["status"] == "stored"

    blocked = upload(idle_client, auth, engagement="wave-1")
    assert blocked.status_code == 409
    error = blocked.get_json()["error"]
    assert error["code"] == "discovery-in-progress"
    assert error["details"]["import_id"] == first["id"]
    assert error["details"]["import_status"] == "stored"

    assert upload(idle_client, auth, engagement="wave-2").status_code == 202

    assert (
        idle_client.post(f"/api/v1/imports/{first['id']}/cancel", headers=auth).status_code == 202
    )
    assert upload(idle_client, auth, engagement="wave-1").status_code == 202


@pytest.mark.usefixtures("celery_worker")
def test_cancel_before_start_then_retry_runs_to_completion(idle_client, client, auth):
    accepted = upload(idle_client, auth, engagement="cancel-retry").get_json()

    cancelled = idle_client.post(f"/api/v1/imports/{accepted['id']}/cancel", headers=auth)
    assert cancelled.status_code == 202
    assert cancelled.get_json()["status"] == "cancelled"
    detail = client.get(f"/api/v1/imports/{accepted['id']}", headers=auth).get_json()
    assert detail["status"] == "cancelled"
    assert {s["status"] for s in detail["steps"]} == {"cancelled"}

    again = idle_client.post(f"/api/v1/imports/{accepted['id']}/cancel", headers=auth)
    assert again.status_code == 409
    assert again.get_json()["error"]["details"]["status"] == "cancelled"

    # The real worker's API: the retry's tasks are consumed.
    retried = client.post(f"/api/v1/imports/{accepted['id']}/retry", headers=auth)
    assert retried.status_code == 202
    final = wait_for_final(client, accepted["id"], auth)
    assert final["status"] == "completed"
    assert [(s["name"], s["attempt"], s["status"]) for s in final["steps"]] == [
        ("validate", 1, "cancelled"),
        ("mappings", 1, "cancelled"),
        ("discovery", 1, "cancelled"),
        ("validate", 2, "succeeded"),
        ("mappings", 2, "succeeded"),
        ("discovery", 2, "succeeded"),
    ]
    assert client.post(f"/api/v1/imports/{accepted['id']}/retry", headers=auth).status_code == 409
    assert client.post(f"/api/v1/imports/{accepted['id']}/cancel", headers=auth).status_code == 409


def test_retry_is_refused_for_a_running_import(idle_client, auth):
    accepted = upload(idle_client, auth, engagement="not-retryable").get_json()
    response = idle_client.post(f"/api/v1/imports/{accepted['id']}/retry", headers=auth)
    assert response.status_code == 409
    assert response.get_json()["error"] == {
        "code": "not-retryable",
        "message": "An import that is stored cannot be retried.",
        "details": {"status": "stored"},
    }


def test_another_account_can_neither_see_nor_touch_an_import(idle_client, make_account):
    _, owner = make_account()
    _, stranger = make_account()
    accepted = upload(idle_client, owner, engagement="private").get_json()
    base = f"/api/v1/imports/{accepted['id']}"
    for method, url in [
        ("get", base),
        ("get", f"{base}/records"),
        ("get", f"{base}/errors"),
        ("get", f"{base}/mappings"),
        ("post", f"{base}/cancel"),
        ("post", f"{base}/retry"),
    ]:
        response = getattr(idle_client, method)(url, headers=stranger)
        assert response.status_code == 404, (method, url)
        assert response.get_json()["error"]["code"] == "not-found"
    assert idle_client.get("/api/v1/imports", headers=stranger).get_json()["items"] == []
    # The stranger's engagement of the same name is not blocked by the owner's import.
    assert upload(idle_client, stranger, engagement="private").status_code == 202
    assert idle_client.get(base, headers=owner).get_json()["status"] == "stored"


def test_list_filters_by_status_and_pages_with_a_cursor(idle_client, auth):
    ids = [upload(idle_client, auth, engagement=f"page-{n}").get_json()["id"] for n in range(5)]
    idle_client.post(f"/api/v1/imports/{ids[0]}/cancel", headers=auth)
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = idle_client.get("/api/v1/imports" + query, headers=auth).get_json()
        seen.extend(i["id"] for i in body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    cancelled = idle_client.get("/api/v1/imports?status=cancelled", headers=auth).get_json()
    assert [i["id"] for i in cancelled["items"]] == [ids[0]]
