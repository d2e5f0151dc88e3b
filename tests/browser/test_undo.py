"""Undo and commit again in Chromium: a person undoes an import from its page, after the page
asks for confirmation, sees it end undone with its assets gone, then commits it again."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.test_dashboard import LONG, status, upload


def test_undo_an_import_then_commit_it_again(signed_in: Page):
    page = signed_in
    content = b"Host Name,IP Addr,Operating System\nundo-1,10.9.0.1,Ubuntu 22.04\n"
    import_id = upload(page, content, name="undo.csv")
    expect(status(page)).to_have_text("completed", timeout=LONG)

    # Dismissed, the confirmation leaves the import as it is.
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("#undo")
    assert asked and asked[0].startswith("Undo this import?")
    expect(status(page)).to_have_text("completed")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#undo")
    expect(page.locator("#message")).to_contain_text(re.compile("undo", re.I))
    expect(status(page)).to_have_text("undone", timeout=LONG)
    expect(page.locator("#undo")).to_be_hidden()

    page.click("#nav-assets")
    page.fill("#asset-search", "undo-1")
    page.click("#asset-filters button[type=submit]")
    expect(page.locator("#no-assets")).to_be_visible()

    page.goto(f"/dashboard/imports/{import_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#commit")
    expect(status(page)).to_have_text("completed", timeout=LONG)
    page.click("#nav-assets")
    page.fill("#asset-search", "undo-1")
    page.click("#asset-filters button[type=submit]")
    expect(page.locator("#assets tbody a.asset-link")).to_have_text("undo-1")
