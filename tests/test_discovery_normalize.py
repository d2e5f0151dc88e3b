from typing import Any

import pytest

from importer.canonical import IMPORT_TYPES, get_schema
from importer.discovery.normalize import Cleaned, normalize_hostname_key, normalize_value
from importer.sample_export import HEADER, messy_rows
from importer.services.record_validation import RecordValidator


def clean(field: str, raw: Any, import_type: str = "servers") -> Cleaned:
    spec = get_schema(import_type).field(field)
    return normalize_value(spec.type, spec.name, raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("prod", "production"),
        ("PROD", "production"),
        ("Production", "production"),
        ("prd", "production"),
        ("Live", "production"),
        ("dev", "development"),
        ("Development", "development"),
        ("develop", "development"),
        ("stg", "staging"),
        ("stage", "staging"),
        ("Staging", "staging"),
        ("preprod", "staging"),
        ("pre-prod", "staging"),
        ("Pre Prod", "staging"),
        ("tst", "test"),
        ("testing", "test"),
        ("UAT", "uat"),
        ("acceptance", "uat"),
        ("QA", "qa"),
        ("Disaster Recovery", "dr"),
        ("DR", "dr"),
        ("Sandbox", "sandbox"),
        (" prod ", "production"),
    ],
)
def test_environment_synonyms(raw: str, expected: str) -> None:
    assert clean("environment", raw) == Cleaned(expected, "changed")


def test_canonical_environment_is_kept() -> None:
    assert clean("environment", "production") == Cleaned("production", "kept")


def test_unknown_environment_is_kept_lower_cased() -> None:
    assert clean("environment", "  Perf   Test ") == Cleaned("perf test", "changed")
    assert clean("environment", "training") == Cleaned("training", "kept")


def test_environment_of_other_import_types() -> None:
    assert clean("environment", "PRD", "databases") == Cleaned("production", "changed")


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        ("memory_gb", "16GB", 16),
        ("memory_gb", "16 GB", 16),
        ("memory_gb", "16 gb RAM", 16),
        ("memory_gb", "16GiB", 16),
        ("memory_gb", "16 G", 16),
        ("memory_gb", "512 MB", 0.5),
        ("memory_gb", "1000 MB", 0.9765625),
        ("memory_gb", "2 TB", 2048),
        ("memory_gb", "0.1 TB", 102.4),
        ("memory_gb", "17179869184 bytes", 16),
        ("memory_gb", "0.5", 0.5),
        ("memory_gb", "1,024", 1024),
        ("memory_gb", "16.0", 16),
        ("disk_gb", "1.5 TB", 1536),
        ("size_gb", "250 MB", 0.244140625),
        ("cpu_cores", "4 cores", 4),
        ("cpu_cores", "4", 4),
        ("cpu_cores", "4.0", 4),
        ("cpu_cores", "1,024", 1024),
        ("port", "1521", 1521),
    ],
)
def test_numbers_from_text(field: str, raw: str, expected: float) -> None:
    import_type = "databases" if field in ("size_gb", "port") else "servers"
    cleaned = clean(field, raw, import_type)
    assert cleaned == Cleaned(expected, "changed")
    assert type(cleaned.value) is type(expected)


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("memory_gb", "-1"),
        ("memory_gb", "lots"),
        ("memory_gb", "16 furlongs"),
        ("memory_gb", "85%"),
        ("memory_gb", "16,5"),
        ("memory_gb", True),
        ("memory_gb", float("nan")),
        ("memory_gb", float("inf")),
        ("memory_gb", [16]),
        ("cpu_cores", "4.5"),
        ("cpu_cores", 4.5),
        ("cpu_cores", -2),
        ("cpu_cores", False),
    ],
)
def test_numbers_rejected(field: str, raw: Any) -> None:
    assert clean(field, raw) == Cleaned(None, "rejected")


def test_json_numbers() -> None:
    assert clean("cpu_cores", 4) == Cleaned(4, "kept")
    assert clean("cpu_cores", 4.0) == Cleaned(4, "changed")
    assert clean("memory_gb", 0.5) == Cleaned(0.5, "kept")
    assert clean("memory_gb", 16) == Cleaned(16, "kept")
    assert clean("memory_gb", 16.0) == Cleaned(16, "changed")
    assert clean("memory_gb", 0) == Cleaned(0, "kept")


def test_units_only_convert_size_fields() -> None:
    assert clean("cpu_cores", "2 TB") == Cleaned(2, "changed")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("yes", True),
        ("YES", True),
        ("true", True),
        ("True", True),
        ("1", True),
        ("y", True),
        ("On", True),
        ("no", False),
        ("FALSE", False),
        ("0", False),
        ("N", False),
        (" off ", False),
        (1, True),
        (0, False),
        (1.0, True),
    ],
)
def test_booleans(raw: Any, expected: bool) -> None:
    assert clean("is_virtual", raw) == Cleaned(expected, "changed")


def test_json_booleans_are_kept() -> None:
    assert clean("is_virtual", True) == Cleaned(True, "kept")
    assert clean("is_virtual", False) == Cleaned(False, "kept")


@pytest.mark.parametrize("raw", ["maybe", "2", 2, 0.5, ["yes"]])
def test_booleans_rejected(raw: Any) -> None:
    assert clean("is_virtual", raw) == Cleaned(None, "rejected")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-01-05", "2023-01-05T00:00:00+00:00"),
        ("01/05/2023", "2023-01-05T00:00:00+00:00"),
        ("5 Jan 2023", "2023-01-05T00:00:00+00:00"),
        ("Jan 5, 2023 10:30 AM", "2023-01-05T10:30:00+00:00"),
        ("2023-01-05 10:00:00", "2023-01-05T10:00:00+00:00"),
        ("2023-01-05T10:00:00Z", "2023-01-05T10:00:00+00:00"),
        ("2023-01-05T10:00:00+02:00", "2023-01-05T08:00:00+00:00"),
        ("2023-01-05 01:00 -0500", "2023-01-05T06:00:00+00:00"),
        ("5 Jan 2023 10:00 GMT", "2023-01-05T10:00:00+00:00"),
        ("2023-01-05T10:00:00.250", "2023-01-05T10:00:00.250000+00:00"),
        ("March 2021", "2021-03-01T00:00:00+00:00"),
        # Zone abbreviations are ambiguous: the time is taken as UTC.
        ("Jan 5 2023 10:00 CEST", "2023-01-05T10:00:00+00:00"),
    ],
)
def test_dates(raw: str, expected: str) -> None:
    assert clean("install_date", raw) == Cleaned(expected, "changed")


def test_canonical_date_is_kept() -> None:
    assert clean("last_seen", "2023-01-05T00:00:00+00:00") == Cleaned(
        "2023-01-05T00:00:00+00:00", "kept"
    )


@pytest.mark.parametrize("raw", ["n/a", "0000-00-00", "2023-02-30", "yesterday", 20230105, 1.5])
def test_dates_rejected(raw: Any) -> None:
    assert clean("install_date", raw) == Cleaned(None, "rejected")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 10.0.0.5 ", "10.0.0.5"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("10.0.0.5; 10.0.0.6", ["10.0.0.5", "10.0.0.6"]),
        ("10.0.0.5,10.0.0.6 2001:db8::1", ["10.0.0.5", "10.0.0.6", "2001:db8::1"]),
        ("10.0.0.5;\n10.0.0.5", "10.0.0.5"),
        (["10.0.0.5"], "10.0.0.5"),
        (["10.0.0.5", " 10.0.0.6 "], ["10.0.0.5", "10.0.0.6"]),
    ],
)
def test_ips(raw: Any, expected: Any) -> None:
    assert clean("ip_address", raw) == Cleaned(expected, "changed")


def test_canonical_ips_are_kept() -> None:
    assert clean("ip_address", "10.0.0.5") == Cleaned("10.0.0.5", "kept")
    assert clean("ip_address", ["10.0.0.5", "10.0.0.6"]) == Cleaned(
        ["10.0.0.5", "10.0.0.6"], "kept"
    )


@pytest.mark.parametrize(
    "raw", ["10.0.0.999", "not-an-ip", "192.168.1", "10.0.0.5; nope", 167772165, ["10.0.0.5", 7]]
)
def test_ips_rejected(raw: Any) -> None:
    assert clean("ip_address", raw) == Cleaned(None, "rejected")


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        ("hostname", " WEB-01 ", "web-01"),
        ("hostname", "Web-01.Corp.Example.COM", "web-01.corp.example.com"),
        ("fqdn", "web-01.corp.example.com.", "web-01.corp.example.com"),
        ("hostname", 1001, "1001"),
    ],
)
def test_hostnames(field: str, raw: Any, expected: str) -> None:
    assert clean(field, raw) == Cleaned(expected, "changed")


def test_canonical_hostname_is_kept() -> None:
    assert clean("hostname", "web-01.corp.example") == Cleaned("web-01.corp.example", "kept")


@pytest.mark.parametrize("raw", ["web 01", "web/01", True, 1.5, ["web-01"]])
def test_hostnames_rejected(raw: Any) -> None:
    assert clean("hostname", raw) == Cleaned(None, "rejected")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("WEB-01.corp.example.com", "web-01"),
        ("  web-01  ", "web-01"),
        ("web-01.", "web-01"),
        ("10.0.0.5", "10.0.0.5"),
        ("2001:DB8::0001", "2001:db8::1"),
        ("10.000.0.5", "10.000.0.5"),
        (1001, "1001"),
        ("", None),
        ("   ", None),
        (None, None),
        (".example.com", None),
        (["web-01"], None),
        (True, None),
    ],
)
def test_hostname_key(raw: Any, expected: str | None) -> None:
    assert normalize_hostname_key(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("db-01; cache-01", ["db-01", "cache-01"]),
        ("db-01,cache-01\nweb-01\r\nweb-02", ["db-01", "cache-01", "web-01", "web-02"]),
        ("db-01;;db-01; ", ["db-01"]),
        ("Payments API", ["Payments API"]),
        ("Billing Portal (RightFax)", ["Billing Portal (RightFax)"]),
        ("web-01::Depends on::Used by::db-01", ["web-01", "db-01"]),
        (["db-01; cache-01", "db-01"], ["db-01", "cache-01"]),
        ([" db-01 ", "cache-01", ""], ["db-01", "cache-01"]),
        (["db-01", 1001], ["db-01", "1001"]),
        (1001, ["1001"]),
    ],
)
def test_lists(raw: Any, expected: list[str]) -> None:
    assert clean("dependencies", raw) == Cleaned(expected, "changed")


def test_canonical_list_is_kept() -> None:
    assert clean("hosts", ["web-01", "web-02"], "applications") == Cleaned(
        ["web-01", "web-02"], "kept"
    )


def test_list_of_blanks_is_blank() -> None:
    assert clean("dependencies", [" ", ""]) == Cleaned(None, "kept")
    assert clean("dependencies", " ;, ") == Cleaned(None, "kept")


def test_list_of_objects_is_rejected() -> None:
    assert clean("dependencies", [{"name": "db-01"}]) == Cleaned(None, "rejected")


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        ("owner", "  Alice Martin ", "Alice Martin"),
        ("os_name", " Ubuntu 18.04 LTS ", "Ubuntu 18.04 LTS"),
        ("serial_number", 12345, "12345"),
        ("asset_tag", 12345.0, "12345"),
        ("asset_tag", 12.5, "12.5"),
        ("description", True, "true"),
    ],
)
def test_strings(field: str, raw: Any, expected: str) -> None:
    assert clean(field, raw) == Cleaned(expected, "changed")


def test_clean_string_is_kept() -> None:
    assert clean("owner", "Alice Martin") == Cleaned("Alice Martin", "kept")


@pytest.mark.parametrize("raw", [{"a": 1}, ["a"]])
def test_strings_rejected(raw: Any) -> None:
    assert clean("owner", raw) == Cleaned(None, "rejected")


@pytest.mark.parametrize("raw", [None, "", "   ", [], {}])
def test_blank_values_are_kept_as_none(raw: Any) -> None:
    for import_type in IMPORT_TYPES:
        for spec in get_schema(import_type).fields:
            assert normalize_value(spec.type, spec.name, raw) == Cleaned(None, "kept")


def test_unknown_field_type_raises() -> None:
    with pytest.raises(ValueError, match="unknown field type"):
        normalize_value("colour", "hue", "red")


def test_every_value_validation_accepts_in_the_sample_export_is_cleaned() -> None:
    schema = get_schema("servers")
    column_fields = {
        "Host Name": "hostname",
        "IP Addr": "ip_address",
        "RAM (GB)": "memory_gb",
        "CPU Cores": "cpu_cores",
        "Operating System": "os_name",
        "Environment": "environment",
        "Owner": "owner",
        "Serial No": "serial_number",
        "Depends On": "dependencies",
    }
    validator = RecordValidator(schema, column_fields, HEADER)
    environments = set()
    for number, (cells, _defect) in enumerate(messy_rows(2000), start=1):
        values = dict(zip(HEADER, cells, strict=True))
        if any(issue.severity == "error" for issue in validator.validate(number, values, None)):
            continue
        for column, field in column_fields.items():
            spec = schema.field(field)
            cleaned = normalize_value(spec.type, spec.name, values[column])
            assert cleaned.outcome != "rejected", (column, values[column])
            if field == "environment":
                environments.add(cleaned.value)
    assert environments == {"production", "development", "test", "uat", "staging"}


@pytest.mark.parametrize(
    ("raw", "unit", "expected"),
    [
        (12288, "MB", 12),
        ("12288", "MiB", 12),
        (4096, "MiB", 4),
        ("16 GB", "MB", 16),  # a unit in the cell wins over the column's
        ("1.5 TB", None, 1536),
        (2, "TB", 2048),
        (16, None, 16),
    ],
)
def test_sizes_are_converted_to_gib_from_the_columns_unit(raw, unit, expected) -> None:
    assert normalize_value("number", "memory_gb", raw, unit).value == expected


def test_a_unit_names_no_conversion_for_a_field_without_one() -> None:
    assert normalize_value("integer", "cpu_cores", 8, "MB").value == 8
