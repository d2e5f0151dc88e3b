"""Size units: what a column's or a cell's unit is, and its factor to the canonical GiB.

Memory and disk sizes are stored in GiB (2**30 bytes). Exports write "MB" and "GB" for what
their tools computed in powers of 1024 (VMware, Windows, ServiceNow's discovery), so a decimal
prefix is read as the binary one: 12288 "MB" of RAM is 12 GiB, not 11.44.

A column's unit comes, first to last, from a person's review or a tool profile, from a sibling
column that names it per row (Device42's ram_size_type), or from the header ("RAM (MB)",
"Memory MiB", "Disk 1 size (In GB)", "RAM.TotalSizeInMB"). A unit written in a cell ("16 GB",
"1.5 TB") wins over the column's for that cell.
"""

from __future__ import annotations

import re
from decimal import Decimal


def _factors() -> dict[str, Decimal]:
    factors = dict.fromkeys(("b", "byte", "bytes"), Decimal(1024) ** -3)
    prefixes = (("k", "kilo"), ("m", "mega"), ("g", "giga"), ("t", "tera"), ("p", "peta"))
    for power, (letter, word) in enumerate(prefixes, start=-2):
        for alias in (letter, f"{letter}b", f"{letter}ib", f"{word}byte", f"{word}bytes"):
            factors[alias] = Decimal(1024) ** power
    return factors


# Lower-cased unit spelling → GiB per unit.
FACTORS = _factors()
# The spellings a mapping may name, as a person or a profile writes them.
SIZE_UNITS = ("B", "KB", "KiB", "MB", "MiB", "GB", "GiB", "TB", "TiB", "PB", "PiB")

# "(MB)", "[GiB]", "in MB", "SizeInMB", "_mb", "MiB" as the header's last word or before a
# closing bracket. Matched on the raw header: its case tells "SizeInMB" apart.
_HEADER_UNIT = re.compile(
    r"(?:[\s(\[_.-]|(?<=[a-z])In|\bin\s)(?P<unit>[KMGTP]i?B|bytes?)(?:[\s)\]]*$|[\s)\]])",
    re.I,
)


def factor(unit: str | None) -> Decimal | None:
    """GiB per one of ``unit``; None for no unit or one that is not a size."""
    if not unit:
        return None
    return FACTORS.get(unit.strip().casefold())


def header_unit(header: str) -> str | None:
    """The size unit a header names, as written ("MB", "MiB"), else None."""
    if factor(header) is not None:
        return header.strip()
    found = None
    for match in _HEADER_UNIT.finditer(header):
        found = match["unit"]
    return found
