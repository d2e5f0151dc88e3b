"""GET /api/v1/assets/<id> says where each of an asset's values came from (import, row, source
column), derived from its rows as the inventory merged them; GET /api/v1/assets searches."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from importer.services.phases.asset_inventory import FIELDS, ROW_KEYS
from tests.helpers import csv_bytes, import_completed
from tests.plans import captured_plans

pytestmark = pytest.mark.usefixtures("celery_worker")

# Three exports of the same hosts, each newer than the one before, in layouts of their own.
OLDEST = (
    ["Host Name", "IP Addr", "Serial No", "Operating System", "Env", "RAM (GB)", "Owner"],
    [
        ["web-1", "10.0.0.1", "SN-WEB", "Ubuntu 22.04", "prod", "16", "alice"],
        ["db-1", "10.0.0.2", "SN-DB", "RHEL 8", "prod", "64", "dba"],
    ],
)
# web-1 twice: the first row renames it (an FQDN), moves its IP, says it is virtual and moves
# it to development, leaving its serial, OS and RAM blank; the second brings another IP (not
# taken: only an import's first row of an asset changes its keys), RAM and another owner.
NEWER = (
    ["Server Name", "IP Address", "Serial Number", "Environment", "Memory GB", "Owner", "Virtual"],
    [
        ["web-1.corp.example", "10.0.0.11", "", "dev", "", "bob", "yes"],
        ["web-1", "10.0.0.12", "", "", "24", "carol", ""],
    ],
)
# db-1, found by its serial under a new name, on another OS; its environment left blank.
NEWEST = (
    ["Hostname", "Serial No", "OS", "Env"],
    [["db-1-new", "SN-DB", "Windows Server 2019", ""]],
)


def detail(client, auth, asset_id: str) -> dict:
    response = client.get(f"/api/v1/assets/{asset_id}", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def sources(body: dict) -> dict[str, tuple]:
    """Field (and attribute, as "attributes.<name>") -> (import id, row, columns)."""
    found = {}
    for group in ("fields", "attributes"):
        for entry in body[group]:
            name = entry["field"] if group == "fields" else f"attributes.{entry['field']}"
            source = entry["source"]
            found[name] = source and (source["import_id"], source["row_number"], source["columns"])
    return found


def cleaned_value(conn, name: str, source: dict):
    """What the source's cleaned row says of field ``name`` (as the inventory reads it)."""
    row = conn.execute(
        text(
            f"SELECT data, asset_type, {', '.join(ROW_KEYS)} FROM cleaned_records "
            "WHERE import_id = :import_id AND row_number = :row"
        ),
        {"import_id": source["import_id"], "row": source["row_number"]},
    ).one()
    data = row.data
    if name == "name":
        return data.get("hostname") or data.get("name") or data.get("fqdn")
    if name == "asset_type" or name in ROW_KEYS:
        return getattr(row, name)
    return data.get(name)


def test_each_value_names_the_import_row_and_column_it_came_from(client, make_account, resources):
    _, auth = make_account()
    engagement = uuid.uuid4().hex
    oldest, newer, newest = (
        import_completed(client, auth, csv_bytes(*export), f"{name}.csv", engagement=engagement)[
            "id"
        ]
        for name, export in (("oldest", OLDEST), ("newer", NEWER), ("newest", NEWEST))
    )
    assets = client.get("/api/v1/assets", headers=auth).get_json()["items"]
    by_name = {asset["name"]: asset["id"] for asset in assets}
    assert set(by_name) == {"web-1.corp.example", "db-1-new"}

    web = detail(client, auth, by_name["web-1.corp.example"])
    values = {entry["field"]: entry["value"] for entry in web["fields"]}
    assert values["primary_ip"] == "10.0.0.11"
    assert values["memory_gb"] == 24
    assert values["serial_number"] == "SN-WEB"
    assert values["asset_type"] == "virtual_machine"
    web_sources = sources(web)
    assert web_sources["name"] == (newer, 1, ["Server Name"])
    assert web_sources["hostname_key"] == (oldest, 1, ["Host Name"])
    assert web_sources["primary_ip"] == (newer, 1, ["IP Address"])
    assert web_sources["serial_number"] == (oldest, 1, ["Serial No"])  # a blank never erases
    assert web_sources["os_name"] == (oldest, 1, ["Operating System"])
    assert web_sources["os_family"] == (oldest, 1, ["Operating System"])
    assert web_sources["environment"] == (newer, 1, ["Environment"])
    assert web_sources["memory_gb"] == (newer, 2, ["Memory GB"])  # the later row of an import
    assert web_sources["is_virtual"] == (newer, 1, ["Virtual"])
    assert web_sources["asset_type"][:2] == (newer, 1)
    assert "Virtual" in web_sources["asset_type"][2]
    assert web_sources["attributes.owner"] == (newer, 2, ["Owner"])
    assert web_sources["attributes.ip_address"] == (newer, 2, ["IP Address"])
    assert web_sources["attributes.serial_number"] == (oldest, 1, ["Serial No"])

    db = detail(client, auth, by_name["db-1-new"])
    db_sources = sources(db)
    assert db_sources["hostname_key"] == (newest, 1, ["Hostname"])
    assert db_sources["name"] == (newest, 1, ["Hostname"])
    assert db_sources["os_name"] == (newest, 1, ["OS"])
    assert db_sources["environment"] == (oldest, 2, ["Env"])
    assert db_sources["memory_gb"] == (oldest, 2, ["RAM (GB)"])
    assert db_sources["asset_type"][:2] == (oldest, 2)  # the newer row's same type changes none
    assert {i["id"]: i["matched_on"] for i in db["imports"]} == {
        oldest: {"created": 1},
        newest: {"serial": 1},
    }

    # Every value, of both assets, is its source row's cleaned value, read from the columns named.
    filenames = {oldest: "oldest.csv", newer: "newer.csv", newest: "newest.csv"}
    raw = {
        import_id: {
            record["row_number"]: record["values"]
            for record in client.get(
                f"/api/v1/imports/{import_id}/records", headers=auth
            ).get_json()["items"]
        }
        for import_id in filenames
    }
    with resources.engine.connect() as conn:
        for body in (web, db):
            assert [entry["field"] for entry in body["fields"]] == list(FIELDS)
            for group in ("fields", "attributes"):
                for entry in body[group]:
                    if entry["value"] is None:
                        continue
                    source = entry["source"]
                    assert source is not None, entry
                    assert cleaned_value(conn, entry["field"], source) == entry["value"], entry
                    assert source["filename"] == filenames[source["import_id"]]
                    record = raw[source["import_id"]][source["row_number"]]
                    assert all(record[column].strip() for column in source["columns"]), entry
                    if entry["field"] != "asset_type":
                        assert source["columns"], entry


def test_a_key_another_asset_holds_stays_with_the_asset_that_has_it(client, make_account):
    _, auth = make_account()
    engagement = uuid.uuid4().hex
    header = ["Host Name", "Serial No"]
    first = import_completed(
        client,
        auth,
        csv_bytes(header, [["x-1", "S-1"], ["y-1", "S-2"]]),
        "first.csv",
        engagement=engagement,
    )["id"]
    # y-1's serial under x-1's name: the row is y-1's (found by its serial), and the name
    # stays x-1's, which holds it.
    second = import_completed(
        client, auth, csv_bytes(header, [["x-1", "S-2"]]), "second.csv", engagement=engagement
    )["id"]
    assets = client.get("/api/v1/assets", headers=auth).get_json()["items"]
    y = detail(client, auth, next(a["id"] for a in assets if a["name"] == "y-1"))
    assert {i["id"]: i["matched_on"] for i in y["imports"]} == {
        first: {"created": 1},
        second: {"serial": 1},
    }
    found = sources(y)
    assert found["hostname_key"] == (first, 2, ["Host Name"])
    assert found["name"] == (first, 2, ["Host Name"])
    assert found["serial_number"] == (first, 2, ["Serial No"])  # the same serial again
    assert found["attributes.hostname"] == (second, 1, ["Host Name"])


def test_search_finds_assets_by_name_fqdn_ip_and_serial(client, make_account):
    _, auth = make_account()
    export = (
        ["Host Name", "FQDN", "IP Addr", "Serial No"],
        [
            ["Web-Frontend-01", "web-frontend-01.shop.example", "10.20.0.5; 192.168.7.5", "ABC123"],
            ["db_main", "db-main.data.example", "10.20.1.9", "XYZ-9"],
            ["cache-1", "cache-1.shop.example", "172.16.0.1", "abc999"],
        ],
    )
    import_completed(client, auth, csv_bytes(*export), "search.csv")

    def names(query: str, **more) -> set[str]:
        response = client.get("/api/v1/assets", headers=auth, query_string={"q": query, **more})
        assert response.status_code == 200, response.get_json()
        return {asset["name"] for asset in response.get_json()["items"]}

    assert names("FRONTEND") == {"web-frontend-01"}  # any case, any part of the name
    assert names("shop.example") == {"web-frontend-01", "cache-1"}  # the FQDN
    assert names("10.20.") == {"web-frontend-01", "db_main"}  # the start of an IP
    assert names("192.168") == {"web-frontend-01"}  # any of the asset's addresses
    assert names("0.5") == set()  # an IP matches from its start only
    assert names("abc") == {"web-frontend-01", "cache-1"}  # a serial's start, any case
    assert names("123") == set()
    assert names("_") == {"db_main"}  # LIKE's wildcards are plain characters
    assert names("%") == set()
    assert names("1", type="server") == {"web-frontend-01", "cache-1"}
    # Paged like the unsearched list.
    first = client.get("/api/v1/assets", headers=auth, query_string={"q": "e", "limit": 1})
    body = first.get_json()
    assert len(body["items"]) == 1 and body["next_cursor"]
    second = client.get(
        "/api/v1/assets",
        headers=auth,
        query_string={"q": "e", "limit": 5, "cursor": body["next_cursor"]},
    ).get_json()
    assert {a["name"] for a in body["items"] + second["items"]} == names("e")


def test_a_blank_or_overlong_search_is_a_clear_400(client, auth):
    for query in ("", "x" * 201):
        response = client.get("/api/v1/assets", headers=auth, query_string={"q": query})
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid-query"


# Assets of other accounts the statistics know, and of the searched account, which they do not.
OTHER_ASSETS = 60_000
OWN_ASSETS = 3_000
# Rows a search's plans may handle per asset of the account (a scan of them, and its sort).
WORK_PER_ASSET = 3
WORK_FLOOR = 200
INSERT_ASSETS = text(
    """
    INSERT INTO assets (id, client_account_id, hostname_key, primary_ip, serial_number, name,
                        asset_type, attributes, eos_severity, created_at, updated_at)
    SELECT gen_random_uuid(), :account, 'host-' || n, '10.' || (n / 256) || '.' || (n % 256),
           'SN' || n, 'host-' || n, 'server',
           jsonb_build_object('fqdn', 'host-' || n || '.example', 'ip_address',
                              jsonb_build_array('10.' || (n / 256) || '.' || (n % 256))),
           'unknown', now(), now()
    FROM generate_series(1, :count) AS n
    """
)


def test_a_search_reads_only_the_accounts_assets_whatever_the_statistics(
    client, make_account, resources
):
    account, auth = make_account()
    others = [uuid.uuid4() for _ in range(3)]
    with resources.engine.begin() as conn:
        for other in others:
            conn.execute(INSERT_ASSETS, {"account": other, "count": OTHER_ASSETS // len(others)})
    with resources.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE assets"))
    # The searched account's assets come after the statistics: to the planner it has none.
    with resources.engine.begin() as conn:
        conn.execute(INSERT_ASSETS, {"account": account, "count": OWN_ASSETS})
    try:
        with captured_plans(resources.engine) as plans:
            for query in ("host-12", "HOST-2999.EXAMPLE", "10.3.", "sn99", "no such asset"):
                response = client.get(
                    "/api/v1/assets", headers=auth, query_string={"q": query, "limit": 50}
                )
                assert response.status_code == 200, response.get_json()
                assert response.get_json()["items"] or query == "no such asset"
        searches = [plan for plan in plans if plan.nodes_reading("assets")]
        assert len(searches) == 5, [plan.query for plan in plans]
        limit = WORK_FLOOR + WORK_PER_ASSET * OWN_ASSETS
        overworked = [
            f"{plan.work} rows, most in {plan.heaviest_node()}"
            for plan in searches
            if plan.work > limit
        ]
        assert not overworked, overworked
    finally:
        with resources.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM assets WHERE client_account_id = ANY(:ids)"),
                {"ids": [*others, account]},
            )
