"""A messy export through the API and a real worker, to `completed`, with exact counts."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from sqlalchemy import func, select

from importer.models import CleanedRecord, RawImportRecord
from importer.sample_export import messy_csv_bytes
from tests.helpers import wait_for_final

pytestmark = pytest.mark.usefixtures("celery_worker")


def upload_file(client, headers, content: bytes, filename: str, **fields):
    data = {"file": (io.BytesIO(content), filename), **fields}
    return client.post(
        "/api/v1/imports", data=data, headers=headers, content_type="multipart/form-data"
    )


def all_pages(client, url: str, headers: dict) -> list[dict]:
    items, cursor = [], None
    while True:
        query = f"?limit=1000&cursor={cursor}" if cursor else "?limit=1000"
        body = client.get(url + query, headers=headers).get_json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_messy_csv_reaches_completed_with_exact_counts(client, auth, resources):
    content, stats = messy_csv_bytes(10_000, seed=11)
    response = upload_file(client, auth, content, "cmdb.csv")
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    assert accepted["records_stored"] == 10_000
    assert accepted["links"]["self"] == f"/api/v1/imports/{accepted['id']}"

    final = wait_for_final(client, accepted["id"], auth)
    assert final["status"] == "completed", final
    assert final["progress"] == 100
    assert final["valid_records"] == stats.valid_rows
    assert final["invalid_records"] == stats.invalid_rows
    assert [(s["name"], s["status"], s["attempt"]) for s in final["steps"]] == [
        ("validate", "succeeded", 1),
        ("mappings", "succeeded", 1),
        ("discovery", "succeeded", 1),
    ]
    assert all(s["task_id"] and s["started_at"] and s["finished_at"] for s in final["steps"])
    assert final["flow"]["status"] == "succeeded"
    flow = client.get(f"/api/v1/flows/{final['flow']['id']}", headers=auth).get_json()
    assert [(p["name"], p["status"]) for p in flow["phases"]] == [
        (name, "succeeded")
        for name in (
            "field_mapping",
            "data_cleansing",
            "asset_inventory",
            "dependency_analysis",
            "tech_debt_assessment",
        )
    ]
    assert flow["summary"]["cleansing"]["records_cleaned"] == stats.valid_rows
    assert sum(flow["summary"]["assets"]["created"].values()) == stats.valid_rows

    issues = all_pages(client, f"/api/v1/imports/{accepted['id']}/errors", auth)
    assert Counter(i["code"] for i in issues) == stats.issues
    bad_ip = next(i for i in issues if i["code"] == "type-error")
    assert bad_ip["field"] == "IP Addr" and bad_ip["severity"] == "error"

    mappings = client.get(f"/api/v1/imports/{accepted['id']}/mappings", headers=auth).get_json()
    targets = {m["source_column"]: m["target_field"] for m in mappings["items"]}
    assert targets["Host Name"] == "hostname"
    assert targets["IP Addr"] == "ip_address"
    assert targets["RAM (GB)"] == "memory_gb"
    assert targets["Operating System"] == "os_name"
    assert targets["Notes"] is None
    assert {m["status"] for m in mappings["items"]} == {"suggested"}

    with resources.session_factory() as session:
        cleaned = session.scalar(
            select(func.count()).where(CleanedRecord.import_id == accepted["id"])
        )
        sample = session.scalars(
            select(CleanedRecord).where(CleanedRecord.import_id == accepted["id"]).limit(1)
        ).one()
    assert cleaned == stats.valid_rows
    assert {"hostname", "ip_address", "memory_gb", "os_name"} <= set(sample.data)


def test_records_come_back_exactly_as_uploaded(client, auth):
    content = (
        b"\xef\xbb\xbfHost Name;IP Addr;Notes\r\n"
        b'web-01;10.0.0.1;"multi\r\nline; with ""quotes"""\r\n'
        b"db-01;10.0.0.2;  padded  \r\n"
    )
    accepted = upload_file(client, auth, content, "semi.csv").get_json()
    body = client.get(f"/api/v1/imports/{accepted['id']}/records", headers=auth).get_json()
    assert body["columns"] == ["Host Name", "IP Addr", "Notes"]
    assert [r["values"] for r in body["items"]] == [
        {"Host Name": "web-01", "IP Addr": "10.0.0.1", "Notes": 'multi\r\nline; with "quotes"'},
        {"Host Name": "db-01", "IP Addr": "10.0.0.2", "Notes": "  padded  "},
    ]
    detail = client.get(f"/api/v1/imports/{accepted['id']}", headers=auth).get_json()
    assert detail["delimiter"] == ";" and detail["encoding"] == "utf-8-sig"
    assert wait_for_final(client, accepted["id"], auth)["status"] == "completed"


def test_json_body_upload(client, auth):
    records = [
        {"hostname": "app-1", "ip_address": "10.1.0.1", "cpu_cores": 4, "tags": {"a": [1, 2]}},
        {"hostname": "", "ip_address": "10.1.0.2"},
    ]
    response = client.post(
        "/api/v1/imports",
        json={"records": records, "filename": "api.json", "engagement": "json-body"},
        headers=auth,
    )
    assert response.status_code == 202, response.get_json()
    final = wait_for_final(client, response.get_json()["id"], auth)
    assert final["status"] == "completed"
    assert (final["valid_records"], final["invalid_records"]) == (1, 1)
    assert final["filename"] == "api.json" and final["format"] == "json"
    stored = client.get(f"/api/v1/imports/{final['id']}/records", headers=auth).get_json()
    assert stored["items"][0]["values"]["tags"] == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("filename", "content", "fmt"),
    [
        (
            "servers.json",
            json.dumps([{"Host Name": "a-1", "IP": "10.0.0.1"}, {"Host Name": "a-2"}]).encode(),
            "json",
        ),
        ("servers.ndjson", b'{"Host Name": "b-1"}\n\n{"Host Name": "b-2", "RAM": 8}\n', "ndjson"),
    ],
)
def test_json_and_ndjson_files(client, auth, filename, content, fmt):
    accepted = upload_file(client, auth, content, filename, engagement=fmt).get_json()
    assert accepted["records_stored"] == 2
    final = wait_for_final(client, accepted["id"], auth)
    assert final["status"] == "completed"
    assert final["format"] == fmt
    assert final["valid_records"] == 2


def test_zero_valid_rows_fails_with_the_reason_and_keeps_the_issues(client, auth):
    content = b"Host Name,IP Addr\n,10.0.0.1\n  ,10.0.0.2\n"
    accepted = upload_file(client, auth, content, "bad.csv").get_json()
    final = wait_for_final(client, accepted["id"], auth)
    assert final["status"] == "failed"
    assert "No valid records" in final["error"]
    assert [(s["name"], s["status"]) for s in final["steps"]] == [
        ("validate", "failed"),
        ("mappings", "cancelled"),
        ("discovery", "cancelled"),
    ]
    issues = client.get(f"/api/v1/imports/{accepted['id']}/errors", headers=auth).get_json()
    assert [(i["row_number"], i["code"]) for i in issues["items"]] == [
        (1, "required-value"),
        (2, "required-value"),
    ]


def test_raw_records_are_stored_before_the_answer(client, auth, resources):
    content, _ = messy_csv_bytes(50)
    accepted = upload_file(client, auth, content, "fifty.csv").get_json()
    with resources.session_factory() as session:
        stored = session.scalar(
            select(func.count()).where(RawImportRecord.import_id == accepted["id"])
        )
    assert stored == 50 == accepted["records_stored"]
    wait_for_final(client, accepted["id"], auth)


def test_duplicates_are_rows_equal_in_every_cell_extra_cells_too(client, auth):
    content = (
        b"Host Name,IP Addr\n"
        b"web-1,10.0.0.1\n"
        b"web-1,10.0.0.1\n"
        b"web-1,10.0.0.1,spare\n"
        b"web-1,10.0.0.1,spare\n"
        b"web-1,10.0.0.1,other\n"
        b"web-2,10.0.0.1\n"
    )
    response = upload_file(client, auth, content, "dups.csv")
    assert response.status_code == 202, response.get_json()
    final = wait_for_final(client, response.get_json()["id"], auth)
    issues = all_pages(client, f"/api/v1/imports/{final['id']}/errors", auth)
    duplicates = [(i["row_number"], i["message"]) for i in issues if i["code"] == "duplicate-row"]
    assert duplicates == [(2, "Row 2 duplicates row 1."), (4, "Row 4 duplicates row 3.")]
