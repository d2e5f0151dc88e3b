"""The inventory's split between SQL (rows no other row or asset shares a key with) and Python
(the rest, in row order) gives the assets a row-by-row pass gives, across ranges of rows."""

from __future__ import annotations

import csv
import io
import random
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from importer.models import DataImport, FlowPhase
from importer.services.phases import asset_inventory as inventory
from tests.helpers import wait_for_final

pytestmark = pytest.mark.usefixtures("celery_worker")

HEADER = ["Host Name", "IP Addr", "Serial No", "RAM (GB)"]


def upload(client, auth, rows: list[list[str]], engagement: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    response = client.post(
        "/api/v1/imports",
        data={
            "file": (io.BytesIO(buffer.getvalue().encode()), "inventory.csv"),
            "engagement": engagement,
        },
        headers=auth,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    import_id = response.get_json()["id"]
    final = wait_for_final(client, import_id, auth, timeout=120)
    assert final["status"] == "completed", final
    return import_id


def expected_groups(imports: list[list[list[str]]]) -> list[list[int]]:
    """Row by row, as the inventory is specified: hostname, then serial, then IP; the first row
    of an asset fixes its keys. Returns, per import, the asset number of each row."""
    by_key, by_serial, by_ip = {}, {}, {}
    assets = 0
    result = []
    for rows in imports:
        numbers = []
        for host, ip, serial, _ in rows:
            key = host.lower() or None
            serial = serial or None
            ip = ip or None
            asset = (
                (key and by_key.get(key))
                or (serial and by_serial.get(serial))
                or (ip and by_ip.get(ip))
            )
            if asset is None:
                assets += 1
                asset = assets
                for index, value in ((by_key, key), (by_serial, serial), (by_ip, ip)):
                    if value:
                        index.setdefault(value, asset)
            numbers.append(asset)
        result.append(numbers)
    return result


def partition(numbers: list) -> set[frozenset[int]]:
    groups: dict = {}
    for row, asset in enumerate(numbers, start=1):
        groups.setdefault(asset, set()).add(row)
    return {frozenset(g) for g in groups.values()}


def test_shared_keys_across_ranges_and_imports(client, auth, resources):
    rng = random.Random(11)
    engagement = uuid.uuid4().hex

    def row(n: int) -> list[str]:
        return [f"node-{n}", f"10.9.{n // 256}.{n % 256}", f"SN-{n}", "8"]

    first = [row(n) for n in range(1, 701)]
    second = [row(n) for n in range(2000, 3200)]
    # Keys shared within the import, rows apart (the test settings use ranges of 500 rows)...
    for _ in range(60):
        a, b = rng.sample(range(len(second)), 2)
        column = rng.choice([1, 2])
        second[b][column] = second[a][column]
    # ... with the first import's assets, by any key, and none at all.
    for _ in range(60):
        b = rng.randrange(len(second))
        source = rng.choice(first)
        column = rng.choice([0, 1, 2])
        second[b][column] = source[column]
    for _ in range(20):
        second[rng.randrange(len(second))][1:3] = ["", ""]
    # Keys naming two different assets: the hostname wins, then the serial number.
    for n, (a, b, c) in enumerate([(5, 10, 15), (20, 25, 30), (35, 40, 45)]):
        second[100 + n * 300][:3] = [first[a][0], first[c][1], first[b][2]]
        second[150 + n * 300][:3] = [f"fresh-{n}", first[c][1], first[b][2]]
        second[450 + n * 300][:3] = [second[10 + n * 300][0], "", second[60 + n * 300][2]]

    imports = [upload(client, auth, rows, engagement) for rows in (first, second)]
    want = expected_groups([first, second])
    with resources.engine.connect() as conn:
        got = [
            dict(
                conn.execute(
                    text("SELECT row_number, asset_id FROM asset_sources WHERE import_id = :i"),
                    {"i": import_id},
                ).all()
            )
            for import_id in imports
        ]
    # The same rows share an asset, within and across the imports.
    combined_want = want[0] + want[1]
    combined_got = [got[0][n] for n in range(1, len(first) + 1)] + [
        got[1][n] for n in range(1, len(second) + 1)
    ]
    assert partition(combined_got) == partition(combined_want)


def test_rows_cleansed_without_keys_are_keyed_first(client, auth, resources):
    """An import cleansed before the cleansing stored asset keys still de-duplicates."""
    engagement = uuid.uuid4().hex
    rows = [["web-1", "10.8.0.1", "SN-A", "8"], ["WEB-1.corp", "10.8.0.2", "", "16"]]
    first = upload(client, auth, rows, engagement)
    with resources.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE cleaned_records SET hostname_key = NULL, serial_number = NULL, "
                "primary_ip = NULL, asset_type = NULL WHERE import_id = :i"
            ),
            {"i": first},
        )
        conn.execute(text("DELETE FROM assets WHERE first_import_id = :i"), {"i": first})
    phase = resources.services.phases[FlowPhase.ASSET_INVENTORY]
    with resources.services.transactions.transaction() as session:
        ctx = SimpleNamespace(
            session=session,
            data_import=session.get(DataImport, uuid.UUID(first)),
            checkpoint=lambda done, total: None,
        )
        summary = phase.run(ctx)
    assert summary["assets"]["created"] == {"server": 1}
    assert summary["rows_merged_into_an_asset_of_this_import"] == 1


@pytest.mark.parametrize(
    ("import_type", "records", "names", "asset_type"),
    [
        (
            "applications",
            [
                {"name": "CRM", "hosts": "web-01;web-02", "environment": "PROD"},
                {"name": "Billing", "environment": "dev"},
                {"name": "crm", "hosts": "web-03"},
            ],
            {"CRM", "Billing"},
            "application",
        ),
        (
            "databases",
            [
                {"name": "orders", "host": "db-01", "port": 5432, "size_gb": 12.5},
                {"name": "orders", "host": "db-02", "port": "5432"},
                {"name": "users", "host": "db-01", "engine": "PostgreSQL"},
            ],
            {"orders", "users"},
            "database",
        ),
    ],
)
def test_named_assets_are_created_and_found_again(
    client, auth, import_type, records, names, asset_type
):
    body = {"records": records, "import_type": import_type, "engagement": uuid.uuid4().hex}
    counts = []
    for _ in range(2):
        response = client.post("/api/v1/imports", json=body, headers=auth)
        assert response.status_code == 202, response.get_json()
        final = wait_for_final(client, response.get_json()["id"], auth)
        assert final["status"] == "completed", final
        flow = client.get(f"/api/v1/flows/{final['flow']['id']}", headers=auth).get_json()
        counts.append(flow["summary"]["assets"])
    items = client.get("/api/v1/assets?limit=100", headers=auth).get_json()["items"]
    keys = {(a["name"], a.get("asset_type")) for a in items}
    assert {name for name, _ in keys} >= names
    assert all(kind == asset_type for _, kind in keys)
    # The second import finds every asset of the first: nothing created, nothing changed.
    assert counts[1]["created"] == {}
    assert sum(counts[1]["unchanged"].values()) == sum(counts[0]["created"].values())


def test_a_cycle_through_another_imports_edges_is_found(client, auth):
    engagement = uuid.uuid4().hex

    def flow_summary(records: list[dict]) -> dict:
        body = {"records": records, "import_type": "servers", "engagement": engagement}
        response = client.post("/api/v1/imports", json=body, headers=auth)
        final = wait_for_final(client, response.get_json()["id"], auth)
        assert final["status"] == "completed", final
        return client.get(f"/api/v1/flows/{final['flow']['id']}", headers=auth).get_json()

    first = flow_summary([{"hostname": "loop-a", "dependencies": "loop-b"}, {"hostname": "loop-b"}])
    assert first["summary"]["dependencies"]["cycles"] == 0
    second = flow_summary([{"hostname": "loop-b", "dependencies": "loop-a"}])
    deps = second["summary"]["dependencies"]
    assert deps["cycles"] == 1
    assert sorted(deps["cycle_examples"][0]) == ["loop-a", "loop-b"]


def test_known_keys_are_probed_per_row_not_hashed_per_range(client, auth, resources):
    """A range's look-ups of the account's assets stay index probes whatever the statistics say.
    Taken while the account was small, they made PostgreSQL hash the account's assets, which it
    then read in full for every range of a large import."""
    import_id = upload(client, auth, [["probe-0", "10.7.0.1", "SN-P0", "8"]], uuid.uuid4().hex)
    no_verdicts = dict.fromkeys(("families", "versions", "severities", "dates", "sources"), [])
    with resources.engine.connect() as conn:
        account = conn.scalar(
            text("SELECT client_account_id FROM data_imports WHERE id = :i"), {"i": import_id}
        )
        params = {"import_id": import_id, "account": account}
        conn.execute(text("ANALYZE assets"))
        # Then, unseen by the statistics, a large import's rows and the assets it creates.
        conn.execute(
            text(
                "INSERT INTO assets (id, client_account_id, hostname_key, serial_number, "
                "primary_ip, asset_type, attributes, eos_severity) "
                "SELECT gen_random_uuid(), :account, 'bulk-' || g, 'SN-B' || g, "
                "'10.6.' || g / 256 || '.' || g % 256, 'server', '{}', 'unknown' "
                "FROM generate_series(1, 20000) g"
            ),
            params,
        )
        conn.execute(
            text(
                "INSERT INTO cleaned_records (import_id, row_number, client_account_id, data, "
                "hostname_key, serial_number, primary_ip, asset_type) "
                "SELECT :import_id, g, :account, '{}', 'row-' || g, 'SN-R' || g, "
                "'10.5.' || g / 256 || '.' || g % 256, 'server' "
                "FROM generate_series(2, 5001) g"
            ),
            params,
        )
        conn.execute(text("ANALYZE cleaned_records"))
        for statement in (inventory.SHARED_TABLE, inventory.FILL_SHARED):
            conn.execute(statement, params)
        plan = conn.execute(
            text(f"EXPLAIN {inventory.creation(known_assets=True).text}"),
            {**params, **no_verdicts, "after": 0, "upto": 5000},
        ).scalars()
        assert hashed_subplans_over(list(plan), "assets") == []
        conn.rollback()


def hashed_subplans_over(plan: list[str], table: str) -> list[str]:
    """The plan's hashed subplans that scan ``table``."""
    sections: dict[str, str] = {}
    name = None
    for line in plan:
        if line.strip().startswith("SubPlan "):
            name = line.strip()
            sections[name] = ""
        elif name is not None:
            sections[name] += line
    whole = "\n".join(plan)
    scanning = [name for name, body in sections.items() if f" on {table} " in body]
    return [name for name in scanning if f"hashed {name}" in whole]
