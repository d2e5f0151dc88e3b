"""Which canonical field a column holds, told by its values rather than its header.

An "Address" or "Column 7" header says little; 200 values that are all IP addresses say more.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from importer.discovery.normalize import normalize_value
from importer.services.record_validation import is_blank

MIN_VALUES = 5
MIN_SHARE = 0.8

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
