"""The OpenAPI 3.1 document: valid, complete, and true of what the API really answers."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.helpers import import_completed, wait_for, wait_for_final
from web.openapi import ERROR_DESCRIPTIONS

DOCUMENT_URI = "urn:importer:openapi"
CSV = (
    b"Host Name,IP Addr,Operating System,Env,RAM (GB),Depends On\n"
    b"web-01,10.0.0.1,Windows Server 2008 R2,prod,16,db-01;cache-09\n"
    b"db-01,10.0.0.2,Red Hat Enterprise Linux 9.2,prod,64,\n"
    b",10.0.0.3,Solaris 11,test,4,\n"
)


@pytest.fixture(scope="module")
def document(app) -> dict:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


class Checker:
    """Validates a response against the schema the document declares for its status."""

    def __init__(self, document: dict) -> None:
        self.document = document
        self.seen: set[tuple[str, str, int]] = set()  # (path, method, status) checked
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOCUMENT_URI, resource)

    def __call__(self, response, path: str, method: str = "get") -> dict:
        operation = self.document["paths"][path][method]
        status = str(response.status_code)
        assert status in operation["responses"], (
            f"{method.upper()} {path} answered {status}, not documented: {response.get_data()!r}"
        )
        self.seen.add((path, method, response.status_code))
        if response.status_code == 204:
            assert response.get_data() == b""
            return {}
        declared = operation["responses"][status]["content"]["application/json"]["schema"]
        assert response.mimetype == "application/json"
        schema = {"$ref": DOCUMENT_URI + declared["$ref"]}
        validator = Draft202012Validator(
            schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        body = response.get_json()
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(
            f"{method.upper()} {path} {status}: {list(e.absolute_path)}: {e.message}"
            for e in errors
        )
        return body


@pytest.fixture(scope="module")
def check(document) -> Checker:
    return Checker(document)


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(document).validate()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `importer create-api-key ACCOUNT`.",
    }


def test_every_api_route_is_documented(app, document):
    seen = set()
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/v1") or rule.rule in ("/healthz", "/readyz")):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"].get(path, {}).get(method.lower())
            assert operation is not None, f"{method} {path} is not in the document"
            seen.add((path, method.lower()))
            public = path in ("/healthz", "/readyz", "/api/v1/openapi.json")
            assert operation["security"] == ([] if public else [{"bearerAuth": []}])
            if not public:
                assert "401" in operation["responses"]
            assert all("content" in r for r in operation["responses"].values())
    documented = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    assert documented == seen
    assert len(seen) == 25


def test_request_bodies_are_documented(document):
    upload = document["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"]
    assert set(upload) == {"application/json", "multipart/form-data"}
    schemas = document["components"]["schemas"]
    form = schemas["ImportUploadForm"]
    assert form["required"] == ["file"]
    assert set(form["properties"]) == {
        "file",
        "import_type",
        "engagement",
        "encoding",
        "delimiter",
        "sheet",
    }
    assert form["properties"]["file"]["format"] == "binary"
    assert schemas["ImportUploadJson"]["required"] == ["records"]
    put = document["paths"]["/api/v1/imports/{import_id}/mappings"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MappingsUpdate"
    }
    change = schemas["MappingChangeIn"]["properties"]
    assert change["status"]["enum"] == ["approved", "ignored"]
    params = document["paths"]["/api/v1/imports"]["post"]["parameters"]
    assert [(p["name"], p["in"]) for p in params] == [("Idempotency-Key", "header")]


def test_docs_page_is_served_locally(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/api/v1/openapi.json" in html
    assert "http://" not in html and "https://" not in html
    for asset in re.findall(r'(?:src|href)="(/api/docs/static/[^"]+)"', html):
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.get_data()) > 1000
        response.close()
    assert client.get("/api/docs/static/no-such-file.js").status_code == 404


@pytest.mark.usefixtures("celery_worker")
def test_real_responses_match_the_declared_schemas(client, auth, check, app, monkeypatch):
    assert check(client.get("/healthz"), "/healthz")["status"] == "ok"
    assert check(client.get("/readyz"), "/readyz")["status"] == "ready"

    response = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(CSV), "inventory.csv"), "engagement": uuid.uuid4().hex},
        headers=auth,
        content_type="multipart/form-data",
    )
    accepted = check(response, "/api/v1/imports", "post")
    import_id = accepted["id"]
    final = wait_for_final(client, import_id, auth)
    assert final["status"] == "completed", final

    base = f"/api/v1/imports/{import_id}"
    detail = check(client.get(base, headers=auth), "/api/v1/imports/{import_id}")
    assert detail["flow"] is not None and len(detail["steps"]) == 3
    listed = check(client.get("/api/v1/imports", headers=auth), "/api/v1/imports")
    assert [i["id"] for i in listed["items"]] == [import_id]
    check(client.get("/api/v1/imports?status=completed&limit=1", headers=auth), "/api/v1/imports")
    records = check(
        client.get(f"{base}/records?limit=2", headers=auth), "/api/v1/imports/{import_id}/records"
    )
    assert records["next_cursor"] is not None
    check(
        client.get(f"{base}/records?cursor={records['next_cursor']}", headers=auth),
        "/api/v1/imports/{import_id}/records",
    )
    errors = check(client.get(f"{base}/errors", headers=auth), "/api/v1/imports/{import_id}/errors")
    assert errors["items"], errors
    mappings = check(
        client.get(f"{base}/mappings", headers=auth), "/api/v1/imports/{import_id}/mappings"
    )
    check(
        client.put(
            f"{base}/mappings",
            json={"mappings": [{"source_column": mappings["items"][0]["source_column"]}]},
            headers=auth,
        ),
        "/api/v1/imports/{import_id}/mappings",
        "put",
    )
    flow = check(
        client.get(f"/api/v1/flows/{detail['flow']['id']}", headers=auth),
        "/api/v1/flows/{flow_id}",
    )
    assert flow["summary"]["assets"] and flow["summary"]["dependencies"]
    assets = check(client.get("/api/v1/assets", headers=auth), "/api/v1/assets")
    assert assets["items"]
    check(client.get("/api/v1/assets?type=server&limit=1", headers=auth), "/api/v1/assets")
    web = next(a for a in assets["items"] if a["name"] == "web-01")
    asset = check(
        client.get(f"/api/v1/assets/{web['id']}", headers=auth), "/api/v1/assets/{asset_id}"
    )
    assert asset["depends_on"] and asset["imports"]

    # The errors, each in the error body: (method, url, request kwargs, path, status, code).
    missing, flow_id = uuid.uuid4(), detail["flow"]["id"]
    bad_key = {"Authorization": "Bearer nope"}
    multipart = "multipart/form-data"
    cases = [
        ("get", base, {}, "/api/v1/imports/{import_id}", 401, "unauthorized"),
        ("get", base, {"headers": bad_key}, "/api/v1/imports/{import_id}", 401, "invalid-api-key"),
        ("get", f"/api/v1/imports/{missing}", {}, "/api/v1/imports/{import_id}", 404, None),
        ("get", "/api/v1/imports/x/records", {}, "/api/v1/imports/{import_id}/records", 404, None),
        ("get", f"/api/v1/flows/{missing}", {}, "/api/v1/flows/{flow_id}", 404, None),
        ("get", f"/api/v1/assets/{missing}", {}, "/api/v1/assets/{asset_id}", 404, None),
        ("get", "/api/v1/imports?limit=0", {}, "/api/v1/imports", 400, "invalid-query"),
        ("get", "/api/v1/assets?cursor=%%%", {}, "/api/v1/assets", 400, "invalid-query"),
        ("get", "/api/v1/assets?type=toaster", {}, "/api/v1/assets", 400, "invalid-query"),
        ("get", "/api/v1/assets?environment=%00", {}, "/api/v1/assets", 400, "invalid-query"),
        (
            "post",
            "/api/v1/imports",
            {"data": "x", "content_type": "text/plain"},
            "/api/v1/imports",
            415,
            "unsupported-media-type",
        ),
        ("post", "/api/v1/imports", {"json": {"rows": []}}, "/api/v1/imports", 422, "invalid-json"),
        (
            "post",
            "/api/v1/imports",
            {"json": {"records": [{"a": 1}], "engagement": None}},
            "/api/v1/imports",
            422,
            "invalid-field",
        ),
        (
            "post",
            "/api/v1/imports",
            {"data": {}, "content_type": multipart},
            "/api/v1/imports",
            422,
            "missing-file",
        ),
        (
            "put",
            f"{base}/mappings",
            {"json": {"mappings": []}},
            "/api/v1/imports/{import_id}/mappings",
            422,
            "invalid-mappings",
        ),
        ("post", f"{base}/cancel", {}, "/api/v1/imports/{import_id}/cancel", 409, None),
        ("post", f"{base}/retry", {}, "/api/v1/imports/{import_id}/retry", 409, None),
        ("post", f"{base}/commit", {}, "/api/v1/imports/{import_id}/commit", 409, "not-undone"),
        (
            "post",
            f"/api/v1/imports/{missing}/undo",
            {},
            "/api/v1/imports/{import_id}/undo",
            404,
            None,
        ),
        (
            "post",
            f"/api/v1/flows/{flow_id}/resume",
            {},
            "/api/v1/flows/{flow_id}/resume",
            409,
            None,
        ),
    ]
    for method, url, kwargs, path, status, code in cases:
        kwargs = {"headers": auth, **kwargs} if status != 401 or "headers" in kwargs else kwargs
        response = getattr(client, method)(url, **kwargs)
        assert response.status_code == status, (method, url, response.get_json())
        body = check(response, path, method)
        assert not code or body["error"]["code"] == code, body

    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 64)
    too_big = client.post("/api/v1/imports", json={"records": [{"a": "x" * 100}]}, headers=auth)
    assert too_big.status_code == 413
    assert check(too_big, "/api/v1/imports", "post")["error"]["code"] == "payload-too-large"


@pytest.mark.usefixtures("celery_worker")
def test_json_upload_and_cancel_match_the_declared_schemas(client, auth, check):
    response = client.post(
        "/api/v1/imports",
        json={"records": [{"hostname": "a-1"}], "filename": "a.json", "engagement": "j"},
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    accepted = check(response, "/api/v1/imports", "post")
    cancel = client.post(f"/api/v1/imports/{accepted['id']}/cancel", headers=auth)
    check(cancel, "/api/v1/imports/{import_id}/cancel", "post")
    final = wait_for_final(client, accepted["id"], auth)
    check(
        client.get(f"/api/v1/imports/{accepted['id']}", headers=auth),
        "/api/v1/imports/{import_id}",
    )
    if final["status"] == "cancelled":

        def retried():
            # A cancelled step may still be stopping (409 step-still-running): retry once it has.
            answer = client.post(f"/api/v1/imports/{accepted['id']}/retry", headers=auth)
            return None if _still_stopping(answer) else answer

        retry = wait_for(retried, timeout=30, interval=0.1)
        assert retry.status_code == 202, retry.get_json()
        check(retry, "/api/v1/imports/{import_id}/retry", "post")
        wait_for_final(client, accepted["id"], auth)


def _still_stopping(answer) -> bool:
    return answer.status_code == 409 and answer.get_json()["error"]["code"] == "step-still-running"


def test_the_checker_rejects_a_body_unlike_its_schema(app, check):
    with app.test_request_context():
        from flask import jsonify

        wrong = jsonify({"error": {"code": "x", "message": "m"}})  # no details
        wrong.status_code = 404
        with pytest.raises(AssertionError, match="details"):
            check(wrong, "/api/v1/imports/{import_id}")
        wrong = jsonify({"status": "ready", "checks": {}})
        wrong.status_code = 500
        with pytest.raises(AssertionError, match="not documented"):
            check(wrong, "/readyz")


CONNECTIONS_CSV = (
    b"Time slot,Source server name,Source IP,Source process,Destination server name,"
    b"Destination IP,Destination process,Destination port\n"
    b"slot 1,web-01,10.0.0.1,w3wp.exe,db-01,10.0.0.2,sqlservr.exe,1433\n"
    b"slot 1,web-01,10.0.0.1,w3wp.exe,,52.1.2.3,,443\n"
    b"slot 1,laptop-7,10.9.9.9,chrome.exe,web-01,10.0.0.1,,443\n"
)


@pytest.mark.usefixtures("celery_worker")
def test_observed_connections_match_the_declared_schemas(client, auth, check):
    engagement = uuid.uuid4().hex
    for body, import_type in ((CSV, "servers"), (CONNECTIONS_CSV, "dependencies")):
        response = client.post(
            "/api/v1/imports",
            data={
                "file": (io.BytesIO(body), f"{import_type}.csv"),
                "engagement": engagement,
                "import_type": import_type,
            },
            headers=auth,
            content_type="multipart/form-data",
        )
        final = wait_for_final(client, check(response, "/api/v1/imports", "post")["id"], auth)
        assert final["status"] == "completed", final
    flow = check(
        client.get(f"/api/v1/flows/{final['flow']['id']}", headers=auth),
        "/api/v1/flows/{flow_id}",
    )
    assert flow["summary"]["dependencies"]["unresolved_sources"] == ["laptop-7"]
    assets = {a["name"]: a for a in client.get("/api/v1/assets", headers=auth).get_json()["items"]}
    web = check(
        client.get(f"/api/v1/assets/{assets['web-01']['id']}", headers=auth),
        "/api/v1/assets/{asset_id}",
    )
    assert {(d["target"], d["observed"], d["port"]) for d in web["depends_on"]} == {
        ("db-01", False, None),
        ("db-01", True, 1433),
        ("52.1.2.3", True, 443),
        ("cache-09", False, None),
    }
    db = check(
        client.get(f"/api/v1/assets/{assets['db-01']['id']}", headers=auth),
        "/api/v1/assets/{asset_id}",
    )
    assert [(d["name"], d["port"], d["source_processes"]) for d in db["depended_on_by"]] == [
        ("web-01", None, None),
        ("web-01", 1433, ["w3wp.exe"]),
    ]


# Requests outside their model: (method, url, request kwargs, documented path, status, code).
# The body or query is refused before the import is looked up, so no import need exist.
SOME_IMPORT = "/api/v1/imports/00000000-0000-0000-0000-000000000000"
OUTSIDE_THE_MODELS = [
    ("put", f"{SOME_IMPORT}/mappings", {"json": [1, 2]}, 422, "invalid-mappings"),
    ("put", f"{SOME_IMPORT}/mappings", {"json": {"changes": []}}, 422, "invalid-mappings"),
    ("put", f"{SOME_IMPORT}/mappings", {"json": {"mappings": []}}, 422, "invalid-mappings"),
    ("put", f"{SOME_IMPORT}/mappings", {"json": {"mappings": [7]}}, 422, "invalid-mappings"),
    (
        "put",
        f"{SOME_IMPORT}/mappings",
        {"json": {"mappings": [{"source_column": "a", "status": "maybe"}]}},
        422,
        "invalid-mappings",
    ),
    (
        "put",
        f"{SOME_IMPORT}/mappings",
        {"json": {"mappings": [{"source_column": "a", "target_field": 5}]}},
        422,
        "invalid-mappings",
    ),
    (
        "put",
        f"{SOME_IMPORT}/mappings",
        {"json": {"mappings": [{"source_column": "a", "unit": "furlongs"}]}},
        422,
        "invalid-unit",
    ),
    ("post", "/api/v1/imports", {"json": [{"a": 1}]}, 422, "invalid-json"),
    ("post", "/api/v1/imports", {"json": {"records": "nope"}}, 422, "invalid-json"),
    ("post", "/api/v1/imports", {"json": {"records": [], "engagement": 7}}, 422, "invalid-field"),
    ("post", "/api/v1/imports", {"json": {"records": [], "filename": 5}}, 422, "invalid-field"),
    (
        "post",
        "/api/v1/imports",
        {"json": {"records": [{"a": 1}], "import_type": "spaceships"}},
        422,
        "invalid-import-type",
    ),
    (
        "post",
        "/api/v1/imports",
        {"data": {"import_type": "servers"}, "content_type": "multipart/form-data"},
        422,
        "missing-file",
    ),
    (
        "post",
        "/api/v1/imports",
        {
            "data": {"file": (io.BytesIO(b"a\n1\n"), "a.csv"), "import_type": "spaceships"},
            "content_type": "multipart/form-data",
        },
        422,
        "invalid-import-type",
    ),
    ("get", "/api/v1/imports?limit=x", {}, 400, "invalid-query"),
    ("get", "/api/v1/imports?limit=1001", {}, 400, "invalid-query"),
    ("get", "/api/v1/imports?status=nope", {}, 400, "invalid-query"),
    ("get", "/api/v1/assets?limit=0", {}, 400, "invalid-query"),
    ("get", "/api/v1/assets?type=toaster", {}, 400, "invalid-query"),
    ("get", "/api/v1/assets?end_of_support=soon", {}, 400, "invalid-query"),
    ("get", "/api/v1/merges?status=maybe", {}, 400, "invalid-query"),
    (
        "put",
        "/api/v1/account/settings",
        {"json": {"merge_review_threshold": 2}},
        422,
        "invalid-settings",
    ),
    ("put", "/api/v1/account/settings", {"json": [0.5]}, 422, "invalid-settings"),
]


def documented_path(url: str) -> str:
    path = url.split("?")[0]
    path = re.sub(r"^/api/v1/imports/[^/]+", "/api/v1/imports/{import_id}", path)
    return path


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "code"), OUTSIDE_THE_MODELS)
def test_a_request_outside_its_model_gets_the_documented_4xx(
    client, auth, check, document, method, url, kwargs, status, code
):
    path = documented_path(url)
    response = getattr(client, method)(url, headers=auth, **kwargs)
    assert response.status_code == status, response.get_json()
    error = check(response, path, method)["error"]
    assert error["code"] == code
    assert f"`{code}`" in ERROR_DESCRIPTIONS[status]


@pytest.mark.usefixtures("celery_worker")
def test_every_route_answers_as_its_model_declares(client, auth, check, document, request):
    """Last in the module: with the tests above, every route's success is checked against the
    model its document declares (and a 204 has no body)."""
    selected = {
        item.originalname for item in request.session.items if item.module is request.module
    }
    every = {name for name in vars(request.module) if name.startswith("test_")}
    if not every <= selected:
        pytest.skip("needs the whole module: the other tests check most routes")

    check(client.get("/api/v1/openapi.json"), "/api/v1/openapi.json")
    # A header the suggester cannot place pauses the flow for review.
    content = b"Srvr,IP Addr\na-1,10.0.0.1\na-2,10.0.0.2\n"
    response = client.post(
        "/api/v1/imports",
        data={"file": (io.BytesIO(content), "paused.csv"), "engagement": uuid.uuid4().hex},
        headers=auth,
        content_type="multipart/form-data",
    )
    import_id = check(response, "/api/v1/imports", "post")["id"]
    paused = wait_for_final(client, import_id, auth, statuses={"waiting_for_approval"})
    assert paused["status"] == "waiting_for_approval", paused
    check(
        client.put(
            f"/api/v1/imports/{import_id}/mappings",
            json={"mappings": [{"source_column": "Srvr", "target_field": "hostname"}]},
            headers=auth,
        ),
        "/api/v1/imports/{import_id}/mappings",
        "put",
    )
    resume = client.post(f"/api/v1/flows/{paused['flow']['id']}/resume", headers=auth)
    check(resume, "/api/v1/flows/{flow_id}/resume", "post")
    assert wait_for_final(client, import_id, auth)["status"] == "completed"
    learned_url = "/api/v1/learned-mappings"
    learned = check(client.get(learned_url, headers=auth), learned_url)
    srvr = next(item for item in learned["items"] if item["header"] == "srvr")
    check(
        client.delete(f"/api/v1/learned-mappings/{srvr['id']}", headers=auth),
        "/api/v1/learned-mappings/{learned_id}",
        "delete",
    )
    # Two hosts, then an export that knows them by their addresses only: two merges to review.
    engagement = uuid.uuid4().hex
    for body in (
        b"Host Name,IP Addr\nm-1,10.9.0.1\nm-2,10.9.0.2\n",
        b"Host Name,IP Addr\n10.9.0.1,10.9.0.1\n10.9.0.2,10.9.0.2\n",
    ):
        import_completed(client, auth, body, "merges.csv", engagement=engagement)
    queue = check(client.get("/api/v1/merges", headers=auth), "/api/v1/merges")["items"]
    pending = {m["asset"]["name"]: m["id"] for m in queue}
    for name, action in (("m-1", "approve"), ("m-2", "split")):
        path = f"/api/v1/merges/{{merge_id}}/{action}"
        decided = client.post(f"/api/v1/merges/{pending[name]}/{action}", headers=auth)
        check(decided, path, "post")
        check(client.post(f"/api/v1/merges/{pending[name]}/{action}", headers=auth), path, "post")
    # The paused import, completed: undone, then committed again.
    undo = client.post(f"/api/v1/imports/{import_id}/undo", headers=auth)
    check(undo, "/api/v1/imports/{import_id}/undo", "post")
    assert wait_for_final(client, import_id, auth, statuses={"undone"})["status"] == "undone"
    commit = client.post(f"/api/v1/imports/{import_id}/commit", headers=auth)
    check(commit, "/api/v1/imports/{import_id}/commit", "post")
    assert wait_for_final(client, import_id, auth)["status"] == "completed"
    settings = "/api/v1/account/settings"
    check(client.get(settings, headers=auth), settings)
    put = client.put(settings, json={"merge_review_threshold": 0.5}, headers=auth)
    check(put, settings, "put")

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            success = min(int(status) for status in operation["responses"])
            assert (path, method, success) in check.seen, f"{method.upper()} {path} {success}"
