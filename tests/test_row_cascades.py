"""The flow's row tables follow their import and asset on delete (migration 0006's triggers,
not per-row foreign keys), and everything follows a deleted account."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from tests.helpers import wait_for_final
from tests.plans import captured_plans

pytestmark = pytest.mark.usefixtures("celery_worker")

RECORDS = [
    {"hostname": "web-1", "dependencies": "db-1;cache-1"},
    {"hostname": "db-1", "dependencies": "web-1"},
    {"hostname": "cache-1"},
]


def completed_import(client, headers, records=RECORDS) -> str:
    body = {"records": records, "engagement": uuid.uuid4().hex}
    response = client.post("/api/v1/imports", json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    final = wait_for_final(client, response.get_json()["id"], headers)
    assert final["status"] == "completed", final
    return final["id"]


def count(conn, sql: str, **params) -> int:
    return conn.scalar(text(f"SELECT count(*) FROM {sql}"), params)


def test_deleting_an_import_deletes_its_rows_and_clears_its_assets_import_ids(
    client, make_account, resources
):
    account_id, headers = make_account()
    first = completed_import(client, headers)
    second = completed_import(client, headers)  # the same hosts: it updates the first's assets
    with resources.engine.begin() as conn:
        for table in ("cleaned_records", "asset_sources", "asset_dependencies"):
            assert count(conn, f"{table} WHERE import_id = :i", i=second) > 0, table
        assert count(conn, "assets WHERE last_import_id = :i", i=second) == 3
        conn.execute(text("DELETE FROM data_imports WHERE id = :i"), {"i": second})
        for table in ("cleaned_records", "asset_sources", "asset_dependencies"):
            assert count(conn, f"{table} WHERE import_id = :i", i=second) == 0, table
        # The first import's rows stay (its edges were replaced by the second's, as designed).
        for table in ("cleaned_records", "asset_sources"):
            assert count(conn, f"{table} WHERE import_id = :i", i=first) == 3, table
        assert count(conn, "assets WHERE last_import_id = :i", i=second) == 0
        # The assets stay, as the SET NULL key left them: only their import ids are cleared.
        assert count(conn, "assets WHERE client_account_id = :a", a=account_id) == 3
        assert count(conn, "assets WHERE first_import_id = :i", i=first) == 3


OTHER_ASSETS = 20_000


def test_deleting_an_import_reads_only_the_assets_it_described(client, make_account, resources):
    """The trigger clears the import ids through their indexes (migration 0015), not by reading
    every account's assets, whether or not the statistics have seen them."""
    _, headers = make_account()
    other = uuid.uuid4()
    with resources.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO assets (id, client_account_id, hostname_key, asset_type, attributes,"
                " eos_severity, first_import_id, last_import_id) SELECT gen_random_uuid(), :a,"
                " 'h' || n,"
                " 'server', '{}', 'unknown', gen_random_uuid(), gen_random_uuid()"
                " FROM generate_series(1, :n) n"
            ),
            {"a": other, "n": OTHER_ASSETS},
        )
    try:
        doomed = completed_import(client, headers)
        with captured_plans(resources.engine) as plans, resources.engine.begin() as conn:
            conn.execute(text("DELETE FROM data_imports WHERE id = :i"), {"i": doomed})
        clearing = [p for p in plans if p.nodes_reading("assets")]
        assert clearing, "auto_explain caught no statement reading the assets"
        for plan in clearing:
            assert plan.work < 100, f"{plan.query}: {plan.heaviest_node()}"
    finally:
        with resources.engine.begin() as conn:
            conn.execute(text("DELETE FROM assets WHERE client_account_id = :a"), {"a": other})


def test_deleting_an_asset_deletes_its_sources_and_its_edges_both_ways(
    client, make_account, resources
):
    account_id, headers = make_account()
    completed_import(client, headers)
    with resources.engine.begin() as conn:
        db_id = conn.scalar(
            text("SELECT id FROM assets WHERE client_account_id = :a AND name = 'db-1'"),
            {"a": account_id},
        )
        edges = "asset_dependencies WHERE source_asset_id = :d OR target_asset_id = :d"
        # web-1 -> db-1 and db-1 -> web-1
        assert count(conn, edges, d=db_id) == 2
        conn.execute(text("DELETE FROM assets WHERE id = :d"), {"d": db_id})
        assert count(conn, edges, d=db_id) == 0
        assert count(conn, "asset_sources WHERE asset_id = :d", d=db_id) == 0
        # web-1 -> cache-1 is not the deleted asset's: it stays.
        assert count(conn, "asset_dependencies WHERE client_account_id = :a", a=account_id) == 1


def test_deleting_an_account_deletes_its_rows_everywhere(client, make_account, resources):
    """The row tables keep their account without a foreign key of their own: the account's
    imports and assets take them along."""
    account_id, headers = make_account()
    completed_import(client, headers)
    tables = ("cleaned_records", "asset_sources", "asset_dependencies", "assets")
    every_row = " + ".join(
        f"(SELECT count(*) FROM {table} WHERE client_account_id = :a)" for table in tables
    )
    with resources.engine.begin() as conn:
        assert conn.scalar(text(f"SELECT {every_row}"), {"a": account_id}) > 0
        conn.execute(text("DELETE FROM client_accounts WHERE id = :a"), {"a": account_id})
        assert conn.scalar(text(f"SELECT {every_row}"), {"a": account_id}) == 0
