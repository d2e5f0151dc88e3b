"""A row's mapped columns, cleaned into one canonical record (RowCleaner, pure Python)."""

from __future__ import annotations

from collections import defaultdict

from importer.canonical import get_schema
from importer.services.phases.data_cleansing import RowCleaner

SERVERS = get_schema("servers")


def clean(columns: list[tuple], record: dict) -> dict:
    mapped = [
        (column, field, SERVERS.field(field).type, unit, unit_column)
        for column, field, unit, unit_column in columns
    ]
    counts = defaultdict(lambda: defaultdict(int))
    return RowCleaner(mapped, SERVERS).clean(record, counts)


def test_a_sibling_column_names_each_rows_unit() -> None:
    columns = [("ram", "memory_gb", None, "ram_size_type")]
    assert clean(columns, {"ram": 8192, "ram_size_type": "MB"})["memory_gb"] == 8
    assert clean(columns, {"ram": 8, "ram_size_type": "GB"})["memory_gb"] == 8
    assert clean(columns, {"ram": 1, "ram_size_type": "TB"})["memory_gb"] == 1024


def test_several_disk_columns_add_up_and_each_disk_is_kept() -> None:
    columns = [
        ("Disk 1 size (In GB)", "disk_gb", "GB", None),
        ("Disk 2 size (In GB)", "disk_gb", "GB", None),
        ("Disk 3 size (In GB)", "disk_gb", "GB", None),
    ]
    data = clean(columns, {"Disk 1 size (In GB)": 128, "Disk 2 size (In GB)": "512"})
    assert data["disk_gb"] == 640
    assert data["disks_gb"] == [128, 512]


def test_of_two_os_columns_the_one_that_tells_a_version_wins() -> None:
    columns = [
        ("OS according to the configuration file", "os_name", None, None),
        ("OS according to the VMware Tools", "os_name", None, None),
    ]
    configured = "Microsoft Windows Server 2016 or later (64-bit)"
    running = "Microsoft Windows Server 2019 Datacenter (64-bit)"
    both = clean(
        columns,
        {columns[0][0]: configured, columns[1][0]: running},
    )
    assert (both["os_name"], both["os_family"], both["os_version"]) == (running, "windows", "2019")
    # Powered off, the VMware Tools say nothing: the configuration's OS is all there is.
    alone = clean(columns, {columns[0][0]: configured, columns[1][0]: ""})
    assert (alone["os_family"], alone["os_version"]) == ("windows", None)


def test_cores_are_sockets_times_cores_per_cpu_when_not_given() -> None:
    columns = [
        ("cpu_count", "cpu_sockets", None, None),
        ("cpu_core_count", "cores_per_cpu", None, None),
    ]
    assert clean(columns, {"cpu_count": 2, "cpu_core_count": 12})["cpu_cores"] == 24
    given = columns + [("cores", "cpu_cores", None, None)]
    assert clean(given, {"cpu_count": 2, "cpu_core_count": 12, "cores": 16})["cpu_cores"] == 16


def test_disks_are_count_times_each_disks_size() -> None:
    columns = [
        ("hard_disk_count", "disk_count", None, None),
        ("hard_disk_size", "disk_each_gb", None, "hard_disk_size_type"),
    ]
    record = {"hard_disk_count": 6, "hard_disk_size": "1.5", "hard_disk_size_type": "TB"}
    assert clean(columns, record)["disk_gb"] == 9216


def test_each_disks_size_makes_the_total_when_no_column_gives_it() -> None:
    columns = [("vDisk: Capacity MiB", "disks_gb", "MiB", None)]
    data = clean(columns, {"vDisk: Capacity MiB": "40960; 102400"})
    assert (data["disks_gb"], data["disk_gb"]) == ([40, 100], 140)
    with_total = columns + [("Total disk capacity MiB", "disk_gb", "MiB", None)]
    record = {"vDisk: Capacity MiB": "40960; 102400", "Total disk capacity MiB": 143360}
    assert clean(with_total, record)["disk_gb"] == 140
