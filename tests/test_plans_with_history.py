"""Every statement of an import keeps a plan linear in the import's rows, whatever the statistics.

The database holds other accounts' imports, many times larger than the new one, and their
statistics are taken before it: to the planner the new account and import hold one row each.
That is every real deployment's state for a new tenant's first import, or the tenth import of a
week. Each plan the import executes (seen by auto_explain, with the rows its nodes really
handled) must do work in proportion to the import's rows and the account's own, never to the
other accounts' rows or to the square of the import's.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from importer.sample_export import messy_csv_bytes
from tests.helpers import import_completed
from tests.plans import captured_plans

pytestmark = pytest.mark.usefixtures("celery_worker")

ROWS = 1000
# Copies of a finished import that stand for the other accounts: 60 times the new import's rows
# in every row table, so that reading them shows as plainly as reading the import twice over.
HISTORY_COPIES = 60
# Rows a plan may handle per row of the account's imports. A plan that scans the other accounts
# handles 60 per row, and one that pairs each row of a 500-row range with every other one, 500.
WORK_PER_ROW = 20
# The smallest plans (a status read, a look-up by id) are a few rows whatever the import.
WORK_FLOOR = 200
# Tables whose rows belong to an import and name no asset: copied as they are, to new owners.
IMPORT_ROWS = ("raw_import_records", "cleaned_records", "import_validation_issues")
ANALYZED = (
    "data_imports",
    "raw_import_records",
    "import_validation_issues",
    "cleaned_records",
    "assets",
    "asset_sources",
    "asset_dependencies",
)


def columns_of(conn, table: str) -> list[str]:
    return conn.scalars(
        text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = :table ORDER BY ordinal_position"
        ),
        {"table": table},
    ).all()


def select_list(columns: list[str], replaced: dict[str, str], alias: str) -> str:
    return ", ".join(replaced.get(c, f"{alias}.{c}") for c in columns)


def clone_into_other_accounts(engine, template_import: str, copies: int) -> None:
    """``copies`` accounts, each with a finished import like ``template_import``, by SQL."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TEMP TABLE copies ON COMMIT DROP AS "
                "SELECT k, gen_random_uuid() AS account, "
                "gen_random_uuid() AS import FROM generate_series(1, :copies) AS k"
            ),
            {"copies": copies},
        )
        conn.execute(
            text(
                "INSERT INTO client_accounts (id, name) "
                "SELECT account, 'history-' || account FROM copies"
            )
        )
        imports = columns_of(conn, "data_imports")
        import_copy = {
            "id": "c.import",
            "client_account_id": "c.account",
            "idempotency_key": "NULL",
        }
        conn.execute(
            text(
                f"INSERT INTO data_imports ({', '.join(imports)}) "
                f"SELECT {select_list(imports, import_copy, 't')} "
                "FROM copies c, data_imports t WHERE t.id = :template"
            ),
            {"template": template_import},
        )
        owner = {"import_id": "c.import", "client_account_id": "c.account"}
        for table in IMPORT_ROWS:
            cols = [c for c in columns_of(conn, table) if c != "id"]
            conn.execute(
                text(
                    f"INSERT INTO {table} ({', '.join(cols)}) "
                    f"SELECT {select_list(cols, owner, 't')} FROM copies c, {table} t "
                    "WHERE t.import_id = :template"
                ),
                {"template": template_import},
            )
        conn.execute(
            text(
                "CREATE TEMP TABLE asset_copies ON COMMIT DROP AS "
                "SELECT c.k, a.id AS old, gen_random_uuid() AS new FROM copies c, assets a "
                "WHERE a.first_import_id = :template"
            ),
            {"template": template_import},
        )
        assets = columns_of(conn, "assets")
        asset_copy = {
            "id": "m.new",
            "client_account_id": "c.account",
            "first_import_id": "c.import",
            "last_import_id": "c.import",
        }
        conn.execute(
            text(
                f"INSERT INTO assets ({', '.join(assets)}) "
                f"SELECT {select_list(assets, asset_copy, 't')} "
                "FROM asset_copies m JOIN copies c USING (k) JOIN assets t ON t.id = m.old"
            )
        )
        conn.execute(
            text(
                "INSERT INTO asset_sources (import_id, row_number, asset_id, client_account_id) "
                "SELECT c.import, s.row_number, m.new, c.account FROM asset_sources s "
                "JOIN asset_copies m ON m.old = s.asset_id JOIN copies c USING (k) "
                "WHERE s.import_id = :template"
            ),
            {"template": template_import},
        )
        conn.execute(
            text(
                "INSERT INTO asset_dependencies "
                "(client_account_id, import_id, source_asset_id, target_ref, target_asset_id) "
                "SELECT c.account, c.import, m.new, d.target_ref, t.new "
                "FROM asset_dependencies d JOIN asset_copies m ON m.old = d.source_asset_id "
                "JOIN copies c USING (k) "
                "LEFT JOIN asset_copies t ON t.old = d.target_asset_id AND t.k = m.k "
                "WHERE d.import_id = :template"
            ),
            {"template": template_import},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ANALYZED:
            conn.execute(text(f"ANALYZE {table}"))


def overworked(plans, account_rows: int) -> list[str]:
    limit = WORK_FLOOR + WORK_PER_ROW * account_rows
    return [
        f"{plan.work} rows (limit {limit}), most in {plan.heaviest_node()}:\n{plan.query.strip()}"
        for plan in plans
        if plan.work > limit
    ]


@pytest.fixture()
def history(resources, client, make_account):
    """Other accounts' finished imports, 60 times a new import's rows, analysed."""
    account_id, headers = make_account()
    body, _ = messy_csv_bytes(ROWS, seed=11)
    template = import_completed(client, headers, body, "history.csv", engagement="history")
    clone_into_other_accounts(resources.engine, template["id"], HISTORY_COPIES)
    yield
    with resources.engine.begin() as conn:
        conn.execute(text("DELETE FROM client_accounts WHERE name LIKE 'history-%'"))
        conn.execute(text("DELETE FROM client_accounts WHERE id = :id"), {"id": account_id})


@pytest.mark.usefixtures("history")
def test_a_new_accounts_imports_plan_in_proportion_to_their_rows(resources, client, make_account):
    _, headers = make_account()
    engagement = uuid.uuid4().hex
    first, _ = messy_csv_bytes(ROWS, seed=21)
    # The same hosts again, other values: every row is matched to an asset of the first import.
    second, _ = messy_csv_bytes(ROWS, seed=22)
    with captured_plans(resources.engine) as plans:
        import_completed(client, headers, first, "first.csv", 180, engagement=engagement)
    assert len(plans) > 50, "auto_explain caught no plans"
    assert not overworked(plans, ROWS), "\n\n".join(overworked(plans, ROWS))

    with captured_plans(resources.engine) as plans:
        import_completed(client, headers, second, "second.csv", 180, engagement=engagement)
    assert not overworked(plans, 2 * ROWS), "\n\n".join(overworked(plans, 2 * ROWS))
