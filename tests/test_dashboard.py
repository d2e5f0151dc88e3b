"""The dashboard through Flask's test client, against the real database, Redis and worker:
sign-in, CSRF, cookie flags, tenant isolation, upload, issues, mapping review, cancel, retry and
the inventory's charts. (The browser's side is in tests/browser/.)"""

from __future__ import annotations

import html
import io
import re
import uuid
from collections import Counter

import pytest
from flask.sessions import SecureCookieSessionInterface

from importer.celery_app import create_celery
from importer.resources import Resources
from tests.helpers import csv_bytes, import_completed, wait_for_final
from web import create_app
from web.dashboard.security import WeakSecretKey

pytestmark = pytest.mark.usefixtures("celery_worker")

SECRET_KEY = "dashboard-test-" + "k" * 40
CSV = b"Host Name,IP Addr,Operating System,Env\nweb-1,10.0.0.1,Ubuntu 22.04,prod\n"


def dashboard_app(resources, **settings):
    updated = resources.settings.model_copy(update={"secret_key": SECRET_KEY, **settings})
    app = create_app(updated, resources)
    app.testing = True
    return app


@pytest.fixture(scope="module")
def dash(resources):
    return dashboard_app(resources)


@pytest.fixture()
def browser(dash):
    return dash.test_client()


@pytest.fixture(scope="module")
def idle_dash(resources):
    """A dashboard whose tasks go to a queue no worker consumes: imports stay where they are."""
    settings = resources.settings.model_copy(
        update={"task_queue": f"{resources.settings.task_queue}-dash-idle"}
    )
    idle = Resources(settings)
    create_celery(settings, idle)
    app = dashboard_app(idle)
    yield app
    idle.engine.dispose()


def key_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def csrf_token(page: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def text_of(page: str, element_id: str) -> str:
    """The text inside the element with this id (tags dropped, whitespace collapsed)."""
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(\w+)>', page, re.S)
    assert found, f"no #{element_id} in the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def body(response) -> str:
    return response.get_data(as_text=True)


def sign_in(client, headers) -> str:
    """Signs in with the account's key; the CSRF token of the signed-in session."""
    token = csrf_token(body(client.get("/dashboard/sign-in")))
    response = client.post(
        "/dashboard/sign-in", data={"api_key": key_of(headers), "csrf_token": token}
    )
    assert response.status_code == 302, body(response)
    assert response.headers["Location"] == "/dashboard/imports"
    return csrf_token(body(client.get("/dashboard/imports")))


def dashboard_upload(client, token, content=CSV, filename="servers.csv", **fields):
    return client.post(
        "/dashboard/upload",
        data={"file": (io.BytesIO(content), filename), **fields},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
        content_type="multipart/form-data",
    )


def test_signed_out_pages_lead_to_sign_in(browser):
    assert browser.get("/").headers["Location"] == "/dashboard/"
    assert browser.get("/dashboard/").headers["Location"].startswith("/dashboard/sign-in")
    for path in ("/dashboard/imports", "/dashboard/upload", "/dashboard/inventory"):
        response = browser.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == "/dashboard/sign-in"
    page = body(browser.get("/dashboard/sign-in"))
    assert '<form id="sign-in"' in page
    assert 'name="api_key" id="api-key" type="password"' in page
    # A script asking for data gets a 401 in JSON rather than a page.
    answer = browser.get("/dashboard/imports", headers={"Accept": "application/json"})
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (401, "signed-out")


def test_dashboard_pages_forbid_foreign_scripts_styles_and_framing(browser):
    """Every dashboard answer, signed in or not, page or error, carries the policy; the API's
    own answers are not pages and don't need it."""
    for path in ("/dashboard/sign-in", "/dashboard/imports", "/dashboard/no-such-page"):
        headers = browser.get(path).headers
        policy = dict(
            directive.strip().split(" ", 1)
            for directive in headers["Content-Security-Policy"].split(";")
        )
        assert policy["script-src"] == "'self'"
        assert policy["style-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_sign_in_shows_the_account_and_sign_out_ends_the_session(browser, resources):
    name = f"dash-{uuid.uuid4().hex[:8]}"
    issued = resources.services.api_keys.create(name)
    token = csrf_token(body(browser.get("/dashboard/sign-in")))
    bad = browser.post("/dashboard/sign-in", data={"api_key": "imp_nope", "csrf_token": token})
    assert bad.status_code == 401
    assert "not valid" in text_of(body(bad), "error")

    token = sign_in(browser, {"Authorization": f"Bearer {issued.key}"})
    page = body(browser.get("/dashboard/imports"))
    assert text_of(page, "account") == name
    assert '<form id="sign-out"' in page

    out = browser.post("/dashboard/sign-out", data={"csrf_token": token})
    assert out.headers["Location"] == "/dashboard/sign-in"
    assert browser.get("/dashboard/imports").status_code == 302


def test_sign_in_leads_back_to_the_page_asked_for(browser, make_account):
    _, headers = make_account()
    assert browser.get("/dashboard/inventory").headers["Location"] == "/dashboard/sign-in"
    token = csrf_token(body(browser.get("/dashboard/sign-in")))
    response = browser.post(
        "/dashboard/sign-in", data={"api_key": key_of(headers), "csrf_token": token}
    )
    assert response.headers["Location"] == "/dashboard/inventory"


def test_the_session_keeps_the_key_id_not_the_key_and_a_revoked_key_signs_out(
    dash, browser, make_account, resources
):
    _, headers = make_account()
    response = browser.post(
        "/dashboard/sign-in",
        data={
            "api_key": key_of(headers),
            "csrf_token": csrf_token(body(browser.get("/dashboard/sign-in"))),
        },
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    value = browser.get_cookie("session").value
    assert key_of(headers) not in value
    stored = SecureCookieSessionInterface().get_signing_serializer(dash).loads(value)
    assert set(stored) >= {"key_id"} and key_of(headers) not in str(stored)

    assert browser.get("/dashboard/imports").status_code == 200
    assert resources.services.api_keys.revoke(key_of(headers))
    after = browser.get("/dashboard/imports")
    assert after.status_code == 302 and "/dashboard/sign-in" in after.headers["Location"]
    page = body(browser.get(after.headers["Location"]))
    assert "revoked or has expired" in text_of(page, "message")


def test_secure_cookie_flag_follows_the_setting(resources, make_account):
    client = dashboard_app(resources, session_cookie_secure=False).test_client()
    _, headers = make_account()
    token = csrf_token(body(client.get("/dashboard/sign-in")))
    response = client.post(
        "/dashboard/sign-in", data={"api_key": key_of(headers), "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" not in cookie


def test_forms_without_a_csrf_token_are_refused_not_crashed(browser, client, make_account):
    _, headers = make_account()
    refused = browser.post("/dashboard/sign-in", data={"api_key": key_of(headers)})
    assert refused.status_code == 400
    assert "could not be accepted" in text_of(body(refused), "error")

    sign_in(browser, headers)
    unknown = uuid.uuid4()
    for path in (
        "/dashboard/sign-out",
        f"/dashboard/imports/{unknown}/cancel",
        f"/dashboard/imports/{unknown}/retry",
        f"/dashboard/imports/{unknown}/mappings",
    ):
        assert browser.post(path, data={}).status_code == 400, path
    wrong = browser.post(f"/dashboard/imports/{unknown}/cancel", data={"csrf_token": "forged"})
    assert wrong.status_code == 400
    as_json = dashboard_upload(browser, token="")
    assert as_json.status_code == 400
    assert as_json.get_json()["error"]["code"] == "csrf-failed"
    # Still signed in: the refused form changed nothing.
    assert browser.get("/dashboard/imports").status_code == 200


def test_a_short_secret_key_is_refused_without_being_shown(resources):
    with pytest.raises(WeakSecretKey) as refused:
        dashboard_app(resources, secret_key="short-secret")
    assert "short-secret" not in str(refused.value)


def test_the_api_needs_no_csrf_token_and_runs_without_a_secret_key(client, auth):
    """The suite's app has no secret key: the API works, the dashboard says it is off."""
    response = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(CSV), "api.csv"), "engagement": uuid.uuid4().hex},
        headers=auth,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    off = client.get("/dashboard/imports")
    assert off.status_code == 503
    assert "IMPORTER_SECRET_KEY" in body(off)


def test_upload_from_the_dashboard_stores_an_import(browser, client, make_account):
    _, headers = make_account()
    token = sign_in(browser, headers)
    response = dashboard_upload(browser, token, import_type="servers", engagement="dash")
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    assert accepted["records_stored"] == 1
    assert accepted["url"] == f"/dashboard/imports/{accepted['id']}"
    stored = client.get(f"/api/v1/imports/{accepted['id']}", headers=headers).get_json()
    assert (stored["filename"], stored["import_type"], stored["engagement"]) == (
        "servers.csv",
        "servers",
        "dash",
    )
    final = wait_for_final(client, accepted["id"], headers)
    assert final["status"] == "completed"

    page = body(browser.get("/dashboard/imports"))
    row = re.search(rf'<tr data-import-id="{accepted["id"]}".*?</tr>', page, re.S).group(0)
    assert '<td class="status"><span class="badge s-completed">completed</span>' in row
    assert '<td class="rows num">1</td>' in row
    assert '<td class="progress num">100%</td>' in row
    assert 'class="import-link"' in row

    unknown_type = dashboard_upload(browser, token, import_type="toasters", engagement="x")
    assert unknown_type.status_code == 422
    assert "toasters" in unknown_type.get_json()["error"]["message"]
    no_file = browser.post(
        "/dashboard/upload",
        data={"import_type": "servers"},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )
    assert no_file.get_json()["error"]["code"] == "missing-file"


def test_a_too_large_upload_answers_the_limit_in_json(resources, make_account):
    small = dashboard_app(resources, max_upload_bytes=2_000).test_client()
    _, headers = make_account()
    token = sign_in(small, headers)
    response = dashboard_upload(small, token, CSV + b"web-2,10.0.0.2,Ubuntu,dev\n" * 200)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload-too-large"


def test_another_account_cannot_see_or_touch_an_import(browser, dash, client, make_account):
    _, owner = make_account()
    _, stranger = make_account()
    owner_client = dash.test_client()
    accepted = dashboard_upload(owner_client, sign_in(owner_client, owner), engagement="iso")
    import_id = accepted.get_json()["id"]
    wait_for_final(client, import_id, owner)
    before = client.get(f"/api/v1/imports/{import_id}", headers=owner).get_json()

    token = sign_in(browser, stranger)
    assert browser.get(f"/dashboard/imports/{import_id}").status_code == 404
    assert browser.get("/dashboard/imports/not-a-uuid").status_code == 404
    for action in ("cancel", "retry", "mappings"):
        response = browser.post(
            f"/dashboard/imports/{import_id}/{action}",
            data={"csrf_token": token, "source-0": "Host Name", "target-0": "hostname"},
        )
        assert response.status_code == 404, action
    assert import_id not in body(browser.get("/dashboard/imports"))
    # Every dashboard route that takes an import id, including any added later.
    walked = 0
    for rule in dash.url_map.iter_rules():
        if not rule.rule.startswith("/dashboard/") or "import_id" not in rule.arguments:
            continue
        url = rule.rule.replace("<import_id>", import_id)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = browser.open(url, method=method, data={"csrf_token": token})
            assert response.status_code == 404, (method, url)
            walked += 1
    assert walked >= 4
    assert client.get(f"/api/v1/imports/{import_id}", headers=owner).get_json() == before


def test_issues_are_listed_and_filtered_by_code_and_field(browser, client, make_account):
    _, headers = make_account()
    token = sign_in(browser, headers)
    content = (
        b"Host Name,IP Addr,CPU Cores\n"
        b"web-1,10.0.0.1,4\n"
        b",,\n"
        b"web-2,10.0.0.2,four\n"
        b"web-3,10.0.0.3,8,extra\n"
        b"web-1,10.0.0.1,4\n"
    )
    import_id = dashboard_upload(browser, token, content, engagement="issues").get_json()["id"]
    wait_for_final(client, import_id, headers, statuses={"completed", "waiting_for_approval"})
    issues = client.get(f"/api/v1/imports/{import_id}/errors", headers=headers).get_json()["items"]
    codes = Counter(issue["code"] for issue in issues)
    assert len(codes) >= 2, codes

    page = body(browser.get(f"/dashboard/imports/{import_id}"))
    assert '<form id="issues-filter"' in page
    assert len(re.findall(r'<tr data-code="', page)) == len(issues)
    code = sorted(codes)[0]
    filtered = body(browser.get(f"/dashboard/imports/{import_id}?code={code}"))
    assert re.findall(r'<tr data-code="([^"]+)"', filtered) == [code] * codes[code]

    nul = browser.get(f"/dashboard/imports/{import_id}?field=a%00b")
    assert nul.status_code == 400 and "NUL" in text_of(body(nul), "error")

    with_field = [i for i in issues if i["field"]]
    assert with_field, issues
    field = with_field[0]["field"]
    by_field = body(browser.get(f"/dashboard/imports/{import_id}?field={field.lower()}"))
    shown = re.findall(r'<td class="field">([^<]*)</td>', by_field)
    assert shown and all(field.lower() in html.unescape(f).lower() for f in shown)
    assert len(shown) == sum(
        1 for i in issues if i["field"] and field.lower() in i["field"].lower()
    )


def test_mapping_review_approves_and_resumes_the_flow(browser, client, make_account):
    _, headers = make_account()
    token = sign_in(browser, headers)
    header = ["Srvr", "Addr1", "OS"]
    rows = [[f"node-{n}", f"192.168.7.{n}", "Ubuntu 22.04"] for n in range(1, 6)]
    import_id = dashboard_upload(browser, token, csv_bytes(header, rows)).get_json()["id"]
    wait_for_final(client, import_id, headers, statuses={"waiting_for_approval"})

    page = body(browser.get(f"/dashboard/imports/{import_id}"))
    assert text_of(page, "import-status") == "waiting_for_approval"
    assert re.search(
        r'<li data-phase="field_mapping"[^>]*>\s*<span class="name">field_mapping'
        r'</span>\s*<span class="state">waiting_for_approval</span>',
        page,
    )
    form = re.search(r'<form id="mappings".*?</form>', page, re.S).group(0)
    sources = re.findall(r'<tr data-source="([^"]+)">', form)
    assert sources == header
    addr = re.search(r'<tr data-source="Addr1">.*?</tr>', form, re.S).group(0)
    assert '<td class="confidence num">100%</td>' in addr
    assert "192.168.7.1, 192.168.7.2, 192.168.7.3" in addr
    assert 'value="ip_address" selected' in addr
    assert '<button type="submit" id="approve"' in form

    # Keep every suggestion, name Srvr's target: as a person would in the form.
    data = {"csrf_token": token}
    for position, source in enumerate(sources):
        row = re.search(rf'<tr data-source="{source}">.*?</tr>', form, re.S).group(0)
        chosen = re.search(r'<option value="([^"]*)" selected', row)
        data[f"source-{position}"] = source
        data[f"target-{position}"] = "hostname" if source == "Srvr" else chosen.group(1)
    response = browser.post(f"/dashboard/imports/{import_id}/mappings", data=data)
    assert response.headers["Location"] == f"/dashboard/imports/{import_id}"
    shown = body(browser.get(response.headers["Location"]))
    assert "discovery flow resumed" in text_of(shown, "message")
    assert wait_for_final(client, import_id, headers)["status"] == "completed"
    mappings = client.get(f"/api/v1/imports/{import_id}/mappings", headers=headers).get_json()
    srvr = next(m for m in mappings["items"] if m["source_column"] == "Srvr")
    assert (srvr["target_field"], srvr["status"]) == ("hostname", "approved")
    assets = client.get("/api/v1/assets?limit=100", headers=headers).get_json()["items"]
    assert sorted(a["name"] for a in assets) == [f"node-{n}" for n in range(1, 6)]


def test_a_doubled_target_is_explained_not_saved(browser, client, make_account):
    _, headers = make_account()
    token = sign_in(browser, headers)
    content = csv_bytes(["Srvr", "Other"], [["a-1", "b-1"], ["a-2", "b-2"]])
    import_id = dashboard_upload(browser, token, content).get_json()["id"]
    wait_for_final(client, import_id, headers, statuses={"waiting_for_approval"})
    data = {
        "csrf_token": token,
        "source-0": "Srvr",
        "target-0": "hostname",
        "source-1": "Other",
        "target-1": "hostname",
    }
    response = browser.post(f"/dashboard/imports/{import_id}/mappings", data=data)
    message = text_of(body(browser.get(response.headers["Location"])), "message")
    assert "Mappings not saved" in message and "same field" in message
    detail = client.get(f"/api/v1/imports/{import_id}", headers=headers).get_json()
    assert detail["status"] == "waiting_for_approval"


def test_cancel_and_retry_say_what_they_did(idle_dash, make_account):
    _, headers = make_account()
    browser = idle_dash.test_client()
    token = sign_in(browser, headers)
    import_id = dashboard_upload(browser, token, engagement="cancel").get_json()["id"]
    url = f"/dashboard/imports/{import_id}"

    page = body(browser.get(url))
    assert text_of(page, "import-status") == "stored"
    assert 'data-live="fast"' in page
    assert re.search(r'id="cancel" class="danger" >Cancel', page)
    assert re.search(r'id="retry" disabled hidden>Retry', page)
    for step in ("validate", "mappings", "discovery"):
        task = re.search(rf'<li data-step="{step}".*?</li>', page, re.S).group(0)
        assert re.search(r'class="flower-link" href="http://127\.0\.0\.1:5555/task/[\w-]+"', task)

    cancelled = browser.post(f"{url}/cancel", data={"csrf_token": token})
    assert cancelled.headers["Location"] == url
    page = body(browser.get(url))
    assert text_of(page, "message").startswith("Cancelled: 3 queued tasks revoked")
    assert text_of(page, "import-status") == "cancelled"
    assert 'data-live="slow"' in page
    assert re.search(r'id="cancel" class="danger" disabled hidden>', page)

    again = browser.post(f"{url}/cancel", data={"csrf_token": token})
    assert "Not cancelled" in text_of(body(browser.get(again.headers["Location"])), "message")

    retried = browser.post(f"{url}/retry", data={"csrf_token": token})
    page = body(browser.get(retried.headers["Location"]))
    assert text_of(page, "message") == "Retry: resumed from step validate."
    assert text_of(page, "import-status") == "validating"
    # Leave nothing unfinished in the idle queue's engagement.
    browser.post(f"{url}/cancel", data={"csrf_token": token})


def test_inventory_charts_count_the_accounts_assets(browser, client, make_account):
    _, headers = make_account()
    token = sign_in(browser, headers)
    empty = body(browser.get("/dashboard/inventory"))
    assert '<svg id="chart-asset-type"' in empty and "No assets yet" in empty

    rows = [
        ["app-1", "10.1.0.1", "Windows Server 2008 R2", "prod"],
        ["app-2", "10.1.0.2", "Windows Server 2022", "prod"],
        ["db-1", "10.1.0.3", "Red Hat Enterprise Linux 9.2", "dev"],
        ["lb-1", "10.1.0.4", "", "test"],
    ]
    content = csv_bytes(["Host Name", "IP Addr", "Operating System", "Env"], rows)
    import_id = dashboard_upload(browser, token, content).get_json()["id"]
    assert wait_for_final(client, import_id, headers)["status"] == "completed"
    assets = client.get("/api/v1/assets?limit=100", headers=headers).get_json()["items"]
    assert len(assets) == 4

    page = body(browser.get("/dashboard/inventory"))
    for chart, key in (
        ("asset-type", lambda a: a["asset_type"]),
        ("os-family", lambda a: a["os_family"] or "unknown"),
        ("environment", lambda a: a["environment"] or "unknown"),
    ):
        svg = re.search(rf'<svg id="chart-{chart}".*?</svg>', page, re.S).group(0)
        titles = re.findall(r"<rect [^>]*><title>([^<]+): (\d+)</title></rect>", svg)
        assert {label: int(n) for label, n in titles} == Counter(map(key, assets)), chart
        labels = re.findall(r'<text class="label"[^>]*>([^<]+)</text>', svg)
        assert sorted(labels) == sorted(label for label, _ in titles)
    severities = Counter(a["end_of_support"]["severity"] for a in assets)
    eos = re.search(r'<table id="eos-counts".*?</table>', page, re.S).group(0)
    shown = dict(re.findall(r'<tr data-severity="(\w+)">.*?<td class="count num">(\d+)</td>', eos))
    assert {k: int(v) for k, v in shown.items() if int(v)} == dict(severities)
    assert set(shown) == {"critical", "high", "medium", "ok", "unknown"}


def asset_ids(client, headers) -> dict[str, str]:
    items = client.get("/api/v1/assets?limit=100", headers=headers).get_json()["items"]
    return {asset["name"]: asset["id"] for asset in items}


def test_assets_are_searched_filtered_and_paged(browser, client, make_account):
    _, headers = make_account()
    sign_in(browser, headers)
    assert "No assets yet" in body(browser.get("/dashboard/assets"))
    rows = [
        ["app-1", "10.2.0.1", "SN-A1", "Windows Server 2022", "prod"],
        ["app-2", "10.2.0.2", "SN-A2", "Ubuntu 22.04", "dev"],
        ["db-1", "10.3.0.1", "SN-D1", "Ubuntu 22.04", "prod"],
    ]
    content = csv_bytes(["Host Name", "IP Addr", "Serial No", "Operating System", "Env"], rows)
    import_completed(client, headers, content, "assets.csv")
    ids = asset_ids(client, headers)

    def listed(**query) -> list[str]:
        response = browser.get("/dashboard/assets", query_string=query)
        assert response.status_code == 200, body(response)
        table = re.search(r'<table id="assets".*?</table>', body(response), re.S).group(0)
        return re.findall(r'<tr data-asset-id="([^"]+)">', table)

    assert sorted(listed()) == sorted(ids.values())
    assert sorted(listed(q="APP")) == sorted([ids["app-1"], ids["app-2"]])
    assert listed(q="10.3") == [ids["db-1"]]
    assert listed(q="sn-a2") == [ids["app-2"]]
    assert listed(q="app", environment="production") == [ids["app-1"]]
    assert listed(q=" ", type="", os_family="") == sorted(ids.values())  # blanks filter nothing
    assert listed(type="database") == [ids["db-1"]]
    # A page at a time, the search and filters kept from one page to the next.
    first = body(browser.get("/dashboard/assets", query_string={"q": "app", "limit": 1}))
    following = html.unescape(re.search(r'id="next-page" href="([^"]+)"', first).group(1))
    assert "q=app" in following and "limit=1" in following
    second = body(browser.get(following))
    shown = re.findall(r'<tr data-asset-id="([^"]+)">', first + second)
    assert sorted(shown) == sorted([ids["app-1"], ids["app-2"]])
    assert 'id="next-page"' not in second and 'id="first-page"' in second
    # Bad filters are a page that says so, never a 500.
    response = browser.get("/dashboard/assets?type=spaceship")
    assert response.status_code == 400 and "Unknown type" in body(response)
    assert browser.get("/dashboard/assets?q=a%00b").status_code == 400
    # Linked from the navigation and the inventory.
    inventory = body(browser.get("/dashboard/inventory"))
    assert 'id="nav-assets" href="/dashboard/assets"' in inventory
    assert 'id="browse-assets" href="/dashboard/assets"' in inventory


def test_an_asset_page_shows_each_values_source_its_imports_and_dependency_graph(
    browser, client, make_account
):
    _, headers = make_account()
    sign_in(browser, headers)
    header = ["Host Name", "IP Addr", "Operating System", "Env", "Depends On"]
    first = import_completed(
        client,
        headers,
        csv_bytes(
            header,
            [
                ["web-1", "10.4.0.1", "Ubuntu 22.04", "prod", "app-1"],
                ["app-1", "10.4.0.2", "Ubuntu 22.04", "prod", "db-1; legacy-mainframe"],
                ["db-1", "10.4.0.3", "RHEL 8", "prod", ""],
            ],
        ),
        "first.csv",
    )["id"]
    # app-1 again, from a newer export in another layout: its environment changes, its OS not
    # (a re-import replaces an asset's declared dependencies: the same ones again).
    second = import_completed(
        client,
        headers,
        csv_bytes(
            ["Server", "Environment", "Depends On"], [["app-1", "dev", "db-1; legacy-mainframe"]]
        ),
        "second.csv",
    )["id"]
    ids = asset_ids(client, headers)

    response = browser.get(f"/dashboard/assets/{ids['app-1']}")
    assert response.status_code == 200, body(response)
    page = body(response)
    assert text_of(page, "asset-name") == "app-1"
    fields = re.search(r'<table id="asset-fields".*?</table>', page, re.S).group(0)
    environment = re.search(r'<tr data-field="environment">.*?</tr>', fields, re.S).group(0)
    assert f'href="/dashboard/imports/{second}"' in environment
    assert "second.csv" in environment and "<code>Environment</code>" in environment
    assert 'class="source-row">1<' in environment
    os_name = re.search(r'<tr data-field="os_name">.*?</tr>', fields, re.S).group(0)
    assert f'href="/dashboard/imports/{first}"' in os_name and 'class="source-row">2<' in os_name
    assert "<code>Operating System</code>" in os_name
    imports = re.search(r'<table id="asset-imports".*?</table>', page, re.S).group(0)
    assert re.findall(r'data-import-id="([^"]+)"', imports) == [first, second]
    assert "created</span> 1" in imports and "hostname</span> 1" in imports

    graph = re.search(r'<svg id="dependency-graph".*?</svg>', page, re.S).group(0)
    linked = dict(
        re.findall(
            r'<a class="node-link" href="/dashboard/assets/([^"]+)"[^>]*>\s*'
            r'<g class="node (\w+)"',
            graph,
        )
    )
    assert linked == {ids["web-1"]: "dependant", ids["db-1"]: "dependency"}
    unresolved = re.findall(r'<g class="node unresolved"[^>]*>\s*<title>([^<]+)</title>', graph)
    assert unresolved == ["legacy-mainframe"]
    assert len(re.findall(r'<line class="edge"', graph)) == 3
    assert "<script" not in page.split("</main>")[0]

    # Another account's asset is not found, like an id that is none.
    _, stranger = make_account()
    sign_in(browser, stranger)
    assert browser.get(f"/dashboard/assets/{ids['app-1']}").status_code == 404
    assert browser.get("/dashboard/assets/not-an-id").status_code == 404
    assert ids["app-1"] not in body(browser.get("/dashboard/assets?q=app"))


def test_the_merge_queue_approves_splits_and_keeps_to_its_account(
    browser, dash, client, make_account
):
    _, owner = make_account()
    _, stranger = make_account()
    engagement = uuid.uuid4().hex
    header = ["Host Name", "IP Addr"]
    for rows in (
        [["mq-1", "10.2.0.1"], ["mq-2", "10.2.0.2"]],
        # Known by their addresses only: each waits beside the host its IP found.
        [["10.2.0.1", "10.2.0.1"], ["10.2.0.2", "10.2.0.2"]],
    ):
        response = client.post(
            "/api/v1/imports",
            data={
                "file": (io.BytesIO(csv_bytes(header, rows)), "mq.csv"),
                "engagement": engagement,
            },
            headers=owner,
            content_type="multipart/form-data",
        )
        assert wait_for_final(client, response.get_json()["id"], owner)["status"] == "completed"
    pending = client.get("/api/v1/merges", headers=owner).get_json()["items"]
    ids = {m["asset"]["name"]: m["id"] for m in pending}
    assert set(ids) == {"mq-1", "mq-2"}

    token = sign_in(browser, stranger)
    assert "No pending merges." in body(browser.get("/dashboard/merges"))
    for action in ("approve", "split"):
        refused = browser.post(
            f"/dashboard/merges/{ids['mq-1']}/{action}", data={"csrf_token": token}
        )
        assert refused.status_code == 404
    browser.post("/dashboard/sign-out", data={"csrf_token": token})

    token = sign_in(browser, owner)
    second = client.get("/api/v1/imports", headers=owner).get_json()["items"][0]["id"]
    assert 'id="merges-waiting"' in body(browser.get(f"/dashboard/imports/{second}"))
    page = body(browser.get("/dashboard/merges"))
    assert all(f'data-merge="{merge_id}"' in page for merge_id in ids.values())
    forged = browser.post(f"/dashboard/merges/{ids['mq-1']}/approve", data={})
    assert forged.status_code == 400
    approved = browser.post(
        f"/dashboard/merges/{ids['mq-1']}/approve",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "Merged into mq-1." in body(approved)
    split = browser.post(
        f"/dashboard/merges/{ids['mq-2']}/split", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Kept apart from mq-2" in body(split)
    assert "No pending merges." in body(split)
    again = browser.post(
        f"/dashboard/merges/{ids['mq-1']}/split", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Not done: This merge was already decided: approved." in html.unescape(body(again))
    statuses = {
        status: [
            m["id"]
            for m in client.get(f"/api/v1/merges?status={status}", headers=owner).get_json()[
                "items"
            ]
        ]
        for status in ("approved", "split")
    }
    assert statuses == {"approved": [ids["mq-1"]], "split": [ids["mq-2"]]}
    assert f'data-merge="{ids["mq-2"]}"' in body(browser.get("/dashboard/merges?status=split"))

    saved = browser.post(
        "/dashboard/merges/threshold",
        data={"csrf_token": token, "merge_review_threshold": "0.3"},
        follow_redirects=True,
    )
    assert "matches below 0.3 wait" in body(saved)
    refused = browser.post(
        "/dashboard/merges/threshold",
        data={"csrf_token": token, "merge_review_threshold": "lots"},
        follow_redirects=True,
    )
    assert "Not saved" in body(refused)
    settings = client.get("/api/v1/account/settings", headers=owner).get_json()
    assert settings == {"merge_review_threshold": 0.3}
