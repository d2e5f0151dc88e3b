"""What a reader hands to the import: records, and what is known about the upload."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class ParsedRecord:
    row_number: int
    """Data rows count from 1; a CSV header is not a row."""
    values: dict[str, Any]
    """CSV: the cells as written, without the missing trailing ones. JSON: the object."""
    extra: list[str] | None
    """CSV cells beyond the header, else None."""


class RecordSource:
    """An opened upload: its format and columns, and one streaming pass over its records."""

    def __init__(
        self,
        *,
        format: str,
        encoding: str,
        delimiter: str | None,
        columns: list[str],
        records: Iterator[ParsedRecord],
    ) -> None:
        self.format = format
        self.encoding = encoding
        self.delimiter = delimiter
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
