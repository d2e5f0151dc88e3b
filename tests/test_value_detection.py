from typing import Any

import pytest

from importer.canonical import get_schema
from importer.discovery.value_detection import contradiction, detect_field


def test_ip_column() -> None:
    values = [f"10.0.{n // 256}.{n % 256}" for n in range(200)]
    assert detect_field(values) == ("ip_address", 1.0)


def test_ip_lists_and_ipv6_count() -> None:
    values = ["10.0.0.1; 10.0.0.2", ["10.0.0.3", "2001:db8::1"], "fe80::1", "10.0.0.4", "::1"]
    assert detect_field(values) == ("ip_address", 1.0)


def test_share_of_non_blank_values() -> None:
    values = [f"10.0.0.{n}" for n in range(8)] + ["n/a", "10.0.0.999", "", None, "  ", []]
    assert detect_field(values) == ("ip_address", 0.8)


def test_below_the_threshold() -> None:
    values = [f"10.0.0.{n}" for n in range(7)] + ["n/a", "tbd", "unknown"]
    assert detect_field(values) is None


@pytest.mark.parametrize(
    "mac",
    [
        "00:1a:2b:3c:4d:5e",
        "00-1A-2B-3C-4D-5E",
        "001a.2b3c.4d5e",
        "00:1A:2B:3C:4D:5E; 00:1a:2b:3c:4d:5f",
    ],
)
def test_mac_column(mac: str) -> None:
    assert detect_field([mac] * 6) == ("mac_address", 1.0)


def test_mixed_separators_are_no_mac() -> None:
    assert detect_field(["00:1a-2b:3c-4d:5e"] * 6) is None


def test_fqdn_column() -> None:
    values = [f"srv-{n:05d}.corp.example" for n in range(50)] + ["web-01.example.com."]
    assert detect_field(values) == ("fqdn", 1.0)


@pytest.mark.parametrize(
    "values",
    [
        ["web-01", "web-02", "db-01", "cache-01", "queue-01"],
        ["report.pdf", "Node.js", "ASP.NET", "notes.txt", "vue.js"],
        ["1.2.3", "7.9", "18.04", "2.4.1", "3.10.0"],
        ["alice@example.com"] * 5,
        ["host..example.com"] * 5,
        ["-bad.example.com"] * 5,
    ],
)
def test_no_fqdn(values: list[str]) -> None:
    assert detect_field(values) is None


@pytest.mark.parametrize(
    "values",
    [
        ["Alice", "Bob", "Carla", "Dev", "Team"],
        [1, 2, 3, 4, 5],
        [True, False, True, True, False],
        [16, 32, 64, 128, 256],
        [{"ip": "10.0.0.1"}] * 5,
    ],
)
def test_other_columns(values: list[Any]) -> None:
    assert detect_field(values) is None


def test_too_few_values() -> None:
    assert detect_field(["10.0.0.1"] * 4 + ["", None]) is None
    assert detect_field([]) is None


SERVERS = get_schema("servers")


@pytest.mark.parametrize(
    ("column", "field", "values"),
    [
        # RVTools vInfo's VM names guessed as booleans.
        ("VM", "is_virtual", ["lon-web01", "lon-web02", "vCLS (1)", "lon-db01", "lon-app01"]),
        # Its API version on every row looks like an address, and says it is a version.
        ("VI SDK API Version", "ip_address", ["7.0.3.0"] * 8),
        # One address on every row identifies no host.
        ("Gateway address", "ip_address", ["10.0.0.1"] * 8),
        # A count of disks is no size.
        ("Disks", "disk_gb", [1, 2, 1, 4, 2]),
        ("Number of disks", "disk_gb", [1, 2, 1, 4, 2]),
    ],
)
def test_a_guess_its_column_contradicts_is_refused(column: str, field: str, values) -> None:
    assert contradiction(SERVERS.field(field), column, values, None) is not None


@pytest.mark.parametrize(
    ("column", "field", "values"),
    [
        ("Primary IP Address", "ip_address", [f"10.0.0.{n}" for n in range(8)]),
        ("Virtual", "is_virtual", ["yes", "no", "yes", "true", "1"]),
        ("RAM", "memory_gb", [4, 8, 16, 32, 64]),
        # Too few values to judge: the header's word stands.
        ("Host", "hostname", ["a b", "c d"]),
    ],
)
def test_a_guess_its_column_bears_out_stands(column: str, field: str, values) -> None:
    assert contradiction(SERVERS.field(field), column, values, None) is None
