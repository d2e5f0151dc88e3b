"""The SQL sieve in front of the validator: a row it passes is a row with no issue at all."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from importer.canonical import get_schema
from importer.services.plain_rows import PlainRowFilter
from importer.services.record_validation import RecordValidator

# Values that sit on either side of some check: blanks SQL and Python may disagree about,
# numbers with units, signs and other digits, near-IPs, booleans in many spellings.
TRICKY = [
    None,
    "",
    " ",
    "\t",
    "\u00a0",
    "\u3000",
    "\u00a0x",
    "web-01",
    "WEB_01.corp.example",
    "host name",
    "h" * 254,
    "10.0.0.1",
    "10.0.0.256",
    "01.2.3.4",
    "10.0.0.1;10.0.0.2",
    "::1",
    " 10.0.0.1",
    "16",
    "16GB",
    "16 GB",
    "1.5",
    "1.5 TB",
    "-1",
    "0",
    "1e3",
    "12,345",
    "\u0661\u0662",
    "\U0001d7d9",
    "yes",
    "YES",
    " yes",
    "On",
    "nope",
    "2021-01-01",
    "n/a",
    0,
    1,
    2,
    -1,
    1.5,
    10**30,
    True,
    False,
    [],
    {},
    ["a", "b"],
    [1, ["x"]],
    {"a": 1},
]
# What most rows hold, so that the sieve passes rows often enough to be tested.
ORDINARY = ["web-01", "srv-9.corp.example", "10.1.2.3", "4", "16 GB", "yes", "a;b", "Bob Chen"]
SCHEMAS = {
    "servers": {
        "Host": "hostname",
        "FQDN": "fqdn",
        "IP": "ip_address",
        "Cores": "cpu_cores",
        "RAM": "memory_gb",
        "Deps": "dependencies",
        "Virtual": "is_virtual",
        "Installed": "install_date",
        "Owner": "owner",
    },
    "applications": {"App": "name", "Hosts": "hosts", "Env": "environment"},
    "dependencies": {
        "Source": "source_hostname",
        "Source IP": "source_ip",
        "Destination": "destination_hostname",
        "Destination IP": "destination_ip",
        "Port": "destination_port",
    },
}


def plain(resources, sieve: PlainRowFilter, record: dict, extra) -> bool | None:
    with resources.engine.connect() as conn:
        return conn.scalar(
            text(
                f"SELECT {sieve.condition} FROM (VALUES (CAST(:record AS jsonb), "
                "CAST(:extra AS jsonb))) AS r (record, extra_values) " + sieve.lateral
            ),
            {
                **sieve.params,
                "record": json.dumps(record),
                "extra": None if extra is None else json.dumps(extra),
            },
        )


@pytest.mark.parametrize("import_type", sorted(SCHEMAS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_row_the_sieve_passes_has_no_issue(resources, import_type, data) -> None:
    column_fields = SCHEMAS[import_type]
    header = list(column_fields)
    columns = data.draw(st.lists(st.sampled_from(header), unique=True))
    values = st.sampled_from(TRICKY) | st.sampled_from(ORDINARY)
    record = {column: data.draw(values) for column in columns}
    extra = data.draw(st.sampled_from([None, None, [], [""], ["x"]]))
    schema = get_schema(import_type)
    sieve = PlainRowFilter(schema, column_fields, header)
    if plain(resources, sieve, record, extra):
        assert RecordValidator(schema, column_fields, header).validate(1, record, extra) == []


def test_ordinary_rows_pass_the_sieve(resources) -> None:
    column_fields = SCHEMAS["servers"]
    sieve = PlainRowFilter(get_schema("servers"), column_fields, list(column_fields))
    row = {
        "Host": "srv-00001.corp.example",
        "FQDN": "",
        "IP": "10.0.0.1",
        "Cores": "4",
        "RAM": "16 GB",
        "Deps": "srv-00002;srv-00003",
        "Virtual": "yes",
        "Installed": "",
        "Owner": "Bob Chen",
    }
    assert plain(resources, sieve, row, None) is True
    assert not plain(resources, sieve, {**row, "Host": " "}, None)
    assert not plain(resources, sieve, {**row, "IP": "10.0.0.999"}, None)
    assert not plain(resources, sieve, {**row, "Installed": "2021-01-01"}, None)
    assert not plain(resources, sieve, row, ["extra"])
    assert not plain(resources, sieve, {k: v for k, v in row.items() if k != "Owner"}, None)


def test_a_connection_needs_a_source_and_a_destination_to_pass_the_sieve(resources) -> None:
    column_fields = SCHEMAS["dependencies"]
    sieve = PlainRowFilter(get_schema("dependencies"), column_fields, list(column_fields))
    row = {
        "Source": "web-01",
        "Source IP": "",
        "Destination": "",
        "Destination IP": "10.0.0.2",
        "Port": "1433",
    }
    assert plain(resources, sieve, row, None) is True
    assert not plain(resources, sieve, {**row, "Source": " "}, None)
    assert not plain(resources, sieve, {**row, "Destination IP": None}, None)
