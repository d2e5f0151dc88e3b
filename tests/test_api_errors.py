"""Every 4xx a client can cause: a JSON error with a stable code, and nothing stored."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from importer.models import DataImport, RawImportRecord
from web import create_app


def upload(client, headers, content: bytes, filename: str, **fields):
    data = {"file": (io.BytesIO(content), filename), **fields}
    return client.post(
        "/api/v1/imports", data=data, headers=headers, content_type="multipart/form-data"
    )


def stored_for(resources, account_id) -> tuple[int, int]:
    with resources.session_factory() as session:
        imports = session.scalar(
            select(func.count()).where(DataImport.client_account_id == account_id)
        )
        records = session.scalar(
            select(func.count()).where(RawImportRecord.client_account_id == account_id)
        )
    return imports, records


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


@pytest.mark.parametrize(
    ("content", "filename", "status", "code"),
    [
        (b"", "empty.csv", 422, "empty-file"),
        (b"Host Name,IP Addr\r\n", "header-only.csv", 422, "no-records"),
        (b"[]", "empty.json", 422, "no-records"),
        (b'[{"a": 1}', "truncated.json", 422, "invalid-json"),
        (b"[1, 2]", "numbers.json", 422, "invalid-record"),
        (b'[{"a": "x\\u0000y"}]', "nul.json", 422, "nul-byte"),
        (b"PK\x03\x04\x00\x00binary", "sheet.xlsx", 422, "invalid-xlsx"),
        (b"\xd0\xcf\x11\xe0legacy", "sheet.xls", 415, "unsupported-media-type"),
        (b"\x00\x01\x02\x03binary\x00", "binary.csv", 415, "unsupported-media-type"),
        (b"a,a\n1,2\n", "dup.csv", 422, "duplicate-label"),
        (b'Host Name,IP\n"unterminated,10.0.0.1\n', "quote.csv", 422, "unterminated-quote"),
        ("Host Name\n\u00e9t\u00e9\n".encode() + b"\xff\n", "mixed.csv", 422, "invalid-encoding"),
    ],
)
def test_rejected_upload_stores_nothing(
    client, account, resources, content, filename, status, code
):
    account_id, headers = account
    assert_error(upload(client, headers, content, filename), status, code)
    assert stored_for(resources, account_id) == (0, 0)


def test_a_bad_row_deep_in_the_file_rolls_back_every_stored_row(client, account, resources):
    account_id, headers = account
    good = "".join(f"host-{n},10.0.0.{n % 250}\n" for n in range(5000))
    content = ("Host Name,IP\n" + good + "bad,\x00nul\n").encode()
    assert_error(upload(client, headers, content, "late.csv"), 422, "nul-byte")
    assert stored_for(resources, account_id) == (0, 0)


def test_unknown_import_type(client, auth):
    response = upload(client, auth, b"a\n1\n", "x.csv", import_type="spaceships")
    error = assert_error(response, 422, "invalid-import-type")
    assert "servers" in error["details"]["allowed"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"records": [{"a": 1}], "engagement": "nul\u0000"}, "engagement"),
        ({"records": [{"a": 1}], "filename": "\ud800.csv"}, "filename"),
        ({"records": [{"a": 1}], "engagement": 7}, "engagement"),
        ({"records": [{"a": 1}], "engagement": "x" * 201}, "engagement"),
    ],
)
def test_unstorable_or_invalid_options(client, account, resources, body, field):
    account_id, headers = account
    response = client.post("/api/v1/imports", json=body, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["field"] == field
    assert stored_for(resources, account_id) == (0, 0)


def test_wrong_content_type(client, auth):
    response = client.post(
        "/api/v1/imports", data="hostname\nx\n", headers={**auth, "Content-Type": "text/csv"}
    )
    assert_error(response, 415, "unsupported-media-type")


def test_multipart_without_file(client, auth):
    response = client.post(
        "/api/v1/imports",
        data={"import_type": "servers"},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert_error(response, 422, "missing-file")


@pytest.mark.parametrize(
    "body", [b"not json", b"[1,2]", b'{"filename": "x"}', b'{"records": "nope"}']
)
def test_bad_json_bodies(client, auth, body):
    response = client.post(
        "/api/v1/imports", data=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] in {"invalid-json", "invalid-record"}


def test_body_over_the_limit_is_413(resources, account):
    account_id, headers = account
    small = resources.settings.model_copy(update={"max_upload_bytes": 1024})
    client = create_app(small, resources).test_client()
    content = b"Host Name\n" + b"host-000001\n" * 500
    error = assert_error(upload(client, headers, content, "big.csv"), 413, "payload-too-large")
    assert error["details"]["limit_bytes"] == 1024
    assert stored_for(resources, account_id) == (0, 0)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer imp_wrong"}, {"Authorization": "Basic abc"}],
)
def test_missing_or_wrong_key_is_401(client, headers):
    for method, url in [("get", "/api/v1/imports"), ("post", "/api/v1/imports")]:
        response = getattr(client, method)(url, headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] in {"unauthorized", "invalid-api-key"}
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_unknown_routes_and_ids_are_json_404(client, auth):
    assert_error(client.get("/api/v1/imports/not-a-uuid", headers=auth), 404, "not-found")
    assert_error(
        client.get("/api/v1/imports/00000000-0000-0000-0000-000000000000", headers=auth),
        404,
        "not-found",
    )
    assert client.get("/nowhere").get_json()["error"]["code"] == "not-found"


def test_bad_query_parameters_are_400(client, auth):
    assert_error(client.get("/api/v1/imports?limit=0", headers=auth), 400, "invalid-query")
    assert_error(client.get("/api/v1/imports?limit=x", headers=auth), 400, "invalid-query")
    assert_error(client.get("/api/v1/imports?cursor=%%%", headers=auth), 400, "invalid-query")
    assert_error(client.get("/api/v1/imports?status=nope", headers=auth), 400, "invalid-query")


def test_health(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"postgresql": "ok", "redis": "ok"}


def test_uploads_are_rate_limited_per_api_key(resources, make_account):
    limited = resources.settings.model_copy(
        update={
            "upload_rate_limit": "2/minute",
            "redis_prefix": resources.settings.redis_prefix + "-rl",
        }
    )
    client = create_app(limited, resources).test_client()
    _, first_key = make_account()
    _, second_key = make_account()
    codes = [upload(client, first_key, b"", "empty.csv").status_code for _ in range(3)]
    assert codes == [422, 422, 429]
    refused = upload(client, first_key, b"", "empty.csv")
    error = assert_error(refused, 429, "too-many-requests")
    assert error["message"]
    assert int(refused.headers["Retry-After"]) > 0
    # Another key has its own allowance; reading is not limited.
    assert upload(client, second_key, b"", "empty.csv").status_code == 422
    assert client.get("/api/v1/imports", headers=first_key).status_code == 200
