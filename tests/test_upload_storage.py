"""Records reach raw_import_records exactly as uploaded, through the COPY text lines."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import delete, func, select

from importer.models import ClientAccount, RawImportRecord
from importer.services.storage import copy_json
from tests.helpers import wait_for_final

TRICKY_VALUES = [
    "back\\slash",
    "\\N",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "crlf\r\nend",
    'quote " and \\" escaped',
    "ünïcödé, 中文, emoji 🚀",
    "\\\\two",
    "",
]


def upload_file(client, headers, content: bytes, filename: str, **fields):
    data = {"file": (io.BytesIO(content), filename), **fields}
    return client.post(
        "/api/v1/imports", data=data, headers=headers, content_type="multipart/form-data"
    )


def stored_records(client, headers, import_id: str) -> list[dict]:
    body = client.get(f"/api/v1/imports/{import_id}/records?limit=1000", headers=headers)
    return body.get_json()["items"]


def csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def test_csv_values_with_copy_escapes_are_stored_exactly(client, auth):
    lines = ["name,value"] + [f"row{i},{csv_cell(v)}" for i, v in enumerate(TRICKY_VALUES)]
    lines.append("extra,x,beyond\\the,header\ttab")
    response = upload_file(client, auth, "\r\n".join(lines).encode(), "tricky.csv")
    assert response.status_code == 202, response.get_json()

    items = stored_records(client, auth, response.get_json()["id"])
    assert [item["values"] for item in items[: len(TRICKY_VALUES)]] == [
        {"name": f"row{i}", "value": v} for i, v in enumerate(TRICKY_VALUES)
    ]
    assert all(item["extra_values"] is None for item in items[: len(TRICKY_VALUES)])
    assert items[-1]["extra_values"] == ["beyond\\the", "header\ttab"]
    assert [item["row_number"] for item in items] == list(range(1, len(TRICKY_VALUES) + 2))


def test_json_values_beyond_orjson_are_stored_exactly(client, auth):
    records = [
        {"big": 2**64 + 1, "negative": -(2**70), "text": "é\\\t"},
        {"nested": {"list": [1, 2.5, None, True, "\\"]}, "big": 10**30},
    ]
    response = client.post(
        "/api/v1/imports", json={"records": records, "filename": "r.json"}, headers=auth
    )
    assert response.status_code == 202, response.get_json()
    items = stored_records(client, auth, response.get_json()["id"])
    assert [item["values"] for item in items] == records


@pytest.mark.parametrize(
    "value",
    [{"a": "x\\y\tz\n"}, {"a": 2**64}, ["\\N", None], {"k": "ü🚀"}, {"a": -(2**63)}],
)
def test_copy_json_is_json_with_only_backslashes_escaped(value):
    text = copy_json(value)
    assert b"\t" not in text and b"\n" not in text and b"\r" not in text
    # Undoing COPY's text escaping (backslashes only here) gives the JSON back.
    assert json.loads(text.replace(b"\\\\", b"\\")) == value


@pytest.mark.usefixtures("celery_worker")
def test_an_accounts_raw_records_go_with_it(client, make_account, resources):
    # raw_import_records has no foreign key of its own to client_accounts (migration 0004):
    # its import's key deletes it with the account.
    account_id, headers = make_account()
    response = upload_file(client, headers, b"host,ip\na,1\nb,2\n", "gone.csv")
    assert response.status_code == 202, response.get_json()
    # Deleted once its import is done: deleting an account while a worker holds its runs can
    # deadlock with the worker's run locks (no route deletes an account).
    wait_for_final(client, response.get_json()["id"], headers)
    with resources.session_factory() as session:
        assert session.scalar(count_raw_records(account_id)) == 2
        session.execute(delete(ClientAccount).where(ClientAccount.id == account_id))
        session.commit()
        assert session.scalar(count_raw_records(account_id)) == 0


def count_raw_records(account_id):
    return select(func.count()).where(RawImportRecord.client_account_id == account_id)
