"""How sure each kind of match is that a row and an asset are one machine.

The confidences are data: importer/discovery/data/match_confidence.toml, each citing why.

The inventory merges a row into the asset a key found only when the match's confidence is at
least the account's merge review threshold; a weaker match waits for a person (a pending merge).
The kinds are the keys asset_sources.matched_on names, and one more: ``hostname_other_domain``,
a short name found under another DNS domain than the row's (both records name one, and they
differ). An IP finds an asset only when nothing stronger did and nothing contradicts it, so a
match on ``ip`` is always a match on the IP alone.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any

from importer.discovery.normalize import normalize_hostname_key

KINDS = ("uuid", "serial", "source_id", "hostname", "hostname_other_domain", "ip")


@lru_cache(maxsize=1)
def confidences() -> dict[str, float]:
    """Each kind's confidence, as the data file gives it."""
    path = resources.files(__package__) / "data" / "match_confidence.toml"
    table = tomllib.loads(path.read_text(encoding="utf-8"))
    if set(table) != set(KINDS):
        raise ValueError(f"match_confidence.toml must give exactly {KINDS}, not {sorted(table)}")
    return {kind: float(table[kind]["confidence"]) for kind in KINDS}


def domain(name: Any) -> str | None:
    """The DNS domain of a fully qualified name ("web-01.corp.example" -> "corp.example"); none
    for a short name or an IP address."""
    if not isinstance(name, str) or "." not in name:
        return None
    text = name.strip().lower().rstrip(".")
    if "." not in text or normalize_hostname_key(text) != text.split(".", 1)[0]:
        return None  # an IP address keys as itself, not as its first number
    return text.split(".", 1)[1] or None


def fqdn(data: dict[str, Any]) -> str | None:
    """The fully qualified name a record gives, from its fqdn field or a dotted host name."""
    for field in ("fqdn", "hostname", "name"):
        value = data.get(field)
        if domain(value) is not None:
            return value.strip().lower().rstrip(".")
    return None


def kind_of(matched_on: str, row_fqdn: str | None, asset_attributes: dict[str, Any]) -> str:
    """The kind of a match by ``matched_on`` (asset_sources' name of the key)."""
    if matched_on == "hostname" and row_fqdn is not None:
        theirs = fqdn(asset_attributes or {})
        if theirs is not None and domain(theirs) != domain(row_fqdn):
            return "hostname_other_domain"
    return matched_on
