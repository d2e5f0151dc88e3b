"""Which canonical field a column holds, or cannot hold, told by its values and header words.

An "Address" or "Column 7" header says little; 200 values that are all IP addresses say more.
And a guess from the header alone is refuted by what the column holds: VM names are no
booleans, "7.0.3.0" on every row is an API version rather than an address, "Disks" counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from importer.canonical import FieldSpec
from importer.discovery.normalize import normalize_value
from importer.services.mapping_suggester import normalise_header
from importer.services.record_validation import is_blank

MIN_VALUES = 5
MIN_SHARE = 0.8
# Below this share of values its field accepts, a column is not that field's.
MIN_ACCEPTED = 0.5

_SEPARATORS = re.compile(r"[;,\s]+")
_MAC = re.compile(
    r"[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}",
    re.I,
)
# At least three labels and an alphabetic top-level label: two-label values are as often file
# names or technologies ("report.pdf", "Node.js") as host names.
_FQDN = re.compile(
    r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){2,}[a-z]{2,63}\.?", re.I
)


def _is_ip(value: Any) -> bool:
    return normalize_value("ip", "ip_address", value).outcome != "rejected"


def _is_mac(value: Any) -> bool:
    parts = _parts(value)
    return bool(parts) and all(_MAC.fullmatch(part) for part in parts)


def _is_fqdn(value: Any) -> bool:
    return isinstance(value, str) and _FQDN.fullmatch(value.strip()) is not None


def _parts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part for part in _SEPARATORS.split(value) if part]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value]
    return []


# A value matches at most one of these, so the order only sets which is tried first.
_DETECTORS: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    ("ip_address", _is_ip),
    ("mac_address", _is_mac),
    ("fqdn", _is_fqdn),
)


def detect_field(values: Sequence[Any]) -> tuple[str, float] | None:
    """(field, share of the non-blank values that fit it) when the share reaches MIN_SHARE."""
    present = [value for value in values if not is_blank(value)]
    if len(present) < MIN_VALUES:
        return None
    for field, matches in _DETECTORS:
        share = sum(1 for value in present if matches(value)) / len(present)
        if share >= MIN_SHARE:
            return field, share
    return None


# Header words that say a column counts things: "Disks", "Number of disks", "NIC count".
_COUNT_WORDS = frozenset({"count", "number", "num", "qty", "quantity", "amount"})
_COUNTED = frozenset({"disks", "drives", "volumes", "nics", "cpus", "sockets", "partitions"})
# Header words that say a column holds something that merely looks like the field's values.
_NOT_AN_ADDRESS = frozenset({"version", "build", "release", "mask", "netmask", "gateway"})
# Fields whose value tells one asset from another: one value on every row identifies nothing.
_IDENTIFYING = frozenset(
    {"hostname", "name", "fqdn", "ip_address", "mac_address", "serial_number", "uuid"}
)


def contradiction(
    spec: FieldSpec, column: str, values: Sequence[Any], unit: str | None
) -> str | None:
    """Why a column cannot hold ``spec``'s field, told by its header and values; None if it can."""
    words = set(normalise_header(column).split())
    if spec.unit is not None and (words & _COUNT_WORDS or words & _COUNTED):
        return "the header says it counts things; it is not a size"
    if spec.type == "ip" and words & _NOT_AN_ADDRESS:
        return "the header says it holds versions or network settings, not addresses"
    present = [value for value in values if not is_blank(value)]
    if len(present) < MIN_VALUES:
        return None
    accepted = [
        value
        for value in present
        if normalize_value(spec.type, spec.name, value, unit).outcome != "rejected"
    ]
    if len(accepted) / len(present) < MIN_ACCEPTED:
        return f"most values are not {spec.type} values"
    if spec.name in _IDENTIFYING and len({str(value) for value in present}) == 1:
        return "one value repeated on every row identifies nothing"
    return None
