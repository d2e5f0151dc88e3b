"""What a person does in the dashboard, in Chromium: sign in, upload, approve, cancel, retry."""

from __future__ import annotations

import csv
import io
import re
import uuid
from contextlib import contextmanager

import psycopg
from playwright.sync_api import Page, expect

from tests.helpers import wait_for

OS_NAMES = ["Ubuntu 22.04", "Windows Server 2012 R2", "RHEL 8", "CentOS 7"]
ENVIRONMENTS = ["prod", "Development", "UAT"]
LONG = 60_000


def messy_export(rows: int, bad_ips: int = 3) -> tuple[bytes, int]:
    """A CMDB export whose host column says nothing ("Srvr"), with a few unusable IP addresses.

    Returns the file and the number of rows that make an asset.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Srvr", "IP Addr", "Operating System", "Environment", "CPU Cores"])
    for n in range(1, rows + 1):
        ip = "not-an-ip" if n <= bad_ips else f"10.1.{n // 256}.{n % 256}"
        writer.writerow([f"node-{n}", ip, OS_NAMES[n % 4], ENVIRONMENTS[n % 3], str(n % 8 + 1)])
    return out.getvalue().encode(), rows - bad_ips


def upload(page: Page, content: bytes, name: str = "cmdb.csv", *, drop: bool = False) -> str:
    """Upload through the page's form (or by dropping the file) and return the import's id."""
    page.click("#nav-upload")
    # The drop zone listens once the page's scripts have run.
    page.wait_for_load_state("load")
    if drop:
        drop_file(page, "#drop-zone", content, name)
    else:
        page.set_input_files("#file", {"name": name, "mimeType": "text/csv", "buffer": content})
    page.select_option("#import-type", "servers")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/dashboard/imports/[0-9a-f-]{36}$"), timeout=LONG)
    return page.url.rsplit("/", 1)[1]


def drop_file(page: Page, selector: str, content: bytes, name: str) -> None:
    """Drag a file from the desktop onto ``selector``, as the browser reports it to the page."""
    transfer = page.evaluate_handle(
        """([text, name]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, {type: "text/csv"}));
            return transfer;
        }""",
        [content.decode(), name],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(selector, event, {"dataTransfer": transfer})


@contextmanager
def held(resources, table: str):
    """Keep the step that first writes ``table`` blocked there until the block ends."""
    with psycopg.connect(resources.settings.psycopg_url) as conn:
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
        conn.rollback()


def status(page: Page):
    return page.locator("#import-status")


def test_a_bad_key_is_refused_and_a_good_one_signs_in_and_out(page, api_key):
    page.goto("/dashboard/imports")
    page.wait_for_url("**/dashboard/sign-in")

    page.fill("#api-key", "imp_not-a-real-key")
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#error")).to_contain_text("not valid")

    page.fill("#api-key", api_key)
    page.click("#sign-in button[type=submit]")
    page.wait_for_url("**/dashboard/imports")
    expect(page.locator("#account")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "session")
    assert cookie["httpOnly"] is True
    assert api_key not in cookie["value"]

    page.click("#sign-out button[type=submit]")
    page.wait_for_url("**/dashboard/sign-in")
    page.goto("/dashboard/imports")
    page.wait_for_url("**/dashboard/sign-in")


def test_upload_approve_mapping_and_see_the_inventory(signed_in: Page):
    page = signed_in
    content, assets = messy_export(40)
    import_id = upload(page, content, drop=True)

    # The host column's name says nothing: the flow stops for a person to map it.
    expect(status(page)).to_have_text("waiting_for_approval", timeout=LONG)
    expect(page.locator('#timeline li[data-phase="field_mapping"] .state')).to_contain_text(
        "waiting_for_approval"
    )
    expect(page.locator('#timeline li[data-step="validate"] .state')).to_contain_text("succeeded")
    expect(page.locator("#timeline a.flower-link").first).to_have_attribute(
        "href", re.compile(r"/task/[0-9a-f-]{36}$")
    )

    issues = page.locator("#issues tbody tr")
    expect(issues).to_have_count(3)
    page.select_option("#issues-filter select[name=code]", "type-error")
    page.fill("#issues-filter input[name=field]", "no-such-field")
    page.locator("#issues-filter").evaluate("form => form.requestSubmit()")
    expect(issues).to_have_count(0)

    row = page.locator('#mappings tr[data-source="Srvr"]')
    expect(row.locator(".samples")).to_contain_text("node-1")
    row.locator(".target select").select_option("hostname")
    page.click("#approve")
    expect(status(page)).to_have_text("completed", timeout=LONG)
    for phase in (
        "data_cleansing",
        "asset_inventory",
        "dependency_analysis",
        "tech_debt_assessment",
    ):
        expect(page.locator(f'#timeline li[data-phase="{phase}"] .state')).to_contain_text(
            "succeeded"
        )

    page.goto("/dashboard/imports")
    listed = page.locator(f'#imports tr[data-import-id="{import_id}"]')
    expect(listed.locator(".status")).to_have_text("completed")
    expect(listed.locator(".rows")).to_contain_text("40")

    page.click("#nav-inventory")
    servers = page.locator("#chart-asset-type rect title", has_text="server")
    expect(servers).to_have_text(re.compile(rf":\s*{assets}$"))
    families = page.locator("#chart-os-family rect title")
    expect(families.filter(has_text="windows")).to_have_count(1)
    expect(page.locator("#chart-environment rect")).to_have_count(3)
    expect(page.locator("#eos-counts")).to_contain_text("critical")


def test_cancel_a_running_import_then_retry_it(signed_in: Page, resources):
    page = signed_in
    content, _ = messy_export(30, bad_ips=1)
    with held(resources, "import_validation_issues"):
        import_id = upload(page, content.replace(b"Srvr", b"Host Name"), name="held.csv")
        expect(page.locator('#timeline li[data-step="validate"] .state')).to_contain_text(
            "running", timeout=LONG
        )
        page.click("#cancel")
        expect(page.locator("#message")).to_contain_text(re.compile("cancel", re.I))
        expect(status(page)).to_have_text("cancelled")

    # Retry once the stopped step has let go of the import.
    def step_settled() -> bool:
        page.reload()
        state = page.locator('#timeline li[data-step="validate"] .state').inner_text()
        return "running" not in state

    wait_for(step_settled, timeout=60, interval=0.5)
    page.click("#retry")
    expect(page.locator("#message")).to_contain_text(re.compile("retr", re.I))
    expect(status(page)).to_have_text("completed", timeout=LONG)
    listed_id = uuid.UUID(import_id)
    page.goto("/dashboard/imports")
    expect(page.locator(f'#imports tr[data-import-id="{listed_id}"] .status')).to_have_text(
        "completed"
    )


def test_search_an_asset_see_a_values_source_and_follow_a_dependency(signed_in: Page):
    page = signed_in
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    header = "Host Name,IP Addr,Operating System,Env,Depends On\n"
    content = (
        header
        + "web-7,10.7.0.1,Ubuntu 22.04,prod,app-7\n"
        + "app-7,10.7.0.2,Windows Server 2019,prod,db-7\n"
        + "db-7,10.7.0.3,RHEL 8,prod,\n"
    ).encode()
    import_id = upload(page, content, name="apps.csv")
    expect(status(page)).to_have_text("completed", timeout=LONG)

    page.click("#nav-assets")
    page.fill("#asset-search", "APP-7")
    page.click("#asset-filters button[type=submit]")
    rows = page.locator("#assets tbody tr")
    expect(rows).to_have_count(1)
    rows.locator("a.asset-link").click()
    expect(page.locator("#asset-name")).to_have_text("app-7")

    os_name = page.locator('#asset-fields tr[data-field="os_name"]')
    expect(os_name.locator(".value")).to_have_text("Windows Server 2019")
    expect(os_name.locator(".source-import")).to_have_text("apps.csv")
    expect(os_name.locator(".source-import")).to_have_attribute(
        "href", f"/dashboard/imports/{import_id}"
    )
    expect(os_name.locator(".source-row")).to_have_text("2")
    expect(os_name.locator(".source-columns")).to_have_text("Operating System")
    expect(page.locator("#asset-imports .matched-on")).to_contain_text("created")

    graph = page.locator("#dependency-graph")
    expect(graph.locator("g.node.dependant title")).to_have_text("web-7")
    graph.locator("a.node-link", has=page.locator("g.node.dependency")).click()
    expect(page.locator("#asset-name")).to_have_text("db-7")
    expect(page.locator("#dependency-graph g.node.dependant title")).to_have_text("app-7")
    assert not errors, errors
