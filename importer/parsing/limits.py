"""Bounds on what one upload may contain, so a hostile or broken file fails fast."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ParseLimits:
    max_rows: int = 2_000_000
    max_columns: int = 1_000
    max_field_bytes: int = 1_048_576
    """A single value's size in UTF-8 bytes; also bounds CSV labels and JSON keys."""
    max_nesting: int = 32
    """JSON nesting depth counted from the record object, which is level 1."""
    max_xlsx_uncompressed_bytes: int = 512 * 1024 * 1024
    """What an XLSX workbook's zip members may add up to once decompressed; also bounds the
    workbook file itself."""
    max_xlsx_compression_ratio: int = 100
    """How many times its compressed size a large zip member may expand to."""


DEFAULT_LIMITS = ParseLimits()
