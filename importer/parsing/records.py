"""What a reader hands to the import: records, and what is known about the upload."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class ParsedRecord:
    row_number: int
    """Data rows count from 1; a CSV header is not a row."""
    values: dict[str, Any]
    """CSV: the cells as written, without the missing trailing ones. JSON: the object.
    XLSX: every column's cell, converted to a JSON value ("" for an empty cell)."""
    extra: list[Any] | None
    """CSV or XLSX cells beyond the header, else None."""


class RecordSource:
    """An opened upload: its format and columns, and one streaming pass over its records."""

    def __init__(
        self,
        *,
        format: str,
        encoding: str | None,
        delimiter: str | None,
        columns: list[str],
        records: Iterator[ParsedRecord],
        sheet: str | None = None,
    ) -> None:
        self.format = format
        # None for XLSX: a workbook's XML carries its own encoding.
        self.encoding = encoding
        self.delimiter = delimiter
        # The worksheet an XLSX upload was read from, else None.
        self.sheet = sheet
        # JSON readers append to this list while records are read.
        self.columns = columns
        self._records = records
        self._started = False

    def records(self) -> Iterator[ParsedRecord]:
        # The upload stream is consumed as records are read, so a second pass would
        # silently see nothing (or the remainder): make that a programming error.
        if self._started:
            raise RuntimeError("records() can only be iterated once")
        self._started = True
        return self._records
