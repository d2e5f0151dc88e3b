import warnings
from typing import Any

import pytest

from importer.canonical import get_schema
from importer.services.record_validation import RecordValidator, ValidationIssue, is_blank

COLUMNS = [
    "Host",
    "IP",
    "CPU",
    "RAM",
    "Disk",
    "Virtual",
    "Installed",
    "Depends On",
    "OS",
    "Notes",
]
COLUMN_FIELDS = {
    "Host": "hostname",
    "IP": "ip_address",
    "CPU": "cpu_cores",
    "RAM": "memory_gb",
    "Disk": "disk_gb",
    "Virtual": "is_virtual",
    "Installed": "install_date",
    "Depends On": "dependencies",
    "OS": "os_name",
}


@pytest.fixture
def validator() -> RecordValidator:
    return RecordValidator(get_schema("servers"), COLUMN_FIELDS, COLUMNS)


def row(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "Host": "web-01.example.com",
        "IP": "10.0.0.5",
        "CPU": "4",
        "RAM": "16",
        "Disk": "100",
        "Virtual": "yes",
        "Installed": "2021-03-04",
        "Depends On": "db-01;cache-01",
        "OS": "Ubuntu",
        "Notes": "",
    }
    values.update(overrides)
    return values


def check(validator: RecordValidator, column: str, value: Any) -> list[ValidationIssue]:
    return validator.validate(7, {**row(), column: value}, None)


def test_valid_row_has_no_issues(validator: RecordValidator) -> None:
    assert validator.validate(2, row(), None) == []


@pytest.mark.parametrize(
    "values",
    [{}, dict.fromkeys(COLUMNS, ""), {"Host": "  ", "IP": None, "Depends On": []}],
)
def test_blank_row_is_only_blank_row(validator: RecordValidator, values: dict[str, Any]) -> None:
    assert validator.validate(3, values, ["", " "]) == [
        ValidationIssue(3, "blank-row", None, "Row is blank", "error")
    ]


def test_blank_values_with_extra_cells_is_not_blank(validator: RecordValidator) -> None:
    issues = validator.validate(4, dict.fromkeys(COLUMNS, ""), ["surprise"])
    assert [(i.code, i.field, i.severity) for i in issues] == [
        ("extra-cell", None, "warning"),
        ("required-value", "Host", "error"),
    ]


def test_missing_cells_are_warnings_per_column(validator: RecordValidator) -> None:
    values = {column: value for column, value in row().items() if column not in ("OS", "Notes")}
    issues = validator.validate(5, values, None)
    assert [(i.row_number, i.code, i.field, i.severity) for i in issues] == [
        (5, "missing-cell", "OS", "warning"),
        (5, "missing-cell", "Notes", "warning"),
    ]


def test_missing_required_cell_is_also_required_value(validator: RecordValidator) -> None:
    values = {column: value for column, value in row().items() if column != "Host"}
    assert [(i.code, i.field, i.severity) for i in validator.validate(5, values, None)] == [
        ("missing-cell", "Host", "warning"),
        ("required-value", "Host", "error"),
    ]


def test_extra_cells_reported_once_with_count(validator: RecordValidator) -> None:
    [issue] = validator.validate(6, row(), ["a", "b", ""])
    assert (issue.code, issue.field, issue.severity) == ("extra-cell", None, "warning")
    assert "3" in issue.message


@pytest.mark.parametrize("blank", ["", "   ", None, []])
def test_required_value(validator: RecordValidator, blank: Any) -> None:
    [issue] = check(validator, "Host", blank)
    assert (issue.row_number, issue.code, issue.field, issue.severity) == (
        7,
        "required-value",
        "Host",
        "error",
    )
    assert "hostname" in issue.message


def test_blank_optional_values_pass(validator: RecordValidator) -> None:
    values = {**row(), "IP": "", "CPU": None, "RAM": " ", "Virtual": "", "Installed": ""}
    assert validator.validate(8, values, None) == []


def test_required_field_without_mapped_column_is_not_reported() -> None:
    validator = RecordValidator(get_schema("servers"), {"OS": "os_name"}, ["OS"])
    assert validator.validate(2, {"OS": "Windows"}, None) == []


@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.5",
        " 10.0.0.5 ",
        "2001:db8::1",
        "fe80::1%eth0",
        "10.0.0.5;10.0.0.6",
        "10.0.0.5, 2001:db8::1",
        "10.0.0.5;",
        ["10.0.0.5", "::1"],
    ],
)
def test_valid_ip_cells(validator: RecordValidator, value: Any) -> None:
    assert check(validator, "IP", value) == []


@pytest.mark.parametrize(
    "value", ["10.0.0.256", "10.0.0.5;not-an-ip", "2001:db8::g", "10.0.0.5/24", 167772165, ["x"]]
)
def test_invalid_ip_cells(validator: RecordValidator, value: Any) -> None:
    [issue] = check(validator, "IP", value)
    assert (issue.code, issue.field, issue.severity) == ("type-error", "IP", "error")


def test_ip_message_names_the_bad_part(validator: RecordValidator) -> None:
    [issue] = check(validator, "IP", "10.0.0.5;10.0.0.999")
    assert "'10.0.0.999'" in issue.message
    assert "'IP'" in issue.message


@pytest.mark.parametrize("value", ["4", " 8 ", "1,024", "4 cores", "4.0", "+2", 4, 4.0, 0])
def test_valid_integers(validator: RecordValidator, value: Any) -> None:
    assert check(validator, "CPU", value) == []


@pytest.mark.parametrize("value", ["four", "4.5", "4,5", "1e3", 4.5, True, {"n": 4}, [4]])
def test_invalid_integers(validator: RecordValidator, value: Any) -> None:
    [issue] = check(validator, "CPU", value)
    assert (issue.code, issue.field, issue.severity) == ("type-error", "CPU", "error")


@pytest.mark.parametrize(
    "value",
    ["16", "16GB", "16 GB", "16 gib", "0.5", ".5", "1,024", "1,024.5 MB", "2 TB", "85%", 16, 0.5],
)
def test_valid_numbers_with_units(validator: RecordValidator, value: Any) -> None:
    assert check(validator, "RAM", value) == []


@pytest.mark.parametrize("value", ["sixteen", "16 / 32", "GB 16", "nan", False, float("nan")])
def test_invalid_numbers(validator: RecordValidator, value: Any) -> None:
    [issue] = check(validator, "RAM", value)
    assert (issue.code, issue.field) == ("type-error", "RAM")


@pytest.mark.parametrize(("column", "value"), [("CPU", "-2"), ("RAM", "-0.5 GB"), ("Disk", -1)])
def test_negative_numbers_violate_minimum(
    validator: RecordValidator, column: str, value: Any
) -> None:
    [issue] = check(validator, column, value)
    assert (issue.code, issue.field, issue.severity) == ("constraint-error", column, "error")
    assert "minimum 0" in issue.message


@pytest.mark.parametrize(
    "value", ["2021-03-04", "2021-03-04T10:20:30Z", "04/03/2021", "March 4, 2021", "4 Mar 2021"]
)
def test_valid_dates(validator: RecordValidator, value: str) -> None:
    assert check(validator, "Installed", value) == []


def test_unknown_time_zone_name_is_a_date_without_warnings(validator: RecordValidator) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check(validator, "Installed", "2021-03-04 10:00 CEST") == []


@pytest.mark.parametrize("value", ["not a date", "2021-02-30", "2021-13-01", 1614816000])
def test_invalid_dates(validator: RecordValidator, value: Any) -> None:
    [issue] = check(validator, "Installed", value)
    assert (issue.code, issue.field) == ("type-error", "Installed")


@pytest.mark.parametrize("value", ["yes", "No", "TRUE", "false", "1", "0", "Y", "n", "On", "off"])
def test_valid_booleans(validator: RecordValidator, value: Any) -> None:
    assert check(validator, "Virtual", value) == []


@pytest.mark.parametrize("value", [True, False, 1, 0])
def test_json_booleans(validator: RecordValidator, value: Any) -> None:
    assert check(validator, "Virtual", value) == []


@pytest.mark.parametrize("value", ["maybe", "2", 2, ["yes"]])
def test_invalid_booleans(validator: RecordValidator, value: Any) -> None:
    [issue] = check(validator, "Virtual", value)
    assert (issue.code, issue.field) == ("type-error", "Virtual")


@pytest.mark.parametrize("value", ["web-01", "WEB_01.corp.example.com.", " db01 ", "a" * 253])
def test_valid_hostnames(validator: RecordValidator, value: str) -> None:
    assert check(validator, "Host", value) == []


@pytest.mark.parametrize("value", ["web 01", "web/01", "wéb", "a" * 254])
def test_invalid_hostnames(validator: RecordValidator, value: str) -> None:
    [issue] = check(validator, "Host", value)
    assert (issue.code, issue.field, issue.severity) == ("constraint-error", "Host", "error")


def test_non_string_hostname_is_a_type_error(validator: RecordValidator) -> None:
    [issue] = check(validator, "Host", {"name": "web-01"})
    assert (issue.code, issue.field) == ("type-error", "Host")


@pytest.mark.parametrize("value", ["Ubuntu", 2019, 3.5, True])
def test_string_fields_accept_json_scalars(validator: RecordValidator, value: Any) -> None:
    assert check(validator, "OS", value) == []


@pytest.mark.parametrize("value", [{"name": "Ubuntu"}, ["Ubuntu"]])
def test_string_fields_reject_structures(validator: RecordValidator, value: Any) -> None:
    [issue] = check(validator, "OS", value)
    assert (issue.code, issue.field) == ("type-error", "OS")


@pytest.mark.parametrize("value", ["db-01;cache-01", ["db-01", "10.0.0.9"], 42])
def test_list_fields_accept_strings_scalars_and_arrays(
    validator: RecordValidator, value: Any
) -> None:
    assert check(validator, "Depends On", value) == []


@pytest.mark.parametrize("value", [{"host": "db-01"}, [{"host": "db-01"}]])
def test_list_fields_reject_objects(validator: RecordValidator, value: Any) -> None:
    [issue] = check(validator, "Depends On", value)
    assert (issue.code, issue.field) == ("type-error", "Depends On")


def test_json_record_without_header_columns() -> None:
    validator = RecordValidator(
        get_schema("databases"),
        {"name": "name", "port": "port", "size": "size_gb", "host": "host"},
        [],
    )
    record = {"name": "orders", "port": 5432, "size": 12.5, "host": "db-01", "other": {"x": 1}}
    assert validator.validate(1, record, None) == []
    issues = validator.validate(2, {"name": "orders", "port": "5432/tcp", "size": -3}, None)
    assert [(i.code, i.field) for i in issues] == [
        ("type-error", "port"),
        ("constraint-error", "size"),
    ]


def test_several_issues_in_one_row(validator: RecordValidator) -> None:
    values = row(IP="999.1.1.1", CPU="-1", Virtual="perhaps")
    del values["Notes"]
    issues = validator.validate(9, values, ["x"])
    assert [(i.code, i.field, i.severity) for i in issues] == [
        ("missing-cell", "Notes", "warning"),
        ("extra-cell", None, "warning"),
        ("type-error", "IP", "error"),
        ("constraint-error", "CPU", "error"),
        ("type-error", "Virtual", "error"),
    ]


def test_long_values_are_truncated_in_messages(validator: RecordValidator) -> None:
    [issue] = check(validator, "CPU", "x" * 500)
    assert "x" * 70 in issue.message
    assert "x" * 100 not in issue.message
    assert "…" in issue.message
    assert "'CPU'" in issue.message
    assert "cpu_cores" in issue.message


@pytest.mark.parametrize(
    ("value", "blank"),
    [
        (None, True),
        ("", True),
        (" \t\n", True),
        ([], True),
        ({}, True),
        ("x", False),
        (0, False),
        (False, False),
        (["x"], False),
    ],
)
def test_is_blank(value: Any, blank: bool) -> None:
    assert is_blank(value) is blank


DEPENDENCY_COLUMNS = {
    "Source": "source_hostname",
    "Source IP": "source_ip",
    "Destination": "destination_hostname",
    "Destination IP": "destination_ip",
    "Port": "destination_port",
}


def test_a_connection_needs_one_of_its_source_and_one_of_its_destination_fields() -> None:
    validator = RecordValidator(
        get_schema("dependencies"), DEPENDENCY_COLUMNS, list(DEPENDENCY_COLUMNS)
    )
    row = {"Source": "web-01", "Source IP": "", "Destination": "", "Destination IP": "10.0.0.2"}
    assert validator.validate(1, {**row, "Port": "443"}, None) == []
    issues = validator.validate(2, {**row, "Source": "", "Port": "443"}, None)
    assert [(i.code, i.field, i.severity) for i in issues] == [("required-value", None, "error")]
    assert "'Source', 'Source IP'" in issues[0].message
    assert "source_hostname or source_ip" in issues[0].message


def test_a_group_without_a_mapped_column_is_left_to_the_mapping_review() -> None:
    columns = {"Source": "source_hostname", "Port": "destination_port"}
    validator = RecordValidator(get_schema("dependencies"), columns, list(columns))
    assert validator.validate(1, {"Source": "web-01", "Port": "443"}, None) == []
