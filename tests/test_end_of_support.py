import csv
import io
from datetime import date
from importlib import resources

import pytest

from importer.discovery.end_of_support import (
    FAMILIES,
    SERVICE_PACK,
    EndOfSupportTable,
    SupportStatus,
)
from importer.discovery.os_parse import parse_os, version_components
from importer.discovery.product_parse import parse_product

HEADER = "family,version,end_of_support,source\n"
SOURCE = "https://example.com/lifecycle"


@pytest.fixture(scope="module")
def table() -> EndOfSupportTable:
    return EndOfSupportTable.load()


def shipped_rows() -> list[dict[str, str]]:
    text = (resources.files("importer.discovery") / "data" / "end_of_support.csv").read_text(
        encoding="utf-8"
    )
    return list(csv.DictReader(io.StringIO(text)))


def test_shipped_table_integrity() -> None:
    rows = shipped_rows()
    assert rows
    keys = set()
    for row in rows:
        assert row["family"] in FAMILIES
        assert row["version"].strip() == row["version"] != ""
        assert row["source"].startswith("https://"), row
        assert " " not in row["source"], row
        date.fromisoformat(row["end_of_support"])
        keys.add((row["family"], row["version"].casefold()))
    assert len(keys) == len(rows), "a (family, version) is repeated"


def test_shipped_table_covers_the_main_releases(table: EndOfSupportTable) -> None:
    assert len(table.entries) == len(shipped_rows())
    covered = {(entry.family, entry.version) for entry in table.entries}
    for key in [
        ("windows", "2008"),
        ("windows", "2008 R2"),
        ("windows", "2012"),
        ("windows", "2012 R2"),
        ("windows", "2016"),
        ("windows", "2019"),
        ("windows", "2022"),
        ("rhel", "6"),
        ("rhel", "7"),
        ("rhel", "8"),
        ("rhel", "9"),
        ("centos", "7"),
        ("centos", "8"),
        ("ubuntu", "18.04"),
        ("ubuntu", "24.04"),
        ("sles", "11 SP4"),
        ("sles", "12 SP5"),
        ("debian", "8"),
        ("debian", "12"),
        ("oracle_linux", "6"),
        ("oracle_linux", "8"),
        ("amazon_linux", "1"),
        ("amazon_linux", "2"),
    ]:
        assert key in covered


@pytest.mark.parametrize(
    ("family", "version", "end"),
    [
        ("windows", "2008 R2", date(2020, 1, 14)),
        ("windows", "2012 R2", date(2023, 10, 10)),
        ("windows", "2016", date(2027, 1, 12)),
        ("windows", "2019", date(2029, 1, 9)),
        ("windows", "2022", date(2031, 10, 14)),
        ("rhel", "7", date(2024, 6, 30)),
        ("rhel", "8", date(2029, 5, 31)),
        ("rhel", "9", date(2032, 5, 31)),
        ("centos", "7", date(2024, 6, 30)),
        ("centos", "8", date(2021, 12, 31)),
        ("ubuntu", "18.04", date(2023, 5, 31)),
        ("ubuntu", "20.04", date(2025, 5, 31)),
        ("sles", "12 SP5", date(2024, 10, 31)),
        ("debian", "10", date(2024, 6, 30)),
        ("debian", "11", date(2026, 8, 31)),
        ("amazon_linux", "2", date(2026, 6, 30)),
    ],
)
def test_known_dates(table: EndOfSupportTable, family: str, version: str, end: date) -> None:
    assert table.assess(family, version, date(2020, 1, 1)).end_of_support == end


@pytest.mark.parametrize(
    ("today", "severity"),
    [
        (date(2020, 1, 1), "ok"),
        (date(2022, 10, 9), "ok"),
        (date(2022, 10, 10), "medium"),
        (date(2023, 4, 9), "medium"),
        (date(2023, 4, 10), "high"),
        (date(2023, 10, 10), "high"),
        (date(2023, 10, 11), "critical"),
        (date(2030, 1, 1), "critical"),
    ],
)
def test_severity_at_fixed_dates(table: EndOfSupportTable, today: date, severity: str) -> None:
    status = table.assess("windows", "2012 R2", today)
    assert status == SupportStatus(
        severity,  # type: ignore[arg-type]
        date(2023, 10, 10),
        "https://learn.microsoft.com/en-us/lifecycle/products/windows-server-2012-r2",
    )


@pytest.mark.parametrize(
    ("family", "version", "end"),
    [
        ("rhel", "7.9", date(2024, 6, 30)),
        ("centos", "7.9.2009", date(2024, 6, 30)),
        ("ubuntu", "18.04.6", date(2023, 5, 31)),
        ("ubuntu", "18.4", date(2023, 5, 31)),
        ("windows", "2012", date(2023, 10, 10)),
        ("windows", "2012 r2", date(2023, 10, 10)),
        ("sles", "12 SP5", date(2024, 10, 31)),
        ("amazon_linux", "2023.4.20240401", date(2029, 6, 30)),
    ],
)
def test_version_prefix_matching(
    table: EndOfSupportTable, family: str, version: str, end: date
) -> None:
    assert table.assess(family, version, date(2020, 1, 1)).end_of_support == end


@pytest.mark.parametrize(
    ("family", "version"),
    [
        ("windows", "2012 R3"),
        ("windows", "1995"),
        ("rhel", "11"),
        ("rhel", "70"),
        ("centos", "Stream 10"),
        # Which service pack is unknown, and SLES 12's ended years apart: SP5 is still supported.
        ("sles", "12"),
        ("sles", "12 SP9"),
        # 12c without its release: 12.1 or 12.2? Solaris 11.0 to 11.2 have no row.
        ("oracle_database", "12"),
        ("solaris", "11"),
        ("ubuntu", "18"),
        ("ubuntu", "18.10"),
        ("amazon_linux", "2017.09"),
        ("linux", "8.6"),
        ("other", "13.1"),
        ("freebsd", "13"),
        (None, "7"),
        ("rhel", None),
        (None, None),
    ],
)
def test_unknown(table: EndOfSupportTable, family: str | None, version: str | None) -> None:
    assert table.assess(family, version, date(2024, 1, 1)) == SupportStatus("unknown", None, None)


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("Windows Server 2012 R2", "critical"),
        ("Win2k8 R2", "critical"),
        ("Microsoft Windows Server 2016 Standard", "medium"),
        ("Microsoft Windows Server 2019 Standard", "ok"),
        ("RHEL8.4", "ok"),
        ("CentOS Linux 7 (Core)", "critical"),
        ("Ubuntu 18.04 LTS", "critical"),
        ("Ubuntu 22.04", "ok"),
        ("SLES 12 SP5", "critical"),
        ("SUSE Linux Enterprise Server 15 SP6", "critical"),
        ("Debian GNU/Linux 11 (bullseye)", "high"),
        ("Amazon Linux 2", "high"),
        ("CentOS Stream 9", "ok"),
    ],
)
def test_parsed_os_names_key_the_table(table: EndOfSupportTable, text: str, severity: str) -> None:
    info = parse_os(text)
    assert table.assess(info.family, info.version, date(2026, 3, 1)).severity == severity


def test_longest_matching_row_wins() -> None:
    table = EndOfSupportTable.from_csv(
        HEADER + f"rhel,7,2024-06-30,{SOURCE}\nrhel,7.9,2028-06-30,{SOURCE}\n"
    )
    assert table.assess("rhel", "7.9", date(2025, 1, 1)).end_of_support == date(2028, 6, 30)
    assert table.assess("rhel", "7.6", date(2025, 1, 1)).end_of_support == date(2024, 6, 30)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("rhel,7,2024-06-30,\n", "https URL"),
        ("rhel,7,2024-06-30,http://example.com\n", "https URL"),
        ("rhel,7,30/06/2024,https://example.com\n", "not an ISO date"),
        ("rhel,,2024-06-30,https://example.com\n", "no version"),
        ("redhat,7,2024-06-30,https://example.com\n", "unknown family"),
        ("rhel,7,2024-06-30\n", "https URL"),
        ("rhel,7,2024-06-30,https://example.com,extra\n", "more cells"),
        (
            "windows,2012 R2,2023-10-10,https://example.com\n"
            "windows,2012 r2,2023-10-10,https://example.com\n",
            "repeated",
        ),
    ],
)
def test_invalid_rows_are_refused(rows: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EndOfSupportTable.from_csv(HEADER + rows)


def test_wrong_columns_are_refused() -> None:
    with pytest.raises(ValueError, match="columns"):
        EndOfSupportTable.from_csv("family,version,end_of_support\nrhel,7,2024-06-30\n")


def test_invalid_row_reports_its_line() -> None:
    with pytest.raises(ValueError, match="line 3"):
        EndOfSupportTable.from_csv(HEADER + f"rhel,7,2024-06-30,{SOURCE}\nrhel,8,2029-05-31,\n")


# The releases a migration team most needs flagged, as the tools spell them (name and version
# columns): every one is past its end of support on this day.
AS_OF = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("Microsoft Windows 2000 Server", None),
        ("Microsoft Windows Server 2003 Standard (32-bit)", None),
        ("Windows Server 2003 R2 Enterprise x64 Edition", None),
        ("Windows 2008 R2", None),
        ("Windows Server 2012 R2 Datacenter", None),
        ("Red Hat Enterprise Linux 4", None),
        ("Red Hat Enterprise Linux 5 (64-bit)", None),
        ("Red Hat Enterprise Linux Server", "6.10"),
        ("CentOS 5.11", None),
        ("CentOS 6.10", None),
        ("CentOS Linux 7 (Core)", None),
        ("CentOS Stream 8", None),
        ("Linux Oracle", "7.9"),
        ("OEL 5.11", None),
        ("SUSE Linux Enterprise 11 (64-bit)", "11 SP4"),
        ("SUSE Linux Enterprise 11 (64-bit)", None),
        ("SLES 10 SP4", None),
        ("SLES 12", None),
        ("SLES 15 SP3", None),
        ("Ubuntu 12.04.5 LTS", None),
        ("Ubuntu 16.04.7 LTS", None),
        ("Debian GNU/Linux 6.0.10 (squeeze)", None),
        ("Debian GNU/Linux 9 (stretch)", None),
        ("AIX", "6100-09-12-1846"),
        ("AIX 7.1", None),
        ("SunOS 5.10", None),
        ("Oracle Solaris 11.3", None),
        ("HP-UX 11i v2", None),
        ("HP-UX B.11.31", None),
        ("VMware ESXi 5.0.0 build-469512", None),
        ("VMware ESXi 5.1.0 build-1065491", None),
        ("VMware ESXi 5.5.0 build-3248547", None),
        ("VMware ESXi 6.0.0 build-3620759", None),
        ("VMware ESXi 6.5.0 build-4564106", None),
        ("VMware ESXi 6.7.0", None),
        ("VMware ESXi 7.0.3 build-20328353", None),
    ],
)
def test_old_operating_systems_are_critical(
    table: EndOfSupportTable, name: str, version: str | None
) -> None:
    info = parse_os(name, version)
    status = table.assess(info.family, info.version, AS_OF)
    assert status.severity == "critical", (info, status)
    assert status.end_of_support < AS_OF


@pytest.mark.parametrize(
    ("engine", "version"),
    [
        ("Microsoft SQL Server 2005", None),
        ("Microsoft SQL Server 2008 R2 (SP3)", None),
        ("SQL Server", "11.0.7001.0"),
        ("Microsoft SQL Server 2014 (SP3)", None),
        ("Microsoft SQL Server 2016 (SP2)", None),
        ("Oracle Database 10g Release 2", None),
        ("Oracle 11g R2", None),
        ("Oracle Database 12c Enterprise Edition Release 12.1.0.2.0", None),
        ("Oracle Database 18c", None),
        ("MySQL 5.5.62", None),
        ("MySQL 5.7.38", None),
        ("mysql", "8.0.36"),
        ("PostgreSQL 9.6.24", None),
        ("PostgreSQL 12.4", None),
    ],
)
def test_old_databases_are_critical(
    table: EndOfSupportTable, engine: str, version: str | None
) -> None:
    product = parse_product(engine, version)
    status = table.assess(product.family, product.version, AS_OF)
    assert status.severity == "critical", (product, status)


@pytest.mark.parametrize(
    ("name", "severity"),
    [
        ("VMware ESXi 8.0.2 build-22380479", "medium"),
        ("Windows Server 2025 Datacenter", "ok"),
        ("Red Hat Enterprise Linux 10.0", "ok"),
        ("SLES 15 SP7", "ok"),
        ("Oracle Solaris 11.4", "ok"),
    ],
)
def test_current_releases_are_not_flagged(
    table: EndOfSupportTable, name: str, severity: str
) -> None:
    info = parse_os(name)
    assert table.assess(info.family, info.version, AS_OF).severity == severity


def test_a_lower_bound_is_not_assessed(table: EndOfSupportTable) -> None:
    info = parse_os("Microsoft Windows Server 2016 or later (64-bit)")
    assert table.assess(info.family, info.version, AS_OF).severity == "unknown"


def test_without_its_service_pack_a_release_is_critical_once_every_one_has_ended() -> None:
    table = EndOfSupportTable.from_csv(
        HEADER
        + "sles,12 GA,2016-06-30,https://example.com/ga\n"
        + "sles,12 SP1,2017-05-31,https://example.com/sp1\n"
        + "sles,12 SP2,2018-03-31,https://example.com/sp2\n"
    )
    assert table.assess("sles", "12", date(2018, 3, 31)) == SupportStatus("unknown", None, None)
    assert table.assess("sles", "12", date(2018, 4, 1)) == SupportStatus(
        "critical", date(2018, 3, 31), "https://example.com/sp2"
    )
    # A known service pack keeps its own date.
    assert table.assess("sles", "12 SP1", date(2016, 1, 1)).severity == "ok"


def test_without_its_point_release_a_version_stays_unknown() -> None:
    # "18" may be 18.04 or 18.10, and the table lists LTS releases only.
    table = EndOfSupportTable.from_csv(HEADER + f"ubuntu,18.04,2023-05-31,{SOURCE}\n")
    assert table.assess("ubuntu", "18", date(2030, 1, 1)) == SupportStatus("unknown", None, None)


def test_every_service_pack_of_a_release_has_a_row() -> None:
    # The assessment of a release without its service pack relies on it.
    packs: dict[tuple[str, str], set[str]] = {}
    for row in shipped_rows():
        components = version_components(row["version"])
        if len(components) == 2 and SERVICE_PACK.fullmatch(components[1]):
            packs.setdefault((row["family"], components[0]), set()).add(components[1])
    assert packs
    for release, found in packs.items():
        last = max(int(pack.removeprefix("sp")) for pack in found if pack != "ga")
        expected = {"ga"} | {f"sp{number}" for number in range(1, last + 1)}
        assert found == expected, release
