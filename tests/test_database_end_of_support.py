"""A databases import's rows are assessed for end of support as servers are: the cleansing keys
them from the engine and version columns (pure Python: the row cleaner and the table)."""

from collections import defaultdict
from datetime import date

import pytest

from importer.canonical import get_schema
from importer.discovery.end_of_support import EndOfSupportTable
from importer.services.phases.data_cleansing import RowCleaner

COLUMNS = [
    ("Database", "name", "string", None, None),
    ("DBMS", "engine", "string", None, None),
    ("Ver", "version", "string", None, None),
]


def cleaned(record: dict) -> dict:
    cleaner = RowCleaner(COLUMNS, get_schema("databases"))
    return cleaner.clean(record, defaultdict(lambda: defaultdict(int)))


@pytest.mark.parametrize(
    ("engine", "version", "severity"),
    [
        ("Microsoft SQL Server 2008 R2", "10.50.6000.34", "critical"),
        ("Oracle Database 11g Enterprise Edition", "11.2.0.4.0", "critical"),
        ("MySQL", "5.7.38", "critical"),
        ("PostgreSQL", 16.2, "ok"),
        ("MariaDB", "10.6.12", "unknown"),
    ],
)
def test_a_database_row_is_assessed_by_its_engine(engine: str, version, severity: str) -> None:
    data = cleaned({"Database": "crm", "DBMS": engine, "Ver": version})
    status = EndOfSupportTable.load().assess(
        data["os_family"], data["os_version"], date(2026, 12, 1)
    )
    assert status.severity == severity


def test_a_row_without_an_engine_gets_no_keys() -> None:
    assert "os_family" not in cleaned({"Database": "crm", "Ver": "12.4"})
    assert "os_family" not in cleaned({"Database": "crm", "DBMS": " ", "Ver": "12.4"})
