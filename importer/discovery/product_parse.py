"""Database product and release from the free text of discovery exports.

A databases import's engine and version columns ("Microsoft SQL Server 2016 (SP2)", "Oracle
Database 19c Enterprise Edition", "MySQL 5.7.38", "postgres" with "12.4") become a ProductInfo
whose family and version key the end-of-support table, as an OsInfo's do.

The family is the one a spelling of data/spellings.csv names, the first of the file's spellings
that occurs in the engine text (see importer.discovery.spellings); an engine none names is
"other", as an unknown operating system is. The version is read as each product numbers its
releases:
    sql_server       the release year ("2008 R2"), or from a build number ("13.0.5026.0" is 2016)
    oracle_database  the numbers as given ("19.0.0.0.0", "11.2.0.4"), or from the marketing name:
                     "19c" is 19, "12c Release 2" and "12cR2" 12.2, "11g R2" 11.2, "23ai" 23
    mysql            the numbers as given ("5.7.38-log" is 5.7.38)
    postgresql       likewise ("9.6.24", "12.4")
so that the table's "5.7", "12" or "11.2" prefixes them. As for operating systems, a version found
in the engine text wins over the version column unless the column names the same release more
precisely ("Oracle 12c" with "12.2.0.1" is 12.2.0.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

from importer.discovery.os_parse import as_text, refines
from importer.discovery.spellings import spellings_of

PRODUCT_FAMILIES = frozenset({"sql_server", "oracle_database", "mysql", "postgresql"})


class ProductInfo(NamedTuple):
    family: str | None
    version: str | None


_SQL_SERVER_YEAR = re.compile(
    r"(?<!\d)(2005|2008|2012|2014|2016|2017|2019|2022|2025)(?!\d)(?:\s*(r2)\b)?", re.I
)
# SERVERPROPERTY('ProductVersion'): the build's major and minor name the release.
_SQL_SERVER_BUILD = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.\d+")
_SQL_SERVER_BUILDS = {
    "9.0": "2005",
    "10.0": "2008",
    "10.50": "2008 R2",
    "11.0": "2012",
    "12.0": "2014",
    "13.0": "2016",
    "14.0": "2017",
    "15.0": "2019",
    "16.0": "2022",
    "17.0": "2025",
}
_NUMBERS = re.compile(r"(?<![\d.])\d+(?:\.\d+)*")
_DOTTED = re.compile(r"(?<![\d.])\d+(?:\.\d+)+")
_ORACLE_NAME = re.compile(
    r"(?<!\d)(\d{1,2})\s*(?:c|g|ai)(?:\s*(?:release|rel\.?|r)\s*(\d)(?!\d)|(?![a-z]))", re.I
)


def parse_product(engine: Any, version: Any = None) -> ProductInfo:
    return _parse(as_text(engine), as_text(version))


def _sql_server(text: str, start: int) -> str | None:
    year = _SQL_SERVER_YEAR.search(text, start)
    if year is not None:
        return f"{year[1]} R2" if year[2] else year[1]
    build = _SQL_SERVER_BUILD.search(text, start)
    if build is None:
        return None
    return _SQL_SERVER_BUILDS.get(f"{int(build[1])}.{int(build[2])}")


def _oracle_database(text: str, start: int) -> str | None:
    dotted = _DOTTED.search(text, start)
    if dotted is not None:
        return dotted[0]
    name = _ORACLE_NAME.search(text, start)
    if name is None:
        return None
    major, release = name.groups()
    return f"{major}.{release}" if release else major


def _numbers(text: str, start: int) -> str | None:
    match = _NUMBERS.search(text, start)
    return None if match is None else match[0]


_VERSIONS: dict[str, Callable[[str, int], str | None]] = {
    "sql_server": _sql_server,
    "oracle_database": _oracle_database,
    "mysql": _numbers,
    "postgresql": _numbers,
}
_SPELLINGS = spellings_of(PRODUCT_FAMILIES | {"other"})


@lru_cache(maxsize=4096)
def _parse(engine: str | None, version: str | None) -> ProductInfo:
    if engine is None:
        return ProductInfo(None, version)
    for spelling in _SPELLINGS:
        match = spelling.find(engine)
        if match is None:
            continue
        read = _VERSIONS.get(spelling.family)
        if read is None:  # recognised, not assessed ("aurora-mysql")
            return ProductInfo(spelling.family, version)
        found = spelling.version or read(engine, match.end())
        if version is not None:
            column = read(version, 0) or version
            if found is None or refines(column, found):
                found = column
        return ProductInfo(spelling.family, found)
    return ProductInfo("other", version)
