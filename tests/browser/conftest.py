"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the app served
on localhost by a real HTTP server, with the suite's real worker behind it."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
import uuid
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from web import create_app

CHROMIUM = os.environ.get("IMPORTER_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# This machine's network is closed: without these, Chromium keeps dialling Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    if shutil.which(CHROMIUM) or os.path.exists(CHROMIUM):
        return
    # CI installs Chromium and sets IMPORTER_REQUIRE_BROWSER: there a missing browser must fail.
    if os.environ.get("IMPORTER_REQUIRE_BROWSER"):
        raise pytest.UsageError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def live_server(resources, celery_worker):
    """The app on a real port of 127.0.0.1, threaded as a browser needs it."""
    settings = resources.settings.model_copy(update={"secret_key": secrets.token_hex(32)})
    app = create_app(settings, resources)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, live_server, request):
    """A fresh browser context (no cookies); a screenshot is kept when the test fails."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    # The dashboard's Content-Security-Policy refuses inline scripts and styles: a page that
    # needs one is broken in every browser, and Chromium says so on its console.
    refused = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and refused.append(message.text),
    )
    yield page
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    context.close()
    assert not refused, f"the page broke its Content-Security-Policy: {refused}"


@pytest.fixture()
def api_key(resources) -> str:
    return resources.services.api_keys.create(f"browser-{uuid.uuid4().hex[:8]}").key


@pytest.fixture()
def signed_in(page, api_key):
    page.goto("/dashboard/sign-in")
    page.fill("#api-key", api_key)
    page.click("#sign-in button[type=submit]")
    page.wait_for_url("**/dashboard/imports")
    return page
