from typing import Any

import pytest

from importer.discovery.product_parse import PRODUCT_FAMILIES, ProductInfo, parse_product


# Engine and version columns as databases exports give them, and the family and version the
# end-of-support table needs from them.
@pytest.mark.parametrize(
    ("engine", "version", "expected"),
    [
        # The product's own name, with its release.
        ("Microsoft SQL Server 2016 (SP2)", None, ProductInfo("sql_server", "2016")),
        ("Microsoft SQL Server 2008 R2 (SP3)", None, ProductInfo("sql_server", "2008 R2")),
        (
            "Microsoft SQL Server 2019 (RTM-CU18) (KB5017593) - 15.0.4261.1 (X64)",
            None,
            ProductInfo("sql_server", "2019"),
        ),
        ("MS SQL Server 2012", None, ProductInfo("sql_server", "2012")),
        ("MSSQL 2014", None, ProductInfo("sql_server", "2014")),
        ("Oracle Database 19c Enterprise Edition", None, ProductInfo("oracle_database", "19")),
        ("Oracle Database 12c Release 2", None, ProductInfo("oracle_database", "12.2")),
        ("Oracle 12cR1", None, ProductInfo("oracle_database", "12.1")),
        ("Oracle 11g R2", None, ProductInfo("oracle_database", "11.2")),
        ("Oracle Database 23ai Free", None, ProductInfo("oracle_database", "23")),
        (
            "Oracle Database 11g Enterprise Edition Release 11.2.0.4.0 - 64bit Production",
            None,
            ProductInfo("oracle_database", "11.2.0.4.0"),
        ),
        ("MySQL 5.7.38", None, ProductInfo("mysql", "5.7.38")),
        ("PostgreSQL 12.4", None, ProductInfo("postgresql", "12.4")),
        (
            "PostgreSQL 9.6.24 on x86_64-pc-linux-gnu, compiled by gcc 4.8.5",
            None,
            ProductInfo("postgresql", "9.6.24"),
        ),
        # The release in the version column: a build number, or the numbers.
        ("SQL Server", "13.0.5026.0", ProductInfo("sql_server", "2016")),
        ("SQL Server", "10.50.6000.34", ProductInfo("sql_server", "2008 R2")),
        ("SQL Server", "9.00.5000.00", ProductInfo("sql_server", "2005")),
        ("MySQL Community Server - GPL", "8.0.28", ProductInfo("mysql", "8.0.28")),
        ("Oracle 12c", "12.2.0.1", ProductInfo("oracle_database", "12.2.0.1")),
        # AWS RDS engine names and versions.
        ("sqlserver-ee", "15.00.4236.7.v1", ProductInfo("sql_server", "2019")),
        (
            "oracle-ee",
            "19.0.0.0.ru-2023-04.rur-2023-04.r1",
            ProductInfo("oracle_database", "19.0.0.0"),
        ),
        ("postgres", "12.4", ProductInfo("postgresql", "12.4")),
        ("mysql", "5.7.44", ProductInfo("mysql", "5.7.44")),
    ],
)
def test_database_spellings(engine: str, version: str | None, expected: ProductInfo) -> None:
    assert parse_product(engine, version) == expected


def test_the_version_in_the_engine_wins_over_the_column() -> None:
    assert parse_product("SQL Server 2016", "12.0.6024.0") == ProductInfo("sql_server", "2016")
    assert parse_product("PostgreSQL 12", "11.9") == ProductInfo("postgresql", "12")


@pytest.mark.parametrize(
    ("engine", "version"),
    [
        # Aurora and Azure SQL follow their cloud's lifecycle, not the engine's.
        ("aurora-mysql", "8.0.mysql_aurora.3.04.0"),
        ("aurora-postgresql", "15.4"),
        ("Azure SQL Database", "12.0.2000.8"),
        ("MariaDB", "10.6.12"),
        ("IBM Db2", "11.5"),
    ],
)
def test_engines_without_a_table_of_their_own_are_other(engine: str, version: str) -> None:
    assert parse_product(engine, version) == ProductInfo("other", version)


@pytest.mark.parametrize("engine", [None, "", "  ", True, ["mysql"]])
def test_blank_or_unusable_engine(engine: Any) -> None:
    assert parse_product(engine) == ProductInfo(None, None)
    assert parse_product(engine, "5.7") == ProductInfo(None, "5.7")


def test_a_release_that_cannot_be_read_is_none() -> None:
    assert parse_product("Microsoft SQL Server") == ProductInfo("sql_server", None)
    assert parse_product("SQL Server", "vNext") == ProductInfo("sql_server", "vNext")


def test_families() -> None:
    assert {"sql_server", "oracle_database", "mysql", "postgresql"} == PRODUCT_FAMILIES
