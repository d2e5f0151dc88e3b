"""The merge queue in Chromium: a person approves one weak merge and splits another, each after
the page asks for confirmation."""

from __future__ import annotations

import io
import uuid

from playwright.sync_api import Page, expect

from tests.helpers import csv_bytes, wait_for_final


def imported(client, headers, rows: list[list[str]], engagement: str) -> None:
    body = csv_bytes(["Host Name", "IP Addr", "Env"], rows)
    response = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(body), "hosts.csv"), "engagement": engagement},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert wait_for_final(client, response.get_json()["id"], headers)["status"] == "completed"


def test_approve_one_merge_and_split_another(signed_in: Page, api_key, client):
    headers = {"Authorization": f"Bearer {api_key}"}
    engagement = uuid.uuid4().hex
    imported(
        client, headers, [["bq-1", "10.3.0.1", "dev"], ["bq-2", "10.3.0.2", "dev"]], engagement
    )
    # Known by their addresses only: too weak a match to merge by itself.
    imported(
        client,
        headers,
        [["10.3.0.1", "10.3.0.1", "prod"], ["10.3.0.2", "10.3.0.2", "prod"]],
        engagement,
    )
    page = signed_in
    page.click("#nav-merges")
    rows = page.locator("#merges tbody tr")
    expect(rows).to_have_count(2)
    first = page.locator("#merges tr[data-name='10.3.0.1']")
    second = page.locator("#merges tr[data-name='10.3.0.2']")

    # Dismissed, the confirmation leaves the merge waiting.
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    first.locator("button.approve").click()
    expect(rows).to_have_count(2)
    assert asked == ["Merge 10.3.0.1 into bq-1?"]

    page.once("dialog", lambda dialog: dialog.accept())
    first.locator("button.approve").click()
    expect(page.locator("#message")).to_contain_text("Merged into bq-1.")
    expect(rows).to_have_count(1)

    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    second.locator("button.split").click()
    expect(page.locator("#message")).to_contain_text("Kept apart from bq-2")
    expect(page.locator("#no-merges")).to_be_visible()
    assert asked[-1] == "Keep 10.3.0.2 and bq-2 apart?"

    assets = client.get("/api/v1/assets?limit=100", headers=headers).get_json()["items"]
    by_name = {asset["name"]: asset for asset in assets}
    assert set(by_name) == {"bq-1", "bq-2", "10.3.0.2"}
    # The newer import's value won.
    assert by_name["bq-1"]["environment"] == "production"
    page.click("#merge-status a:has-text('split')")
    expect(page.locator("#merges tbody tr")).to_have_count(1)
    expect(page.locator("#merges tr[data-name='10.3.0.2']")).to_contain_text("split")
