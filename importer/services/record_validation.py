"""Per-row validation of uploaded records against the mapped canonical fields.

Issue codes follow the Frictionless error vocabulary so reports read the same as the
tooling users already know.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from dateutil import parser as date_parser

from importer.canonical import CanonicalSchema, FieldSpec

Severity = Literal["error", "warning"]

_MAX_SHOWN = 80

# A failed check: (issue code, reason phrased to follow the value in the message).
_Failure = tuple[str, str]
_Checker = Callable[[Any], _Failure | None]

# Thousands separators, a decimal part and a trailing unit ("16 GB", "4 cores", "85%")
# are common in exports; the unit is not interpreted here.
_NUMBER = re.compile(
    r"\s*(?P<number>[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|[+-]?\.\d+)"
    r"\s*(?:%|[^\W\d_]+(?:\s+[^\W\d_]+)*)?\s*"
)
# Braces and brackets too: a list of addresses may come as an array literal ("{10.0.0.1,10.0.0.2}"
# from a PostgreSQL-backed tool such as Device42, '["10.0.0.1"]' from a JSON-minded one).
IP_SEPARATORS = re.compile(r"[;,\s{}\[\]\"']+")
# Dotted quads ipaddress accepts: octets up to 255, without leading zeros.
_CANONICAL_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)
_HOSTNAME = re.compile(r"[A-Za-z0-9._-]{1,253}")
_BOOLEANS = frozenset({"yes", "no", "true", "false", "1", "0", "y", "n", "on", "off"})
_SCALARS = (str, int, float)


@dataclass(frozen=True)
class ValidationIssue:
    row_number: int
    code: str
    field: str | None
    message: str
    severity: Severity


def is_blank(value: Any) -> bool:
    """None, a whitespace-only string or an empty JSON array/object."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict):
        return not value
    return False


class RecordValidator:
    def __init__(
        self,
        schema: CanonicalSchema,
        column_fields: Mapping[str, str],
        columns: Sequence[str],
    ) -> None:
        self._columns = tuple(columns)
        # Built once: validate() runs for every row of uploads with millions of rows.
        self._checks: list[tuple[str, FieldSpec, _Checker]] = []
        for column, field in column_fields.items():
            spec = schema.field(field)
            self._checks.append((column, spec, _memoized(_checker_for(spec))))
        self._fields = dict(column_fields)
        # Like a required field, a group none of whose fields is mapped is not reported per row:
        # the mapping review asks for one.
        self._one_of = [
            (group, columns)
            for group, columns in mapped_groups(schema, column_fields).items()
            if columns
        ]

    def validate(
        self,
        row_number: int,
        values: Mapping[str, Any],
        extra: Sequence[str] | None,
    ) -> list[ValidationIssue]:
        if all(is_blank(value) for value in values.values()) and all(
            is_blank(cell) for cell in extra or ()
        ):
            return [ValidationIssue(row_number, "blank-row", None, "Row is blank", "error")]
        issues = [
            ValidationIssue(
                row_number, "missing-cell", column, f"Column {column!r} has no cell", "warning"
            )
            for column in self._columns
            if column not in values
        ]
        if extra:
            issues.append(
                ValidationIssue(
                    row_number,
                    "extra-cell",
                    None,
                    f"Row has {len(extra)} cell(s) beyond the header",
                    "warning",
                )
            )
        for group, columns in self._one_of:
            if not all(is_blank(values.get(column)) for column in columns):
                continue
            if len(columns) == 1:
                # One column stands for the group: its value is required, as a field's is.
                [column] = columns
                field = self._fields[column]
                message = f"Column {column!r} ({field}) requires a value"
            else:
                column = None
                message = (
                    "Row requires a value in one of the columns "
                    + ", ".join(repr(column) for column in columns)
                    + f" ({' or '.join(group)})"
                )
            issues.append(ValidationIssue(row_number, "required-value", column, message, "error"))
        for column, spec, check in self._checks:
            value = values.get(column)
            if is_blank(value):
                if spec.required:
                    issues.append(
                        ValidationIssue(
                            row_number,
                            "required-value",
                            column,
                            f"Column {column!r} ({spec.name}) requires a value",
                            "error",
                        )
                    )
                continue
            failure = check(value)
            if failure is not None:
                code, reason = failure
                issues.append(
                    ValidationIssue(
                        row_number,
                        code,
                        column,
                        f"Value {_show(value)} in column {column!r} ({spec.name}) {reason}",
                        "error",
                    )
                )
        return issues


def mapped_groups(
    schema: CanonicalSchema, column_fields: Mapping[str, str]
) -> dict[tuple[str, ...], list[str]]:
    """Each group of the schema's required_one_of, and the columns mapped to its fields."""
    return {
        group: [column for column, field in column_fields.items() if field in group]
        for group in schema.required_one_of
    }


# A column's text values are remembered until it has this many distinct ones: sizes,
# environments and systems repeat over millions of rows, hostnames and addresses do not.
_MEMO_LIMIT = 4096
_UNSEEN = object()


def _memoized(check: _Checker) -> _Checker:
    memo: dict[str, _Failure | None] = {}

    def memoized(value: Any) -> _Failure | None:
        # Text only: 1, 1.0 and True are one key to a dict, not one value to check.
        if type(value) is not str:
            return check(value)
        failure = memo.get(value, _UNSEEN)
        if failure is _UNSEEN:
            failure = check(value)
            if len(memo) < _MEMO_LIMIT:
                memo[value] = failure
        return failure

    return memoized


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _checker_for(spec: FieldSpec) -> _Checker:
    if spec.type in ("integer", "number"):
        return _numeric_checker(spec)
    return _CHECKERS[spec.type]


def _numeric_checker(spec: FieldSpec) -> _Checker:
    integral = spec.type == "integer"
    kind = "an integer" if integral else "a number"

    def check(value: Any) -> _Failure | None:
        number = _parse_number(value, integral)
        if number is None:
            return "type-error", f"is not {kind}"
        if spec.minimum is not None and number < spec.minimum:
            return "constraint-error", f"is below the minimum {spec.minimum:g}"
        return None

    return check


def _parse_number(value: Any, integral: bool) -> int | float | Decimal | None:
    # bool is an int subclass, but true/false in a numeric field is a mistake.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or (integral and not value.is_integer()):
            return None
        return value
    if not isinstance(value, str):
        return None
    match = _NUMBER.fullmatch(value)
    if match is None:
        return None
    number = Decimal(match["number"].replace(",", ""))
    if integral and number != number.to_integral_value():
        return None
    return number


def _check_ip(value: Any) -> _Failure | None:
    if isinstance(value, str):
        parts = [part for part in IP_SEPARATORS.split(value) if part]
    elif isinstance(value, list):
        parts = value
    else:
        return "type-error", "is not an IP address"
    for part in parts:
        if not _is_ip(part):
            return "type-error", f"is not an IP address ({_show(part)} is invalid)"
    return None


def _is_ip(part: Any) -> bool:
    if not isinstance(part, str):
        return False
    if _CANONICAL_IPV4.fullmatch(part.strip()):
        return True  # what most exports hold, without ipaddress's slower parse
    try:
        ipaddress.ip_address(part.strip())
    except ValueError:
        return False
    return True


def _check_date(value: Any) -> _Failure | None:
    if not isinstance(value, str):
        return "type-error", "is not a date"
    text = value.strip()
    try:
        datetime.fromisoformat(text)
        return None
    except ValueError:
        pass
    try:
        # Only parseability matters here; ignoretz also avoids dateutil's warning per
        # unrecognised zone name ("CEST"), which would flood the log on big uploads.
        date_parser.parse(text, ignoretz=True)
    except (ValueError, OverflowError):
        return "type-error", "is not a date"
    return None


def _check_boolean(value: Any) -> _Failure | None:
    if isinstance(value, bool) or value in (0, 1):
        return None
    if isinstance(value, str) and value.strip().casefold() in _BOOLEANS:
        return None
    return "type-error", "is not a boolean (yes/no, true/false, 1/0, y/n, on/off)"


def _check_hostname(value: Any) -> _Failure | None:
    if not isinstance(value, str):
        return "type-error", "is not a hostname"
    if _HOSTNAME.fullmatch(value.strip()) is None:
        return (
            "constraint-error",
            "is not a valid hostname (letters, digits, '.', '_', '-'; at most 253)",
        )
    return None


def _check_string(value: Any) -> _Failure | None:
    if isinstance(value, _SCALARS):
        return None
    return "type-error", "is not text"


def _check_list(value: Any) -> _Failure | None:
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, list) and all(isinstance(item, _SCALARS) for item in value):
        return None
    return "type-error", "is not a list of values"


# The items of a list of sizes split on ";" and new lines, not on commas: numbers use them for
# thousands ("1,024").
SIZE_ITEMS = re.compile(r"[;\r\n]+")


def _check_sizes(value: Any) -> _Failure | None:
    items = SIZE_ITEMS.split(value) if isinstance(value, str) else value
    if not isinstance(items, list):
        return "type-error", "is not a list of sizes"
    for item in items:
        if is_blank(item):
            continue
        number = _parse_number(item.strip() if isinstance(item, str) else item, False)
        if number is None:
            return "type-error", f"holds {_show(item)}, which is not a size"
        if number < 0:
            return "constraint-error", "holds a negative size"
    return None


_CHECKERS: dict[str, _Checker] = {
    "sizes": _check_sizes,
    "ip": _check_ip,
    "date": _check_date,
    "boolean": _check_boolean,
    "hostname": _check_hostname,
    "string": _check_string,
    "list": _check_list,
}
