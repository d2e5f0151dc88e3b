"""The rows of an import that surely pass validation, told apart in SQL.

Most rows of an export are unremarkable: every mapped value a plain name, number or address,
every header cell present, nothing beyond them. PostgreSQL recognises those with a few regular
expressions, and only the others are read into Python, where RecordValidator decides. Every test
here is stricter than the validator's, so a row it passes is one the validator would pass with no
issue at all; a row it leaves is merely checked the slow way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from importer.canonical import CanonicalSchema, FieldSpec
from importer.services.record_validation import mapped_groups

# Groups without "?:": SQLAlchemy would read ":25" as a bind parameter.
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
# The length apart: PostgreSQL runs "{1,253}" as 253 states, 80 times slower.
_HOSTNAME = r"^[A-Za-z0-9._-]+$"
# A count with an optional unit ("16GB", "32 GB"); numbers also with a decimal part. No bounded
# repetitions in these: PostgreSQL unrolls them into states and slows down many times.
_INTEGER_TEXT = r"^[0-9]+( ?[A-Za-z]+)?$"
_NUMBER_TEXT = r"^[0-9]+(\.[0-9]+)?( ?[A-Za-z]+)?$"
_INTEGER_JSON = r"^[0-9]+$"
_NUMBER_JSON = r"^[0-9]+(\.[0-9]+)?$"
_BOOLEANS = ("yes", "no", "true", "false", "1", "0", "y", "n", "on", "off")
# ASCII whitespace, which str.strip() removes too (SQL's \s may mean more, or less).
_SPACES = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"


class PlainRowFilter:
    """A SQL condition true only for rows with no issue; false or NULL for the others (select
    those with ``IS NOT TRUE``). It reads ``plain``, a lateral subquery over ``r``
    (raw_import_records) to be joined with ``lateral``, which takes each mapped value out of the
    record once (OFFSET 0 keeps PostgreSQL from inlining it back into every test)."""

    def __init__(
        self,
        schema: CanonicalSchema,
        column_fields: Mapping[str, str],
        header: Sequence[str],
    ) -> None:
        self.params: dict[str, Any] = {"plain_header": list(header)}
        values, checks, filled = [], [], []
        value_of: dict[str, str] = {}
        for index, (column, field) in enumerate(column_fields.items()):
            name = f"plain_c{index}"
            self.params[name] = column
            values.append(
                f"jsonb_typeof(r.record -> :{name}) AS k{index}, r.record ->> :{name} AS t{index}"
            )
            kind, text = f"plain.k{index}", f"plain.t{index}"
            spec = schema.field(field)
            checks.append(_column(spec, kind, text))
            # Some value with a letter or digit: the row is not blank.
            value_of[column] = f"({kind} = 'number' OR coalesce({text}, '') ~ '[A-Za-z0-9]')"
            filled.append(value_of[column])
            if spec.required:
                filled = []  # a required value's test already demands that
        # A group of which one field is needed: one of its mapped columns has a value.
        for columns in mapped_groups(schema, column_fields).values():
            if columns:
                checks.append(f"({' OR '.join(value_of[column] for column in columns)})")
        self.lateral = (
            f"CROSS JOIN LATERAL (SELECT {', '.join(values) or 'NULL'} OFFSET 0) AS plain"
        )
        if not checks:
            self.condition = "FALSE"
            return
        self.condition = " AND ".join(
            [
                "r.extra_values IS NULL",
                "r.record ?& CAST(:plain_header AS text[])",
                *([f"({' OR '.join(filled)})"] if filled else []),
                *checks,
            ]
        )


def _column(spec: FieldSpec, kind: str, text: str) -> str:
    check = _check(spec, kind, text)
    if spec.required:
        # Every test of a required value admits only values with a letter or digit.
        return check
    spaces = f"({kind} = 'string' AND btrim({text}, {_SPACES}) = '')"
    blank = f"({kind} IS NULL OR {kind} = 'null' OR {spaces})"
    return f"({blank} OR {check})"


def _check(spec: FieldSpec, kind: str, text: str) -> str:
    # Whitespace SQL does not see (no-break spaces) makes a value blank to the validator: a
    # required value must show a letter or digit.
    filled = f" AND {text} ~ '[A-Za-z0-9]'" if spec.required else ""
    if spec.type in ("string", "list"):
        return f"({kind} = 'number' OR ({kind} = 'string'{filled}))"
    if spec.type == "hostname":
        return f"({kind} = 'string' AND length({text}) <= 253 AND {text} ~ '{_HOSTNAME}')"
    if spec.type == "ip":
        return f"({kind} = 'string' AND {text} ~ '{_IPV4}')"
    if spec.type == "boolean":
        words = ", ".join(f"'{word}'" for word in _BOOLEANS)
        return (
            f"({kind} = 'boolean' OR ({kind} = 'number' AND {text} IN ('0', '1'))"
            f" OR ({kind} = 'string' AND lower({text}) IN ({words})))"
        )
    if spec.type in ("integer", "number"):
        integral = spec.type == "integer"
        as_text = _INTEGER_TEXT if integral else _NUMBER_TEXT
        as_json = _INTEGER_JSON if integral else _NUMBER_JSON
        shape = (
            f"(({kind} = 'string' AND {text} ~ '{as_text}')"
            f" OR ({kind} = 'number' AND {text} ~ '{as_json}'))"
        )
        if spec.minimum is None:
            return shape
        # Only evaluated once the shape holds, so the cast cannot fail.
        at_least = f"substring({text} from '^[0-9.]+')::numeric >= {float(spec.minimum)!r}"
        return f"(CASE WHEN {shape} THEN {at_least} ELSE FALSE END)"
    # Dates have too many spellings to judge in SQL.
    return "FALSE"
