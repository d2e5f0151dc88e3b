"""Polling helpers for tests that wait on a real worker."""

from __future__ import annotations

import csv
import io
import time
import uuid

FINAL_STATUSES = {"completed", "failed", "cancelled"}


def wait_for_final(
    client, import_id: str, headers: dict, timeout: float = 90, statuses=FINAL_STATUSES
) -> dict:
    """The import once its status is one of ``statuses`` (by default, a final one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/imports/{import_id}", headers=headers).get_json()
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    raise AssertionError(f"import {import_id} did not finish: {body}")


def uploaded(client, headers: dict, body: bytes, filename: str = "export.csv", **form: str) -> str:
    """The id of the accepted upload of ``body``; ``form`` holds the other fields (engagement,
    import_type, sheet), a fresh engagement by default."""
    form.setdefault("engagement", uuid.uuid4().hex)
    response = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(body), filename), **form},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def import_completed(
    client, headers: dict, body: bytes, filename: str, timeout: float = 90, **form: str
) -> dict:
    """The import of ``body``, uploaded and run to completion by the worker."""
    final = wait_for_final(
        client, uploaded(client, headers, body, filename, **form), headers, timeout
    )
    assert final["status"] == "completed", final
    return final


def wait_for(predicate, timeout: float = 30, interval: float = 0.05, describe=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met in time: {describe() if describe else ''}")


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    """A small CSV file: its header, then its rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()
