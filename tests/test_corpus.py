"""Exports in the tools' documented layouts (tests/corpus) give the inventory they must, untouched.

Each corpus file is uploaded as it is, into an account of its own, and must complete with no
person editing a mapping. Its assets are then held against the file's expected inventory:
- at least 97% of the expected field values land right;
- memory is within 2% for at least 98% of the hosts;
- every host past its end of support is `critical`;
- no two distinct hosts merge (each expected host is an asset of its own).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text

from importer.discovery.profiles import profiles
from tests.helpers import uploaded, wait_for_final

pytestmark = pytest.mark.usefixtures("celery_worker")

CORPUS = Path(__file__).parent / "corpus"
SERVER_PROFILES = [p.id for p in profiles() if p.import_type == "servers"]
FIELDS = ("memory_gb", "cpu_cores", "disk_gb", "os_family", "os_version", "primary_ip")
ASSETS = text(
    """
    SELECT hostname_key, memory_gb, cpu_cores, (attributes ->> 'disk_gb')::float AS disk_gb,
           os_family, os_version, primary_ip, eos_severity, asset_type
    FROM assets WHERE client_account_id = :account
    """
)
ASSETS_SNAPSHOT = text(
    "SELECT id, asset_type, attributes, updated_at FROM assets WHERE client_account_id = :account"
)
EDGES = text(
    """
    SELECT s.hostname_key, coalesce(t.hostname_key, d.target_ref), d.port
    FROM asset_dependencies d
    JOIN assets s ON s.id = d.source_asset_id
    LEFT JOIN assets t ON t.id = d.target_asset_id
    WHERE d.client_account_id = :account AND d.observed
    """
)


def upload(client, headers, body: bytes, filename: str, **form: str) -> dict:
    import_id = uploaded(client, headers, body, filename, **form)
    statuses = {"completed", "failed", "cancelled", "waiting_for_approval"}
    return wait_for_final(client, import_id, headers, 120, statuses)


def as_workbook(csv_text: str, sheet: str) -> bytes:
    """The export as a workbook whose data sheet is not the first, as RVTools writes them."""
    workbook = Workbook()
    workbook.active.title = "vMetaData"
    workbook.active.append(["RVTools version", "4.6.1"])
    data = workbook.create_sheet(sheet)
    rows = csv.reader(io.StringIO(csv_text))
    data.append(next(rows))
    for row in rows:
        data.append([typed(cell) for cell in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def with_companions(workbook_bytes: bytes, csv_text: str) -> tuple[bytes, dict[str, str]]:
    """The vInfo workbook with its vNetwork and vDisk sheets: each VM's primary NIC, a second
    NIC for the first three VMs, and each VM's disks (two for those three); and those VMs'
    second address."""
    workbook = load_workbook(io.BytesIO(workbook_bytes))
    nics, disks = workbook.create_sheet("vNetwork"), workbook.create_sheet("vDisk")
    nics.append(["VM", "NIC label", "IPv4 Address", "VM ID", "VI SDK Server", "VI SDK UUID"])
    disks.append(["VM", "Disk", "Capacity MiB", "VM ID", "VI SDK Server", "VI SDK UUID"])
    second = {}
    for n, row in enumerate(csv.DictReader(io.StringIO(csv_text))):
        ids = [row["VM ID"], row["VI SDK Server"], row["VI SDK UUID"]]
        nics.append([row["VM"], "Network adapter 1", row["Primary IP Address"], *ids])
        total = int(row["Total disk capacity MiB"] or 0)
        sizes = [20480, total - 20480] if n < 3 and total > 20480 else [total]
        for disk, size in enumerate(sizes, 1):
            disks.append([row["VM"], f"Hard disk {disk}", size, *ids])
        if n < 3:
            second[row["VM"].lower()] = f"10.99.0.{n + 1}"
            nics.append([row["VM"], "Network adapter 2", f"10.99.0.{n + 1}", *ids])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue(), second


def typed(cell: str):
    """A cell as a spreadsheet holds it: RVTools writes numbers and booleans, not their text."""
    if cell in ("True", "False"):
        return cell == "True"
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell or None


def close(field: str, actual, expected) -> bool:
    if expected is None:
        return True
    if actual is None:
        return False
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return abs(float(actual) - expected) <= 0.02 * abs(expected)
    if field == "os_version":
        # The release ("7") of a point release the export tells ("7.9") is right too.
        return f"{actual} ".startswith(f"{expected} ") or f"{actual}".startswith(f"{expected}.")
    return str(actual) == str(expected)


@pytest.mark.parametrize("profile_id", SERVER_PROFILES)
def test_an_export_in_its_tools_layout_gives_the_right_inventory(
    client, make_account, resources, profile_id
):
    account, headers = make_account()
    content = (CORPUS / f"{profile_id}.csv").read_text(encoding="utf-8")
    expected = json.loads((CORPUS / f"{profile_id}.expected.json").read_text(encoding="utf-8"))
    profile = next(p for p in profiles() if p.id == profile_id)
    if profile.sheet:
        # A workbook's data sheet is found by name; another sheet of it is named in the upload.
        workbook = as_workbook(content, profile.sheet)
        named = {} if profile.default_sheet else {"sheet": profile.sheet}
        final = upload(client, headers, workbook, f"{profile_id}.xlsx", **named)
    else:
        final = upload(client, headers, content.encode(), f"{profile_id}.csv")

    assert final["status"] == "completed", final
    assert final["profile"] == profile_id
    assert final["sheet"] == profile.sheet
    with resources.engine.connect() as conn:
        assets = {row.hostname_key: row for row in conn.execute(ASSETS, {"account": account})}

    missing = [host["hostname_key"] for host in expected if host["hostname_key"] not in assets]
    assert not missing, f"hosts merged away or lost: {missing}"
    wrong, checked = [], 0
    for host in expected:
        asset = assets[host["hostname_key"]]
        for field in FIELDS:
            if host[field] is None:
                continue
            checked += 1
            if not close(field, getattr(asset, field), host[field]):
                wrong.append((host["hostname_key"], field, getattr(asset, field), host[field]))
    assert len(wrong) <= 0.03 * checked, f"{len(wrong)} of {checked} values wrong: {wrong}"

    sized = [host for host in expected if host["memory_gb"] is not None]
    memory_right = [
        h for h in sized if close("memory_gb", assets[h["hostname_key"]].memory_gb, h["memory_gb"])
    ]
    assert len(memory_right) >= 0.98 * len(sized), [
        (h["hostname_key"], assets[h["hostname_key"]].memory_gb, h["memory_gb"])
        for h in sized
        if h not in memory_right
    ]
    past = [host["hostname_key"] for host in expected if host["past_end_of_support"]]
    assert [key for key in past if assets[key].eos_severity != "critical"] == []


def test_a_dependency_export_adds_edges_and_changes_no_asset(client, make_account, resources):
    account, headers = make_account()
    servers = (CORPUS / "azure-migrate-servers.csv").read_bytes()
    assert upload(client, headers, servers, "servers.csv")["status"] == "completed"
    with resources.engine.connect() as conn:
        before = conn.execute(ASSETS_SNAPSHOT, {"account": account}).all()

    flows = (CORPUS / "azure-migrate-dependencies.csv").read_bytes()
    final = upload(client, headers, flows, "dependencies.csv", import_type="dependencies")

    assert final["status"] == "completed", final
    assert final["profile"] == "azure-migrate-dependencies"
    expected = json.loads((CORPUS / "azure-migrate-dependencies.expected.json").read_text())
    with resources.engine.connect() as conn:
        edges = {tuple(row) for row in conn.execute(EDGES, {"account": account})}
        after = conn.execute(ASSETS_SNAPSHOT, {"account": account}).all()
    assert {tuple(edge) for edge in expected["edges"]} <= edges
    assert sorted(after) == sorted(before)


def test_an_rvtools_workbook_adds_each_vms_nics_and_disks_from_their_sheets(
    client, make_account, resources
):
    account, headers = make_account()
    content = (CORPUS / "rvtools-vinfo.csv").read_text(encoding="utf-8")
    expected = json.loads((CORPUS / "rvtools-vinfo.expected.json").read_text(encoding="utf-8"))
    workbook, second = with_companions(as_workbook(content, "vInfo"), content)
    final = upload(client, headers, workbook, "rvtools.xlsx")

    assert final["status"] == "completed", final
    query = text(
        "SELECT hostname_key, primary_ip, attributes -> 'ip_address' AS ips,"
        " (attributes ->> 'disk_gb')::float AS disk_gb, attributes -> 'disks_gb' AS disks"
        " FROM assets WHERE client_account_id = :account"
    )
    with resources.engine.connect() as conn:
        assets = {row.hostname_key: row for row in conn.execute(query, {"account": account})}
    # The primary address stays first, so the asset's key is what vInfo says; the disks add up
    # to vInfo's total.
    for host in expected:
        asset = assets[host["hostname_key"]]
        assert asset.primary_ip == host["primary_ip"]
        if host["disk_gb"]:
            assert sum(asset.disks) == pytest.approx(asset.disk_gb), host["hostname_key"]
    for vm, address in second.items():
        assert address in assets[vm].ips, (vm, assets[vm].ips)
        assert len(assets[vm].disks) == 2, (vm, assets[vm].disks)
