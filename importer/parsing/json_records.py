"""Checks on decoded JSON records: what PostgreSQL jsonb can store, and the limits."""

import math
import re
from typing import Any

from importer.errors import InvalidUpload
from importer.parsing.limits import ParseLimits
from importer.parsing.records import ParsedRecord

_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_Container = dict[Any, Any] | list[Any]
_Path = tuple[str | int, ...]
# In JSON text, NUL and lone surrogates can only be written as \u escapes.
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class RecordCollector:
    """Validates records in order, numbering them and gathering the union of their keys."""

    def __init__(self, limits: ParseLimits) -> None:
        self.columns: list[str] = []
        self._known_columns: set[str] = set()
        self._limits = limits
        self._rows = 0

    def start_row(self) -> int:
        if self._rows >= self._limits.max_rows:
            raise InvalidUpload(
                f"the upload has more than {self._limits.max_rows} records",
                code="too-many-rows",
                details={"limit": self._limits.max_rows},
            )
        self._rows += 1
        return self._rows

    def record(self, value: Any, source: str | None, location: dict[str, int]) -> ParsedRecord:
        """Checks one decoded record; ``source`` is its JSON text, if it came from one."""
        if not isinstance(value, dict):
            found = json_type(value)
            raise InvalidUpload(
                f"record {location['row']} is not an object but {found}",
                code="invalid-record",
                details={**location, "type": found},
            )
        if source is None or self._may_break_limits(source):
            check_values(value, self._limits, location)
        if not self._known_columns.issuperset(value):
            self._add_columns(value, location)
        return ParsedRecord(location["row"], value, None)

    def finish(self) -> None:
        if self._rows == 0:
            raise InvalidUpload("the upload contains no records", code="no-records")

    def _may_break_limits(self, source: str) -> bool:
        # Walking every value costs as much again as decoding. The walk can be skipped
        # when the text rules problems out: a decoded string is never longer in UTF-8
        # than its source text, each nesting level needs a bracket, and NUL or a lone
        # surrogate needs a \u escape.
        limits = self._limits
        return (
            len(source) * 4 > limits.max_field_bytes
            or source.count("{") + source.count("[") > limits.max_nesting
            or _RISKY_ESCAPE.search(source) is not None
        )

    def _add_columns(self, value: dict[str, Any], location: dict[str, int]) -> None:
        for key in value:
            if key not in self._known_columns:
                self._known_columns.add(key)
                self.columns.append(key)
        if len(self.columns) > self._limits.max_columns:
            limit = self._limits.max_columns
            raise InvalidUpload(
                f"the records have more than {limit} distinct keys",
                code="too-many-columns",
                details={**location, "columns": len(self.columns), "limit": limit},
            )


def check_values(record: dict[str, Any], limits: ParseLimits, location: dict[str, int]) -> None:
    """Rejects keys and values jsonb cannot store, oversized strings and deep nesting."""
    # Iterative, so that no input can exhaust the Python stack.
    pending: list[tuple[_Container, int, _Path]] = [(record, 1, ())]
    while pending:
        container, depth, path = pending.pop()
        if depth > limits.max_nesting:
            raise nesting_too_deep(limits, {**location, "path": _format_path(path)})
        entries = container.items() if isinstance(container, dict) else enumerate(container)
        for key, value in entries:
            here = (*path, key)
            if isinstance(key, str):
                _check_text(key, limits, location, here)
            if isinstance(value, str):
                _check_text(value, limits, location, here)
            elif isinstance(value, dict | list):
                pending.append((value, depth + 1, here))
            elif isinstance(value, float) and not math.isfinite(value):
                raise non_finite_number(str(value), {**location, "path": _format_path(here)})


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def nesting_too_deep(limits: ParseLimits, details: dict[str, Any]) -> InvalidUpload:
    return InvalidUpload(
        f"record {details['row']} is nested more than {limits.max_nesting} levels deep",
        code="nesting-too-deep",
        details={**details, "limit": limits.max_nesting},
    )


def non_finite_number(text: str, details: dict[str, Any]) -> InvalidUpload:
    return InvalidUpload(
        f"record {details['row']} has the number {text}, which cannot be stored",
        code="invalid-number",
        details=details,
    )


def _check_text(text: str, limits: ParseLimits, location: dict[str, int], path: _Path) -> None:
    if "\x00" in text:
        raise InvalidUpload(
            f"record {location['row']} has a NUL character at {_format_path(path)}",
            code="nul-byte",
            details={**location, "path": _format_path(path)},
        )
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidUpload(
            f"record {location['row']} has an unpaired surrogate at {_format_path(path)}",
            code="invalid-unicode",
            details={**location, "path": _format_path(path)},
        ) from None
    if size > limits.max_field_bytes:
        raise InvalidUpload(
            f"record {location['row']} has a value larger than {limits.max_field_bytes} bytes"
            f" at {_format_path(path)}",
            code="field-too-large",
            details={**location, "path": _format_path(path), "limit": limits.max_field_bytes},
        )


def _format_path(path: _Path) -> str:
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    # The path may hold the very character being reported; the error must itself be
    # storable and serialisable.
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")
