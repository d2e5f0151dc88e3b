"""Polling helpers for tests that wait on a real worker."""

from __future__ import annotations

import csv
import io
import time

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
