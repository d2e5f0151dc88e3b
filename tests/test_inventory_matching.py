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
from tests.helpers import csv_bytes, import_completed, wait_for_final
from tests.plans import ExecutedPlan

pytestmark = pytest.mark.usefixtures("celery_worker")

HEADER = ["Host Name", "IP Addr", "Serial No", "RAM (GB)", "UUID", "sys_id"]
# The keys the inventory tries, in order (asset_inventory.KEYS), and those that rule a key's
# asset out when the row and the asset both have one and they differ.
ORDER = ("uuid", "serial", "source", "key", "ip")
CONTRADICTING = {
    "uuid": (),
    "serial": ("uuid",),
    "source": ("uuid",),
    "key": (),
    "ip": ("uuid", "serial", "key"),
}
RANGE = 500  # the test settings' rows per range


@pytest.fixture(autouse=True)
def every_match_merges(client, auth):
    """These tests are about which asset a key finds: every match merges (threshold 0), as it
    did before merges were reviewed. What waits for review is test_merge_review's."""
    response = client.put(
        "/api/v1/account/settings", json={"merge_review_threshold": 0}, headers=auth
    )
    assert response.status_code == 200, response.get_json()


def is_ip(key: str | None) -> bool:
    """A hostname key that is an IP address: no name, it contradicts and replaces none."""
    return key is not None and set(key) <= set("0123456789.")


def differ(kind: str, mine: str | None, theirs: str | None) -> bool:
    if kind == "key" and (is_ip(mine) or is_ip(theirs)):
        return False
    return bool(mine and theirs and mine != theirs)


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
    """Row by row, as the inventory is specified: the first key (uuid, serial, sys_id, hostname,
    IP) whose oldest uncontradicted asset exists finds it; the first row of a later import sets
    the keys it brings unless another asset holds them, other rows only fill blanks (a hostname
    given up in a range is taken by no other found asset in that range). Returns, per import,
    the asset number of each row."""
    index: dict[str, dict[str, list[dict]]] = {kind: {} for kind in ORDER}
    assets: list[dict] = []
    result = []
    for number, rows in enumerate(imports):
        numbers = []
        released: set[str] = set()
        for row_number, (host, ip, serial, _, uuid_, source) in enumerate(rows, start=1):
            if row_number % RANGE == 1:
                released = set()
            keys = {
                "uuid": uuid_ or None,
                "serial": serial or None,
                "source": source or None,
                "key": host.lower() or None,
                "ip": ip or None,
            }
            asset = None
            for kind in ORDER:
                candidates = index[kind].get(keys[kind], []) if keys[kind] else []
                asset = next(
                    (
                        a
                        for a in candidates
                        if not any(differ(o, keys[o], a[o]) for o in CONTRADICTING[kind])
                    ),
                    None,
                )
                if asset is not None:
                    break
            if asset is None:
                asset = {**keys, "number": len(assets) + 1, "last": number}
                assets.append(asset)
                for kind in ORDER:
                    if keys[kind]:
                        index[kind].setdefault(keys[kind], []).append(asset)
            else:
                fresh = asset["last"] != number
                for kind in ORDER:
                    value, held = keys[kind], asset[kind]
                    if kind == "key" and is_ip(value) and held and not is_ip(held):
                        continue
                    blank = held is None or (kind == "key" and is_ip(held))
                    if not value or value == held or not (blank or fresh):
                        continue
                    if any(a is not asset for a in index[kind].get(value, [])) or (
                        kind == "key" and value in released
                    ):
                        continue
                    if held:
                        index[kind][held] = [a for a in index[kind][held] if a is not asset]
                        if kind == "key":
                            released.add(held)
                    asset[kind] = value
                    index[kind].setdefault(value, []).append(asset)
                asset["last"] = number
            numbers.append(asset["number"])
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
        machine = str(uuid.UUID(int=rng.getrandbits(128))) if rng.random() < 0.6 else ""
        record = uuid.UUID(int=rng.getrandbits(128)).hex if rng.random() < 0.3 else ""
        return [f"node-{n}", f"10.9.{n // 256}.{n % 256}", f"SN-{n}", "8", machine, record]

    first = [row(n) for n in range(1, 701)]
    second = [row(n) for n in range(2000, 3200)]
    keyed = [1, 2, 4, 5]  # IP, serial, UUID, sys_id
    # Keys shared within the import, rows apart (ranges of 500 rows)...
    for _ in range(80):
        a, b = rng.sample(range(len(second)), 2)
        column = rng.choice(keyed)
        second[b][column] = second[a][column]
    # ... with the first import's assets, by any key, and none at all.
    for _ in range(80):
        b = rng.randrange(len(second))
        source = rng.choice(first)
        column = rng.choice([0, *keyed])
        second[b][column] = source[column]
    for _ in range(20):
        second[rng.randrange(len(second))][1:3] = ["", ""]
    # Keys naming different assets: the serial number wins over the hostname; an IP whose asset
    # has another hostname (or serial) is not that asset; a UUID wins over everything, and rules
    # out a serial or sys_id whose asset has another.
    for n, (a, b, c) in enumerate([(5, 10, 15), (20, 25, 30), (35, 40, 45)]):
        second[100 + n * 300][:3] = [first[a][0], first[c][1], first[b][2]]
        second[150 + n * 300][:3] = [f"fresh-{n}", first[c][1], first[b][2]]
        second[160 + n * 300][:3] = [f"other-{n}", first[c][1], ""]
        second[450 + n * 300][:3] = [second[10 + n * 300][0], "", second[60 + n * 300][2]]
        second[170 + n * 300][2:] = [first[b][2], "8", first[c][4], first[a][5]]
        second[180 + n * 300][2:] = [first[b][2], "8", str(uuid.uuid4()), first[a][5]]
        # A name that is only an IP: found by its IP.
        second[190 + n * 300][:3] = [first[c][1], first[c][1], ""]
        second[190 + n * 300][4:] = ["", ""]

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
    with resources.engine.connect() as conn:
        matched = set(
            conn.scalars(
                text("SELECT DISTINCT matched_on FROM asset_sources WHERE import_id = :i"),
                {"i": imports[1]},
            )
        )
    assert matched == {"created", "uuid", "serial", "source_id", "hostname", "ip"}


def test_rows_cleansed_without_keys_are_keyed_first(client, auth, resources):
    """An import cleansed before the cleansing stored asset keys still de-duplicates."""
    engagement = uuid.uuid4().hex
    rows = [
        ["web-1", "10.8.0.1", "SN-A", "8", "", ""],
        ["WEB-1.corp", "10.8.0.2", "", "16", "", ""],
    ]
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
    """A range's look-ups of the account's assets are made row by row whatever the statistics
    say. Taken while the account was small, they made PostgreSQL hash the account's assets, which
    it then read in full for every range of a large import."""
    probe = [["probe-0", "10.7.0.1", "SN-P0", "8", "", ""]]
    import_id = upload(client, auth, probe, uuid.uuid4().hex)
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
                "FROM generate_series(2, :upto + 1) g"
            ),
            {**params, "upto": RANGE},
        )
        conn.execute(text("ANALYZE cleaned_records"))
        for statement in (inventory.CLEAR_SHARED, inventory.FILL_SHARED):
            conn.execute(statement, params)
        creation = inventory.creation(known_assets=True).text
        # Executed, so that the plan counts how often each node ran (rolled back below).
        (document,) = conn.execute(
            text(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {creation}"),
            {**params, **no_verdicts, "after": 0, "upto": RANGE},
        ).scalar_one()
        conn.rollback()
    plan = ExecutedPlan(creation, document["Plan"])
    # A hashed look-up reads the account's assets once (one loop); probes run row by row.
    loops = [node["Actual Loops"] for node in plan.nodes_reading("assets")]
    assert loops and min(loops) > 1, plan.heaviest_node()
    # Each probe finds its key's asset, not the account's assets: a few rows per row.
    assert plan.work <= 20 * RANGE, plan.heaviest_node()


def import_records(client, auth, records: list[dict], engagement: str, **body) -> str:
    payload = {"records": records, "import_type": "servers", "engagement": engagement, **body}
    response = client.post("/api/v1/imports", json=payload, headers=auth)
    assert response.status_code == 202, response.get_json()
    final = wait_for_final(client, response.get_json()["id"], auth, timeout=120)
    assert final["status"] == "completed", final
    return final["id"]


def asset_list(client, auth) -> list[dict]:
    return client.get("/api/v1/assets?limit=1000", headers=auth).get_json()["items"]


def by_name(client, auth) -> dict[str, dict]:
    return {asset["name"]: asset for asset in asset_list(client, auth)}


def test_two_hostnames_sharing_an_ip_stay_two_assets(client, auth):
    engagement = uuid.uuid4().hex
    import_records(client, auth, [{"hostname": "erp-01", "ip_address": "10.4.0.1"}], engagement)
    # A DR test copy answering on the same address, in the next export and within one.
    import_records(
        client,
        auth,
        [
            {"hostname": "erp-01-dr", "ip_address": "10.4.0.1"},
            {"hostname": "crm-01", "ip_address": "10.4.0.2"},
            {"hostname": "crm-01-clone", "ip_address": "10.4.0.2"},
            # An export that names a machine by its address only: that machine.
            {"hostname": "10.4.0.2", "ip_address": "10.4.0.2", "os_name": "Ubuntu 22.04"},
        ],
        engagement,
    )
    assets = by_name(client, auth)
    assert set(assets) == {"erp-01", "erp-01-dr", "crm-01", "crm-01-clone"}
    assert {a["primary_ip"] for a in assets.values()} == {"10.4.0.1", "10.4.0.2"}
    assert assets["crm-01"]["os_name"] == "Ubuntu 22.04"


def test_a_corrected_ip_replaces_the_wrong_one_unless_another_asset_has_it(client, auth):
    engagement = uuid.uuid4().hex
    import_records(
        client,
        auth,
        [
            {"hostname": "app-07", "ip_address": "10.3.0.99", "serial_number": "SN-7"},
            {"hostname": "app-08", "ip_address": "10.3.0.8"},
        ],
        engagement,
    )
    import_records(
        client,
        auth,
        [
            # Found by its hostname: the newer export's address wins...
            {"hostname": "APP-07.corp.example", "ip_address": "10.3.0.7"},
            # ... but not another asset's: app-08 keeps its own.
            {"hostname": "app-08", "ip_address": "10.3.0.7"},
            # A blank erases nothing.
            {"hostname": "app-07", "serial_number": ""},
        ],
        engagement,
    )
    assets = {a["hostname_key"]: a for a in asset_list(client, auth)}
    assert len(assets) == 2
    assert assets["app-07"]["primary_ip"] == "10.3.0.7"
    assert assets["app-07"]["serial_number"] == "SN-7"
    assert assets["app-07"]["name"] == "app-07.corp.example"
    assert assets["app-08"]["primary_ip"] == "10.3.0.8"


def test_a_uuid_finds_its_asset_whatever_its_name(client, auth):
    engagement = uuid.uuid4().hex
    machine = "4215A7C8-1B2C-4D5E-8F90-0A1B2C3D4E5F"
    import_records(
        client,
        auth,
        [{"hostname": "old-name", "uuid": machine, "ip_address": "10.2.0.1"}],
        engagement,
    )
    import_records(
        client,
        auth,
        [
            # Renamed, braces and capitals: the same machine.
            {"hostname": "new-name", "uuid": "{" + machine.lower() + "}", "memory_gb": 32},
            # A serial of no machine in particular is no key.
            {"hostname": "oem-1", "serial_number": "To be filled by O.E.M."},
            {"hostname": "oem-2", "serial_number": "To be filled by O.E.M."},
        ],
        engagement,
    )
    assets = by_name(client, auth)
    assert set(assets) == {"new-name", "oem-1", "oem-2"}
    renamed = assets["new-name"]
    assert renamed["uuid"] == machine.lower()
    assert (renamed["hostname_key"], renamed["primary_ip"]) == ("new-name", "10.2.0.1")
    assert renamed["memory_gb"] == 32
    # The old name is free: a new machine may take it.
    import_records(client, auth, [{"hostname": "old-name"}], engagement)
    assert set(by_name(client, auth)) == {"new-name", "old-name", "oem-1", "oem-2"}


def test_a_source_record_id_finds_its_asset(client, auth):
    engagement = uuid.uuid4().hex
    sys_id = "9d385017c611228701d22104cc95c371"
    import_records(
        client,
        auth,
        [
            {"hostname": "sn-host", "source_id": sys_id},
            # A MoRef is numbered per vCenter: the same one in two is two machines...
            {"hostname": "vm-a", "source_id": "vm-101", "vcenter": "VC1.corp"},
            {"hostname": "vm-b", "source_id": "vm-101", "vcenter": "vc2.corp"},
        ],
        engagement,
    )
    import_records(
        client,
        auth,
        [
            {"hostname": "sn-host-renamed", "source_id": sys_id, "environment": "prod"},
            # ... and the same one in the same vCenter, one.
            {"hostname": "vm-a2", "source_id": "vm-101", "vcenter": "vc1.corp"},
            # Without its vCenter, a MoRef finds nothing.
            {"hostname": "vm-c", "source_id": "vm-101"},
        ],
        engagement,
    )
    assets = by_name(client, auth)
    assert set(assets) == {"sn-host-renamed", "vm-a2", "vm-b", "vm-c"}
    assert assets["sn-host-renamed"]["source_id"] == sys_id
    assert assets["sn-host-renamed"]["environment"] == "production"
    assert assets["vm-a2"]["source_id"] == "vc1.corp/vm-101"
    assert assets["vm-c"]["source_id"] is None


def test_the_type_rests_on_the_strongest_evidence(client, auth):
    engagement = uuid.uuid4().hex
    import_records(
        client,
        auth,
        [
            {"hostname": "web-11", "is_virtual": True},
            {"hostname": "esx-01", "os_name": "VMware ESXi 7.0.3"},
            {"hostname": "crm-db02"},
            {"hostname": "tpl-rhel9", "is_template": True, "is_virtual": True},
            {"hostname": "tpl-win", "is_template": True},
        ],
        engagement,
    )
    # A later export that knows none of that (a CMDB, a dependency capture): no evidence.
    second = import_records(
        client,
        auth,
        [
            {"hostname": "web-11", "ip_address": "10.1.0.11"},
            {"hostname": "esx-01", "is_virtual": False},
            {"hostname": "crm-db02", "virtual_host": "esx-01"},
            {"hostname": "tpl-rhel9", "is_virtual": True},
            {"hostname": "tpl-win", "is_template": False, "is_virtual": True},
        ],
        engagement,
    )
    types = {name: a["asset_type"] for name, a in by_name(client, auth).items()}
    assert types == {
        "web-11": "virtual_machine",
        "esx-01": "hypervisor",
        # Named a host it runs on: a VM now, not a database server.
        "crm-db02": "virtual_machine",
        "tpl-rhel9": "vm_template",
        # No template any more, as its own flag says.
        "tpl-win": "virtual_machine",
    }
    listed = client.get("/api/v1/assets?type=vm_template", headers=auth).get_json()["items"]
    assert [a["name"] for a in listed] == ["tpl-rhel9"]
    servers = client.get("/api/v1/assets?type=server", headers=auth).get_json()["items"]
    assert servers == []
    detail = client.get(f"/api/v1/imports/{second}", headers=auth).get_json()
    flow = client.get(f"/api/v1/flows/{detail['flow']['id']}", headers=auth).get_json()
    assert flow["summary"]["assets"]["created"] == {}


def test_the_types_precedence():
    merged = inventory.merged_type
    assert merged("virtual_machine", "server", {}, "servers", newer=True) == "virtual_machine"
    assert merged("server", "virtual_machine", {}, "servers", newer=False) == "virtual_machine"
    assert merged("database", "network_device", {}, "servers", newer=True) == "network_device"
    assert merged("database", "network_device", {}, "servers", newer=False) == "database"
    assert merged("hypervisor", "virtual_machine", {}, "servers", newer=True) == "hypervisor"
    flagged = {"is_virtual": True}
    assert merged("hypervisor", "virtual_machine", flagged, "servers", newer=True) == (
        "virtual_machine"
    )
    assert merged("virtual_machine", "server", {"is_virtual": False}, "servers", True) == "server"
    assert merged("vm_template", "virtual_machine", flagged, "servers", True) == "vm_template"
    # A dependency capture never re-types an asset.
    assert merged("virtual_machine", "server", flagged, "dependencies", True) == "virtual_machine"


def test_an_assets_detail_says_why_each_row_is_it(client, auth):
    engagement = uuid.uuid4().hex
    first = import_records(
        client,
        auth,
        [
            {"hostname": "db-77", "serial_number": "SN-77", "ip_address": "10.7.7.7"},
            {"hostname": "db-77.corp.example", "ip_address": "10.7.7.7"},
        ],
        engagement,
    )
    second = import_records(
        client,
        auth,
        [
            {"hostname": "db-77-renamed", "serial_number": "SN-77"},
            {"hostname": "10.7.7.7", "ip_address": "10.7.7.7"},
        ],
        engagement,
    )
    [asset] = asset_list(client, auth)
    detail = client.get(f"/api/v1/assets/{asset['id']}", headers=auth).get_json()
    assert [(i["id"], i["matched_on"]) for i in detail["imports"]] == [
        (first, {"created": 1, "hostname": 1}),
        (second, {"ip": 1, "serial": 1}),
    ]
    assert detail["hostname_key"] == "db-77-renamed"


def test_an_older_import_run_again_only_fills_blanks(client, auth, resources):
    engagement = uuid.uuid4().hex
    older = import_records(
        client,
        auth,
        [{"hostname": "fin-01", "ip_address": "10.6.0.1", "environment": "dev", "owner": "Ann"}],
        engagement,
    )
    import_records(
        client,
        auth,
        [{"hostname": "fin-01", "ip_address": "10.6.0.2", "environment": "prod"}],
        engagement,
    )
    phase = resources.services.phases[FlowPhase.ASSET_INVENTORY]
    with resources.services.transactions.transaction() as session:
        ctx = SimpleNamespace(
            session=session,
            data_import=session.get(DataImport, uuid.UUID(older)),
            checkpoint=lambda done, total: None,
        )
        phase.run(ctx)
    [asset] = asset_list(client, auth)
    assert (asset["primary_ip"], asset["environment"]) == ("10.6.0.2", "production")
    detail = client.get(f"/api/v1/assets/{asset['id']}", headers=auth).get_json()
    assert detail["last_import_id"] != older
    with resources.engine.connect() as conn:
        attributes = conn.scalar(
            text("SELECT attributes FROM assets WHERE id = :id"), {"id": asset["id"]}
        )
    assert (attributes["owner"], attributes["environment"]) == ("Ann", "production")


def test_a_tools_numeric_record_id_is_a_key_within_that_tool(client, auth):
    """Device42's device_pk, in an export recognised as Device42's layout."""
    engagement = uuid.uuid4().hex
    header = ["device_pk", "name", "total_cpus", "ram", "ram_size_type", "hard_disk_size_type"]
    for name in ("edi-a", "edi-a-renamed"):
        body = csv_bytes(header, [[101, name, 2, 4, "GB", "GB"]])
        final = import_completed(client, auth, body, "device42.csv", engagement=engagement)
        assert final["profile"] == "device42-view-device-v2"
    [asset] = asset_list(client, auth)
    assert (asset["name"], asset["source_id"]) == ("edi-a-renamed", "device42:101")
    detail = client.get(f"/api/v1/assets/{asset['id']}", headers=auth).get_json()
    assert [i["matched_on"] for i in detail["imports"]] == [{"created": 1}, {"source_id": 1}]
    # The same number from an export of no known layout is no key.
    import_records(client, auth, [{"hostname": "other", "source_id": "101"}], engagement)
    assert len(asset_list(client, auth)) == 2
