"""End of support of operating systems, hypervisors and databases, from a table shipped with the
package.

data/end_of_support.csv has one row per release, with the columns:
    family          an os_parse family ("windows", "rhel", "sles", "vmware_esxi", ...) or a
                    product_parse one ("sql_server", "oracle_database", "mysql", "postgresql")
    version         the release as the parser reports it ("2012 R2", "7", "12 SP5", "18.04",
                    "Stream 9", "6.7", "11.2")
    end_of_support  ISO date, the last day of the vendor's support
    source          URL (https) of the vendor page that states the date: mandatory, a row
                    without one is refused, so that every date shown to a user can be checked
The date is the end of the support that comes with the product, before paid extensions:
Windows Server and SQL Server extended support, RHEL Maintenance Support, CentOS Linux end of life
and CentOS Stream end of builds, Ubuntu standard support, SLES general support (per service pack),
Debian LTS, Oracle Linux and Solaris Premier Support, Amazon Linux end of support, AIX end of
support of the release (its last technology level's), HP-UX standard support, VMware ESXi end of
general support, Oracle Database Premier Support (for 12.2, 18 and 21, which have no Extended
Support, the end of their error correction), MySQL end of Extended Support (when the series'
releases stop) and PostgreSQL's final release. Where the vendor gives a month only (Ubuntu,
Oracle Linux, Solaris, Oracle Database, MySQL), it is the month's last day.

A row's version matches an asset's version it prefixes component by component when what follows
is point releases: "7" matches "7.9" and "18.04" matches "18.04.6", but "2012" does not match
"2012 R2". The longest match wins.

An asset version less specific than the rows by a service pack ("SLES 12", without its service
pack) is not guessed, service packs ending years apart: it is unknown while any of the service
packs it may be is supported, and critical, with the last of their dates, once all have ended. So
the table lists every service pack of such a release, its GA as "12 GA". A version less specific by
a number ("Ubuntu 18": 18.04 or 18.10?) stays unknown, the table not listing every point release.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Literal

from dateutil.relativedelta import relativedelta

from importer.discovery.os_parse import OS_FAMILIES, version_components
from importer.discovery.product_parse import PRODUCT_FAMILIES

Severity = Literal["critical", "high", "medium", "ok", "unknown"]

_COLUMNS = ("family", "version", "end_of_support", "source")
FAMILIES = OS_FAMILIES | PRODUCT_FAMILIES
# A service pack's part of a version, as version_components spells it: "12 GA", "12 SP5".
SERVICE_PACK = re.compile(r"ga|sp\d+")


@dataclass(frozen=True)
class SupportStatus:
    severity: Severity
    end_of_support: date | None
    source: str | None


@dataclass(frozen=True)
class SupportEntry:
    family: str
    version: str
    end_of_support: date
    source: str


_UNKNOWN = SupportStatus("unknown", None, None)
_Components = tuple[str, ...]
# The row of an asset's release, and whether it is that release's own (False: the last to end of
# the service packs the asset may be).
_Match = tuple[SupportEntry, bool]


class EndOfSupportTable:
    def __init__(self, entries: Iterable[SupportEntry]) -> None:
        self._entries = tuple(entries)
        self._by_family: dict[str, list[tuple[_Components, SupportEntry]]] = {}
        for entry in self._entries:
            components = _components(entry.version)
            rows = self._by_family.setdefault(entry.family, [])
            if any(existing == components for existing, _ in rows):
                raise ValueError(f"end of support for {entry.family} {entry.version} is repeated")
            rows.append((components, entry))
        for rows in self._by_family.values():
            rows.sort(key=lambda row: len(row[0]), reverse=True)
        # Few distinct (family, version) pairs recur over millions of assets.
        self._matches: dict[tuple[str, str], _Match | None] = {}

    @classmethod
    def load(cls) -> EndOfSupportTable:
        """The table shipped in data/end_of_support.csv, validated."""
        path = resources.files(__package__) / "data" / "end_of_support.csv"
        return cls.from_csv(path.read_text(encoding="utf-8"))

    @classmethod
    def from_csv(cls, text: str) -> EndOfSupportTable:
        reader = csv.DictReader(io.StringIO(text))
        if tuple(reader.fieldnames or ()) != _COLUMNS:
            raise ValueError(f"end-of-support columns must be {', '.join(_COLUMNS)}")
        # Line numbers count the header, as an editor shows them.
        return cls(_entry(row, line) for line, row in enumerate(reader, start=2))

    @property
    def entries(self) -> tuple[SupportEntry, ...]:
        return self._entries

    def assess(self, family: str | None, version: str | None, today: date) -> SupportStatus:
        if family is None or version is None:
            return _UNKNOWN
        key = (family, version)
        if key not in self._matches:
            self._matches[key] = self._find(family, _components(version))
        match = self._matches[key]
        if match is None:
            return _UNKNOWN
        entry, own = match
        if not own and today <= entry.end_of_support:
            return _UNKNOWN
        return SupportStatus(
            _severity(entry.end_of_support, today), entry.end_of_support, entry.source
        )

    def _find(self, family: str, components: _Components) -> _Match | None:
        rows = self._by_family.get(family, ())
        for row_components, entry in rows:
            size = len(row_components)
            if components[:size] == row_components and all(
                part.isdecimal() for part in components[size:]
            ):
                return entry, True
        # Less specific than the rows: every service pack the asset may be, if that is what the
        # rows add ("12" → "12 GA" … "12 SP5"), not point releases ("18" → "18.04").
        size = len(components)
        finer = [
            (row_components[size:], entry)
            for row_components, entry in rows
            if len(row_components) > size and row_components[:size] == components
        ]
        if not components or not finer:
            return None
        if any(len(rest) > 1 or not SERVICE_PACK.fullmatch(rest[0]) for rest, _ in finer):
            return None
        return max((entry for _, entry in finer), key=lambda entry: entry.end_of_support), False


def _entry(row: dict[str | None, str | None], line: int) -> SupportEntry:
    family, version, end, source = (row.get(column) or "" for column in _COLUMNS)
    if None in row:
        raise ValueError(f"end-of-support line {line} has more cells than columns")
    if family not in FAMILIES:
        raise ValueError(f"end-of-support line {line}: unknown family {family!r}")
    if not version.strip():
        raise ValueError(f"end-of-support line {line} has no version")
    if not source.startswith("https://"):
        raise ValueError(f"end-of-support line {line} needs the https URL of its source")
    try:
        end_of_support = date.fromisoformat(end)
    except ValueError:
        raise ValueError(f"end-of-support line {line}: {end!r} is not an ISO date") from None
    return SupportEntry(family, version.strip(), end_of_support, source)


_components = version_components


def _severity(end_of_support: date, today: date) -> Severity:
    # The end date is the last supported day: support is over the day after.
    if today > end_of_support:
        return "critical"
    in_six_months, in_a_year = _horizons(today)
    if end_of_support <= in_six_months:
        return "high"
    if end_of_support <= in_a_year:
        return "medium"
    return "ok"


@lru_cache(maxsize=16)
def _horizons(today: date) -> tuple[date, date]:
    # A run assesses every asset against the same day: the month arithmetic is done once.
    return today + relativedelta(months=6), today + relativedelta(months=12)
