"""Operating-system end of support, from a table shipped with the package.

data/end_of_support.csv has one row per release, with the columns:
    family          an os_parse family ("windows", "rhel", "sles", ...)
    version         the release as parse_os reports it ("2012 R2", "7", "12 SP5", "18.04")
    end_of_support  ISO date, the last day of the vendor's support
    source          URL (https) of the vendor page that states the date: mandatory, a row
                    without one is refused, so that every date shown to a user can be checked
The date is the end of the support that comes with the product, before paid extensions:
Windows Server extended support, RHEL Maintenance Support, CentOS Linux end of life, Ubuntu
standard support, SLES general support, Debian LTS, Oracle Linux Premier Support and Amazon Linux
end of support. Where the vendor gives a month only (Ubuntu, Oracle Linux), it is the month's
last day.

A row's version matches an asset's version it prefixes component by component when what follows
is point releases: "7" matches "7.9" and "18.04" matches "18.04.6", but "2012" does not match
"2012 R2". The longest match wins. An asset version less specific than the rows ("SLES 12",
without its service pack) is unknown rather than guessed: service packs end years apart.
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

from importer.discovery.os_parse import OS_FAMILIES

Severity = Literal["critical", "high", "medium", "ok", "unknown"]

_COLUMNS = ("family", "version", "end_of_support", "source")
_COMPONENT_SEPARATORS = re.compile(r"[.\s]+")


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
        self._matches: dict[tuple[str, str], SupportEntry | None] = {}

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
        entry = self._matches[key]
        if entry is None:
            return _UNKNOWN
        return SupportStatus(
            _severity(entry.end_of_support, today), entry.end_of_support, entry.source
        )

    def _find(self, family: str, components: _Components) -> SupportEntry | None:
        for row_components, entry in self._by_family.get(family, ()):
            size = len(row_components)
            if components[:size] == row_components and all(
                part.isdecimal() for part in components[size:]
            ):
                return entry
        return None


def _entry(row: dict[str | None, str | None], line: int) -> SupportEntry:
    family, version, end, source = (row.get(column) or "" for column in _COLUMNS)
    if None in row:
        raise ValueError(f"end-of-support line {line} has more cells than columns")
    if family not in OS_FAMILIES:
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


@lru_cache(maxsize=4096)
def _components(version: str) -> _Components:
    # Numbers compare as numbers so that "18.4" and "18.04" are one release.
    parts = _COMPONENT_SEPARATORS.split(version.strip().casefold())
    return tuple(str(int(part)) if part.isdecimal() else part for part in parts if part)


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
