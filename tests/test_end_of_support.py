import csv
import io
from datetime import date
from importlib import resources

import pytest

from importer.discovery.end_of_support import EndOfSupportTable, SupportStatus
from importer.discovery.os_parse import OS_FAMILIES, parse_os

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
        assert row["family"] in OS_FAMILIES
        assert row["version"].strip() == row["version"] != ""
        assert row["source"].startswith("https://"), row
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
        ("windows", "2003"),
        ("rhel", "10"),
        ("rhel", "70"),
        ("centos", "Stream 9"),
        # Which service pack is unknown, and SLES 12's ended years apart.
        ("sles", "12"),
        ("sles", "12 SP2"),
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
        ("CentOS Stream 9", "unknown"),
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
