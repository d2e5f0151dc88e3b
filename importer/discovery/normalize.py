"""Value normalisation for the data_cleansing phase: one mapped raw value to its clean form.

Rules go by canonical field name first (environment, sizes in GB), then by the field's type
from canonical.py. Everything record_validation accepts is cleaned here, except a size in a unit
that cannot be converted to GB ("16 foo" in memory_gb): guessing would be off by 1024x.

Outcomes: "kept" when the clean value is the raw value as stored (same type and value, so
"4" in an integer field is "changed" to 4); "changed" otherwise; "rejected" (value None) when
the raw value has no canonical form. A blank raw value (None, whitespace, [] or {}) is
(None, "kept"): both mean "no value", so nothing was lost or altered.

The cleansing runs over millions of rows whose values repeat a lot, hence the caches on the
pure text functions.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, Literal

from dateutil import parser as date_parser

from importer.discovery import units
from importer.services.record_validation import IP_SEPARATORS, SIZE_ITEMS, is_blank

Outcome = Literal["changed", "kept", "rejected"]


@dataclass(frozen=True, slots=True)
class Cleaned:
    value: Any
    outcome: Outcome


_BLANK = Cleaned(None, "kept")
_REJECTED = Cleaned(None, "rejected")
_CACHE_SIZE = 65536

# Same grammar as record_validation's numbers, with the unit captured.
_NUMBER = re.compile(
    r"\s*(?P<number>[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|[+-]?\.\d+)"
    r"\s*(?P<unit>%|[^\W\d_]+(?:\s+[^\W\d_]+)*)?\s*"
)
# The items of a list cell ("dependencies", "hosts") are separated by ";", "," or new lines, as
# CMDB and spreadsheet exports write them, never by spaces: "Billing Portal (RightFax)" is one
# name. ServiceNow writes a relationship as its CIs and its type joined by "::" ("web-01::Depends
# on::Used by::db-01", the type being "parent descriptor::child descriptor"): "::" separates
# names too, and the type's descriptors are no names (an IPv6 address keeps its "::").
_LIST_SEPARATORS = re.compile(r"[;,\r\n]+")
_RELATION_SEPARATOR = "::"
# The descriptors of ServiceNow's relationship types (cmdb_rel_type: "Depends on::Used by",
# "Runs on::Runs", "Hosted on::Hosts", ...), in lower case with single spaces.
_RELATION_DESCRIPTORS = frozenset(
    {
        "depends on",
        "used by",
        "uses",
        "is used by",
        "runs on",
        "runs",
        "hosted on",
        "hosts",
        "connects to",
        "connected by",
        "contains",
        "contained by",
        "sends data to",
        "receives data from",
        "exchange data with",
        "cluster of",
        "cluster",
        "members",
        "member of",
        "virtualized by",
        "virtualizes",
        "provides",
        "provided by",
        "managed by",
        "manages",
        "owns",
        "owned by",
        "defines resources for",
        "gets resources from",
        "allocated to",
        "allocated from",
        "instantiates",
        "instantiated by",
        "located in",
        "houses",
        "powered by",
        "powers",
        "backs up",
        "backed up by",
        "monitors",
        "monitored by",
        "impacts",
        "impacted by",
        "registered on",
        "has registered",
        "extends",
        "extended by",
        "applicative flow to",
        "applicative flow from",
        "implement end point to",
        "implement end point from",
        "use end point to",
        "use end point from",
        "ip connection",
    }
)
_HOSTNAME = re.compile(r"[a-z0-9._-]{1,253}")
_DOTTED_NUMBERS = re.compile(r"[\d.]+")
# Canonical already, so the slow ipaddress parse is skipped: IPs rarely repeat, caching won't do.
_CANONICAL_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)
_ENVIRONMENT_SEPARATORS = re.compile(r"[\W_]+")

_ENVIRONMENTS = {
    synonym: canonical
    for canonical, synonyms in {
        "production": ("production", "prod", "prd", "live", "prod env", "production env"),
        "staging": (
            "staging",
            "stage",
            "stg",
            "preprod",
            "pre prod",
            "preproduction",
            "pre production",
        ),
        "test": ("test", "tst", "testing"),
        "development": ("development", "dev", "devel", "develop"),
        "uat": ("uat", "acceptance", "user acceptance", "user acceptance testing"),
        "qa": ("qa", "quality assurance"),
        "dr": ("dr", "disaster recovery"),
        "sandbox": ("sandbox", "sbx"),
    }.items()
    for synonym in synonyms
}

_BOOLEANS = {
    **dict.fromkeys(("yes", "true", "1", "y", "on"), True),
    **dict.fromkeys(("no", "false", "0", "n", "off"), False),
}


# Fixed rather than dateutil's "today" so that a date without a day ("March 2021") does not
# depend on when it was cleaned; it becomes the 1st.
_DEFAULT_MOMENT = datetime(2000, 1, 1)

# Floats at or above this no longer hold every integer exactly.
_EXACT_FLOAT_INTEGERS = 2**53


def normalize_value(field_type: str, field_name: str, raw: Any, unit: str | None = None) -> Cleaned:
    """``unit`` is the column's size unit, for the values that do not write their own."""
    if is_blank(raw):
        return _BLANK
    return _cleaner(field_type, field_name, unit)(raw)


def normalize_hostname_key(value: Any) -> str | None:
    """The de-duplication key: the lower-cased short name, or the canonical form of an IP."""
    text = None if isinstance(value, bool) else _scalar_text(value)
    return None if text is None else _hostname_key(text)


@lru_cache(maxsize=_CACHE_SIZE)
def _hostname_key(text: str) -> str | None:
    name = text.strip().lower()
    if not name:
        return None
    dotted_numbers = _DOTTED_NUMBERS.fullmatch(name) is not None
    if dotted_numbers or ":" in name:
        ip = _canonical_ip(name)
        if ip is not None:
            return ip
    # A malformed IP ("10.000.0.1") is no domain name: its first number names nothing.
    if dotted_numbers:
        return name
    return name.split(".", 1)[0] or None


def _outcome(clean: Any, raw: Any) -> Cleaned:
    if clean is None:
        return _REJECTED
    kept = type(clean) is type(raw) and clean == raw
    return Cleaned(clean, "kept" if kept else "changed")


@cache
def _cleaner(field_type: str, field_name: str, unit: str | None) -> Callable[[Any], Cleaned]:
    if field_name == "environment":
        return _clean_environment
    if field_type == "sizes":
        return _sizes_cleaner(units.factor(unit))
    if field_type in ("integer", "number"):
        # The canonical names carry their unit ("memory_gb"), so any "_gb" field converts.
        in_gb = field_name.endswith("_gb")
        column_factor = units.factor(unit) if in_gb else None
        return _numeric_cleaner(field_type == "integer", in_gb, column_factor)
    try:
        return _TYPE_CLEANERS[field_type]
    except KeyError:
        raise ValueError(f"unknown field type {field_type!r}") from None


def _scalar_text(value: Any) -> str | None:
    """A JSON scalar as text; None for anything else (lists, objects)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        # Spreadsheets turn "12345" into 12345.0 on the way to JSON.
        if value.is_integer() and abs(value) < _EXACT_FLOAT_INTEGERS:
            return str(int(value))
        return repr(value)
    return None


def _clean_string(raw: Any) -> Cleaned:
    return _outcome(_scalar_text(raw), raw)


def _clean_environment(raw: Any) -> Cleaned:
    text = _scalar_text(raw)
    return _outcome(None if text is None else _environment(text), raw)


@lru_cache(maxsize=4096)
def _environment(text: str) -> str:
    key = _ENVIRONMENT_SEPARATORS.sub(" ", text.casefold()).strip()
    # The field is free text, not an enumeration: an unknown stage ("perf", "training") is
    # information worth keeping, so it stays, only lower-cased with its spacing collapsed.
    return _ENVIRONMENTS.get(key) or " ".join(text.casefold().split())


def _sizes_cleaner(column_factor: Decimal | None) -> Callable[[Any], Cleaned]:
    """A list of sizes ("40960; 102400", or a JSON list), each in GiB like a size column's."""
    size = _numeric_cleaner(False, True, column_factor)

    def clean(raw: Any) -> Cleaned:
        items = SIZE_ITEMS.split(raw) if isinstance(raw, str) else raw
        if not isinstance(items, list):
            return _REJECTED
        sizes = []
        for item in items:
            if is_blank(item):
                continue
            cleaned = size(item.strip() if isinstance(item, str) else item)
            if cleaned.value is None:
                return _REJECTED
            sizes.append(cleaned.value)
        return _outcome(sizes or None, raw)

    return clean


def _numeric_cleaner(
    integral: bool, in_gb: bool, column_factor: Decimal | None
) -> Callable[[Any], Cleaned]:
    def clean(raw: Any) -> Cleaned:
        if isinstance(raw, str):
            return _outcome(_number_from_text(raw, integral, in_gb, column_factor), raw)
        # bool is an int subclass, but true/false in a numeric field is a mistake.
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return _REJECTED
        if isinstance(raw, float) and not math.isfinite(raw):
            return _REJECTED
        number = Decimal(repr(raw))
        if column_factor is not None:
            number *= column_factor
        return _outcome(_finish_number(number, integral), raw)

    return clean


@lru_cache(maxsize=_CACHE_SIZE)
def _number_from_text(
    text: str, integral: bool, in_gb: bool, column_factor: Decimal | None
) -> int | float | None:
    match = _NUMBER.fullmatch(text)
    if match is None:
        return None
    number = Decimal(match["number"].replace(",", ""))
    unit = match["unit"]
    if in_gb and unit:
        # "16 GB RAM": the first word is the unit, and it wins over the column's.
        factor = units.factor(unit.split()[0])
        if factor is None:
            return None
        number *= factor
    elif column_factor is not None:
        number *= column_factor
    return _finish_number(number, integral)


def _finish_number(number: Decimal, integral: bool) -> int | float | None:
    if number < 0:
        return None
    if number == number.to_integral_value():
        return int(number)
    return None if integral else float(number)


def _clean_boolean(raw: Any) -> Cleaned:
    if isinstance(raw, bool):
        value: bool | None = raw
    elif isinstance(raw, int | float):
        value = bool(raw) if raw in (0, 1) else None
    elif isinstance(raw, str):
        value = _BOOLEANS.get(raw.strip().casefold())
    else:
        value = None
    return _outcome(value, raw)


def _clean_date(raw: Any) -> Cleaned:
    # Numbers are ambiguous (epoch seconds? Excel serial days?) and validation refuses them.
    if not isinstance(raw, str):
        return _REJECTED
    return _outcome(_iso_utc(raw.strip()), raw)


@lru_cache(maxsize=_CACHE_SIZE)
def _iso_utc(text: str) -> str | None:
    try:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = date_parser.parse(text, default=_DEFAULT_MOMENT, tzinfos=_zone_from_offset)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC).isoformat()
        return moment.astimezone(UTC).isoformat()
    except (ValueError, OverflowError):
        return None


def _zone_from_offset(name: str | None, offset: int | None) -> timezone | None:
    # Only numeric offsets and UTC/GMT/Z (offset 0) are trusted: abbreviations are ambiguous
    # (CST, IST), so a time with one is taken as UTC like a naive one. Answering here also
    # keeps dateutil from resolving them against the server's own zone, or warning per value.
    return None if offset is None else timezone(timedelta(seconds=offset))


def _clean_ip(raw: Any) -> Cleaned:
    if isinstance(raw, str):
        if _CANONICAL_IPV4.fullmatch(raw):
            # One address written canonically, as most are: kept, and no cache churned by it.
            return Cleaned(raw, "kept")
        ips = _ips_from_text(raw)
    elif isinstance(raw, list):
        ips = _canonical_ips(raw)
    else:
        ips = None
    if ips is None:
        return _REJECTED
    return _outcome(ips[0] if len(ips) == 1 else list(ips), raw)


@lru_cache(maxsize=_CACHE_SIZE)
def _ips_from_text(text: str) -> tuple[str, ...] | None:
    return _canonical_ips(part for part in IP_SEPARATORS.split(text) if part)


def _canonical_ips(parts: Iterable[Any]) -> tuple[str, ...] | None:
    ips: dict[str, None] = {}
    for part in parts:
        ip = _canonical_ip(part.strip()) if isinstance(part, str) else None
        if ip is None:
            return None
        ips[ip] = None
    return tuple(ips) or None


@lru_cache(maxsize=_CACHE_SIZE)
def _canonical_ip(text: str) -> str | None:
    if _CANONICAL_IPV4.fullmatch(text):
        return text
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _clean_hostname(raw: Any) -> Cleaned:
    # Numeric names ("1001") arrive as JSON numbers; a bool or a float is no hostname.
    if isinstance(raw, str):
        name = _hostname(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        name = _hostname(str(raw))
    else:
        name = None
    return _outcome(name, raw)


@lru_cache(maxsize=_CACHE_SIZE)
def _hostname(text: str) -> str | None:
    # The trailing dot of an absolute DNS name ("host.example.com.") names the same host.
    name = text.strip().lower().removesuffix(".")
    return name if _HOSTNAME.fullmatch(name) else None


def _clean_list(raw: Any) -> Cleaned:
    if isinstance(raw, str):
        items: tuple[str, ...] | None = split_list(raw)
    elif isinstance(raw, list):
        texts = [_scalar_text(item) for item in raw]
        # A JSON list's items may be cells of several names themselves ("db-01; cache-01").
        items = None if None in texts else _unique(i for text in texts for i in split_list(text))
    else:
        text = _scalar_text(raw)
        items = None if text is None else _unique((text,))
    if items is None:
        return _REJECTED
    if not items:
        return _BLANK
    return _outcome(list(items), raw)


@lru_cache(maxsize=_CACHE_SIZE)
def split_list(text: str) -> tuple[str, ...]:
    """The items of a list cell, in order, once each: the one splitting of list values, for
    the cleansing and for the dependency targets alike."""
    items = []
    for part in _LIST_SEPARATORS.split(text):
        part = part.strip()
        if _RELATION_SEPARATOR in part and _canonical_ip(part) is None:
            items.extend(
                name.strip()
                for name in part.split(_RELATION_SEPARATOR)
                if " ".join(name.casefold().split()) not in _RELATION_DESCRIPTORS
            )
        else:
            items.append(part)
    return _unique(items)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    # A repeated dependency or host says nothing more than the first one.
    return tuple(dict.fromkeys(item for item in items if item))


_TYPE_CLEANERS: dict[str, Callable[[Any], Cleaned]] = {
    "string": _clean_string,
    "hostname": _clean_hostname,
    "ip": _clean_ip,
    "date": _clean_date,
    "boolean": _clean_boolean,
    "list": _clean_list,
}
