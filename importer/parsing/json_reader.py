"""JSON array and NDJSON uploads, and records already decoded from a request body."""

import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

from importer.errors import InvalidUpload
from importer.parsing.json_records import RecordCollector, nesting_too_deep, non_finite_number
from importer.parsing.limits import DEFAULT_LIMITS, ParseLimits
from importer.parsing.records import ParsedRecord, RecordSource
from importer.parsing.streams import TextUpload, text_decoding_error

_CHUNK_SIZE = 64 * 1024
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Decoding errors caused by the buffer ending mid-element are reported at most this
# many characters before its end ("-Infinity" is the longest token), or as an
# unterminated string.
_TRUNCATION_MARGIN = 16
# A JSON string escape takes at most 6 characters per byte of the decoded value.
_MAX_ESCAPE_CHARS_PER_BYTE = 6


class _NonFiniteNumber(ValueError):
    """NaN, Infinity or a float overflow: Python accepts them, PostgreSQL jsonb does not."""


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NonFiniteNumber(text)
    return value


def _reject_constant(name: str) -> float:
    raise _NonFiniteNumber(name)


_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_reject_constant)


def open_json_array(upload: TextUpload, limits: ParseLimits) -> RecordSource:
    collector = RecordCollector(limits)
    elements = _ArrayElements(upload.text(), limits)
    elements.open_array()
    return RecordSource(
        format="json",
        encoding=upload.encoding,
        delimiter=None,
        columns=collector.columns,
        records=_array_records(elements, collector),
    )


def open_ndjson(upload: TextUpload, limits: ParseLimits) -> RecordSource:
    collector = RecordCollector(limits)
    return RecordSource(
        format="ndjson",
        encoding=upload.encoding,
        delimiter=None,
        columns=collector.columns,
        records=_ndjson_records(upload.text(), collector, limits),
    )


def records_from_objects(objects: Any, limits: ParseLimits = DEFAULT_LIMITS) -> RecordSource:
    """Records from an already decoded JSON body's list, checked like a JSON file's."""
    if not isinstance(objects, list):
        raise InvalidUpload("expected a JSON array of objects", code="invalid-json")
    collector = RecordCollector(limits)
    return RecordSource(
        format="json",
        encoding="utf-8",
        delimiter=None,
        columns=collector.columns,
        records=_object_records(objects, collector),
    )


def _object_records(objects: Iterable[Any], collector: RecordCollector) -> Iterator[ParsedRecord]:
    for value in objects:
        yield collector.record(value, None, {"row": collector.start_row()})
    collector.finish()


def _array_records(
    elements: "_ArrayElements", collector: RecordCollector
) -> Iterator[ParsedRecord]:
    while elements.has_next():
        location = {"row": collector.start_row()}
        value, source = elements.next_element(location)
        yield collector.record(value, source, location)
    collector.finish()


def _ndjson_records(
    text: io.TextIOWrapper, collector: RecordCollector, limits: ParseLimits
) -> Iterator[ParsedRecord]:
    try:
        for line_number, line in enumerate(text, 1):
            if line.isspace():
                continue
            location = {"row": collector.start_row(), "line": line_number}
            try:
                value = _DECODER.decode(line)
            except json.JSONDecodeError as error:
                raise InvalidUpload(
                    f"line {line_number} is not valid JSON: {error.msg}"
                    " (NDJSON needs one complete object per line)",
                    code="invalid-json",
                    details={**location, "column": error.colno},
                ) from None
            except (RecursionError, _NonFiniteNumber) as error:
                raise _value_error(error, limits, location) from None
            yield collector.record(value, line, location)
    except UnicodeError as error:
        raise text_decoding_error(error, text) from None
    collector.finish()


def _value_error(
    error: RecursionError | _NonFiniteNumber, limits: ParseLimits, location: dict[str, int]
) -> InvalidUpload:
    # json raises RecursionError once nesting reaches the interpreter's recursion limit.
    if isinstance(error, RecursionError):
        return nesting_too_deep(limits, location)
    return non_finite_number(str(error), location)


class _ArrayElements:
    """Decodes a JSON array's elements one at a time, buffering about one element's text.

    ijson would stream too, but its C backend turns lone surrogate escapes into "?" and
    rejects integers beyond 64 bits, and its Python backend is an order of magnitude
    slower; this uses the same decoder as NDJSON and Flask request bodies.
    """

    def __init__(self, text: io.TextIOWrapper, limits: ParseLimits) -> None:
        self._text = text
        self._limits = limits
        self._buffer = ""
        self._position = 0
        self._at_eof = False
        self._chars_dropped = 0
        self._lines_dropped = 0
        self._started = False

    def open_array(self) -> None:
        first = self._peek()
        if not first:
            raise InvalidUpload("the file is empty", code="empty-file")
        if first != "[":
            raise self._error("expected a JSON array of objects", self._position)
        self._position += 1

    def has_next(self) -> bool:
        """Consumes what separates elements and tells whether another one follows."""
        char = self._peek()
        if not self._started:
            self._started = True
            if char != "]":
                return True
        elif char == ",":
            self._position += 1
            return True
        elif char != "]":
            message = "the array is not closed" if not char else "expected ',' or ']'"
            raise self._error(message, self._position)
        self._position += 1
        if self._peek():
            raise self._error("unexpected data after the JSON array", self._position)
        return False

    def next_element(self, location: dict[str, int]) -> tuple[Any, str]:
        """The next element, decoded, and its source text."""
        self._peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._position)
            except json.JSONDecodeError as error:
                if self._at_eof or not self._may_be_truncated(error):
                    raise self._error(error.msg, error.pos, location) from None
                self._check_open_string(error, location)
            except (RecursionError, _NonFiniteNumber) as error:
                raise _value_error(error, self._limits, location) from None
            else:
                # A top-level number may be cut short by the buffer's end, but it is
                # rejected as a record all the same.
                source = self._buffer[self._position : end]
                self._position = end
                return value, source
            self._fill()

    def _may_be_truncated(self, error: json.JSONDecodeError) -> bool:
        return (
            error.msg.startswith("Unterminated string")
            or error.pos >= len(self._buffer) - _TRUNCATION_MARGIN
        )

    def _check_open_string(self, error: json.JSONDecodeError, location: dict[str, int]) -> None:
        """Stops buffering a string (one missing its closing quote, say) too long to be valid."""
        limit = self._limits.max_field_bytes
        if (
            error.msg.startswith("Unterminated string")
            and len(self._buffer) - error.pos > _MAX_ESCAPE_CHARS_PER_BYTE * limit + 2
        ):
            raise InvalidUpload(
                f"record {location['row']} has a value larger than {limit} bytes",
                code="field-too-large",
                details={**location, **self._where(error.pos), "limit": limit},
            )

    def _peek(self) -> str:
        """The next character that is not whitespace, or "" at the end of the file."""
        while True:
            self._position = _WHITESPACE.match(self._buffer, self._position).end()
            if self._position < len(self._buffer) or self._at_eof:
                return self._buffer[self._position : self._position + 1]
            self._fill()

    def _fill(self) -> None:
        self._lines_dropped += self._buffer.count("\n", 0, self._position)
        self._chars_dropped += self._position
        unread = self._buffer[self._position :]
        # Growing by at least the unread length keeps re-decoding a large element linear.
        try:
            chunk = self._text.read(max(_CHUNK_SIZE, len(unread)))
        except UnicodeError as error:
            raise text_decoding_error(error, self._text) from None
        self._at_eof = not chunk
        self._buffer = unread + chunk
        self._position = 0

    def _where(self, index: int) -> dict[str, int]:
        return {
            "line": self._lines_dropped + self._buffer.count("\n", 0, index) + 1,
            "char_offset": self._chars_dropped + index,
        }

    def _error(
        self, message: str, index: int, location: dict[str, int] | None = None
    ) -> InvalidUpload:
        where = self._where(index)
        return InvalidUpload(
            f"invalid JSON at line {where['line']}: {message}",
            code="invalid-json",
            details={**(location or {}), **where},
        )
