"""CSV uploads: delimiter detection, header checks and streaming rows."""

import csv
import io
import itertools
import re
import threading
from collections.abc import Iterator

from importer.errors import InvalidUpload
from importer.parsing.header import check_labels, is_blank
from importer.parsing.limits import ParseLimits
from importer.parsing.records import ParsedRecord, RecordSource
from importer.parsing.streams import TextUpload, text_decoding_error

DELIMITERS = ",;\t|"
_DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}
# csv.Sniffer's regular expressions take seconds on some 64 KB samples (e.g. when only
# the last column is quoted); a few KB are enough for it to recognise a dialect.
_SNIFF_SIZE = 4096
_FIELD_LIMIT_LOCK = threading.Lock()
# The file is read this many characters at a time, and a line longer than this is handed
# on in pieces, so that no line with a huge value is ever held whole (see _line_blocks).
_PIECE_CHARS = 64 * 1024
# A line and its ending, as the csv module (and readline with newline="") sees lines.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_LINE_ENDS = ("\r", "\n")
# str.splitlines() also ends lines at these, which are data in CSV (a vertical tab is
# FileMaker's line break inside a field).
_OTHER_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def parse_delimiter(name: str) -> str:
    """The delimiter a client named, as the character itself or as a word ("tab")."""
    if len(name) == 1 and name in DELIMITERS:
        return name
    if name.lower() in _DELIMITER_NAMES:
        return _DELIMITER_NAMES[name.lower()]
    allowed = [*DELIMITERS, *_DELIMITER_NAMES]
    raise InvalidUpload(
        f"the delimiter must be one of {', '.join(map(repr, allowed))}",
        code="invalid-delimiter",
        details={"delimiter": name[:20], "allowed": allowed},
    )


def open_csv(upload: TextUpload, limits: ParseLimits, delimiter: str | None) -> RecordSource:
    """Opens a CSV upload; a ``delimiter`` from parse_delimiter overrides detection."""
    delimiter = delimiter or detect_delimiter(upload.sample())
    _allow_fields_of(limits.max_field_bytes)
    rows = _CsvRows(upload.text(), delimiter, limits)
    columns = rows.read_header()
    return RecordSource(
        format="csv",
        encoding=upload.encoding,
        delimiter=delimiter,
        columns=columns,
        records=rows.records(columns),
    )


def detect_delimiter(sample: str) -> str:
    """Picks the delimiter among , ; tab and | from the start of the file."""
    sample = _without_type_line(sample)
    widths = {delimiter: _header_width(sample, delimiter) for delimiter in DELIMITERS}
    sniffed = _sniff(sample)
    # The sniffer weighs consistency across lines but can be fooled (by commas in a
    # TSV's values, say): only trust it when its choice actually splits the header.
    if sniffed is not None and widths.get(sniffed, 1) > 1:
        return sniffed
    widest = max(DELIMITERS, key=widths.__getitem__)
    return widest if widths[widest] > 1 else ","


def _sniff(sample: str) -> str | None:
    head = sample[:_SNIFF_SIZE]
    # A line cut in two would look inconsistent to the sniffer.
    last_newline = max(head.rfind("\n"), head.rfind("\r"))
    if last_newline > 0:
        head = head[:last_newline]
    try:
        return csv.Sniffer().sniff(head, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return None


# Windows PowerShell's Export-Csv writes "#TYPE <.NET type>" above the header unless told not to
# (-NoTypeInformation): it names no column.
_TYPE_LINE = "#TYPE "


def _without_type_line(sample: str) -> str:
    if sample.startswith(_TYPE_LINE):
        return sample.split("\n", 1)[1] if "\n" in sample else ""
    return sample


def _header_width(sample: str, delimiter: str) -> int:
    for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
        if not is_blank(row):
            return len(row)
    return 1


def _allow_fields_of(size: int) -> None:
    # The csv module's field limit is process-wide and counts characters. Only ever
    # raise it, so concurrent imports with different limits never cut each other off;
    # each import's own limit (in bytes) is enforced by _CsvRows.
    with _FIELD_LIMIT_LOCK:
        if csv.field_size_limit() < size:
            csv.field_size_limit(size)


class _CsvRows:
    def __init__(self, text: io.TextIOWrapper, delimiter: str, limits: ParseLimits) -> None:
        self._text = text
        self._delimiter = delimiter
        self._limits = limits
        # A UTF-8 character takes at most 4 bytes: cells shorter than this many characters
        # cannot be oversized, so a row only needs the byte count of its cells beyond it.
        self._unchecked_chars = limits.max_field_bytes // 4
        # Quoting at most doubles a value's characters (and adds two quotes).
        self._max_field_chars = 2 * limits.max_field_bytes + 2
        # Lines handed to the csv module, and long lines' pieces cut after a delimiter.
        self._lines_sent = 0
        self._pieces_sent = 0
        self._row_line = 1
        self._lines_exhausted = False
        self._cut_outside_quotes = False
        # The csv module pulls whole blocks' lines through chain(), without a Python frame
        # per line.
        self._reader = csv.reader(
            itertools.chain.from_iterable(self._line_blocks()), delimiter=delimiter, strict=True
        )

    def read_header(self) -> list[str]:
        first = True
        while (cells := self._next_row()) is not None:
            if first and len(cells) == 1 and cells[0].startswith(_TYPE_LINE):
                first = False
                continue
            first = False
            if not is_blank(cells):
                break
        else:
            raise InvalidUpload("the file is empty", code="empty-file")
        if len(cells) > self._limits.max_columns:
            raise self._too_many_columns(len(cells), {"line": self._row_line})
        self._check_field_sizes(cells, None, {"line": self._row_line})
        columns = [cell.strip() for cell in cells]
        check_labels(columns)
        return columns

    def records(self, columns: list[str]) -> Iterator[ParsedRecord]:
        # The loop runs once per row of the file: it is kept to what each row needs.
        width = len(columns)
        max_columns = self._limits.max_columns
        max_rows = self._limits.max_rows
        unchecked_chars = self._unchecked_chars
        reader = self._reader
        row_number = 0
        # Blank lines only become (blank) rows once a non-blank row follows them, so
        # that the blank lines many tools leave at the end of a file are dropped.
        held_blank_lines = 0
        self._row_line = self._lines_read() + 1
        try:
            for cells in reader:
                if self._cut_outside_quotes:
                    cells = self._joined(cells)
                if not cells:
                    held_blank_lines += 1
                else:
                    for _ in range(held_blank_lines):
                        if row_number >= max_rows:
                            raise self._too_many_rows()
                        row_number += 1
                        yield ParsedRecord(row_number, {}, None)
                    held_blank_lines = 0
                    if row_number >= max_rows:
                        raise self._too_many_rows()
                    row_number += 1
                    cell_count = len(cells)
                    if cell_count > max_columns:
                        raise self._too_many_columns(
                            cell_count, {"row": row_number, "line": self._row_line}
                        )
                    if max(map(len, cells)) > unchecked_chars:
                        location = {"row": row_number, "line": self._row_line}
                        self._check_field_sizes(cells, columns, location)
                    extra = cells[width:] if cell_count > width else None
                    yield ParsedRecord(row_number, dict(zip(columns, cells, strict=False)), extra)
                self._row_line = reader.line_num - self._pieces_sent + 1
        except csv.Error as error:
            raise self._csv_error(error) from None
        if row_number == 0:
            raise InvalidUpload("the file has a header but no data rows", code="no-records")

    def _line_blocks(self) -> Iterator[list[str]]:
        """The file's lines for the csv module, a block at a time; long lines in pieces.

        The csv module ends a row at the end of each string it is given, unless a quoted
        field is open. So a line longer than _PIECE_CHARS is cut right after a delimiter,
        and the piece goes alone in its block: either the cut is inside quotes, and the
        module reads on, or between fields, and _joined puts the two rows together. A stretch
        without delimiters longer than any allowed field is rejected at once.
        """
        read = self._text.read
        tail = ""
        try:
            while block := read(_PIECE_CHARS):
                if tail:
                    block = tail + block
                if "\x00" in block:
                    # The lines before it are read first: they may hold an earlier error.
                    before = _lines(block[: block.index("\x00")])
                    if before and not before[-1].endswith(_LINE_ENDS):
                        before.pop()
                    self._lines_sent += len(before)
                    yield before
                    line = self._lines_sent + 1
                    raise InvalidUpload(
                        f"line {line} contains a NUL character",
                        code="nul-byte",
                        details={"line": line},
                    )
                lines = _lines(block)
                # The last line may go on in the next read; a \r may be half of a \r\n.
                tail = lines.pop()
                if tail.endswith("\n"):
                    lines.append(tail)
                    tail = ""
                if lines:
                    self._lines_sent += len(lines)
                    yield lines
                if len(tail) >= _PIECE_CHARS:
                    cut = tail.rfind(self._delimiter) + 1
                    if len(tail) - cut > self._max_field_chars:
                        raise self._field_too_large({"line": self._lines_sent + 1})
                    if cut:
                        piece, tail = tail[:cut], tail[cut:]
                        self._pieces_sent += 1
                        self._cut_outside_quotes = True
                        yield [piece]
                        # Asked for more before a row came out: the cut was inside quotes.
                        self._cut_outside_quotes = False
        except UnicodeError as error:
            raise text_decoding_error(error, self._text) from None
        if tail:
            self._lines_sent += 1
            yield [tail]
        self._lines_exhausted = True

    def _lines_read(self) -> int:
        """Whole lines the csv module has read so far."""
        return self._reader.line_num - self._pieces_sent

    def _next_row(self) -> list[str] | None:
        self._row_line = self._lines_read() + 1
        try:
            cells = next(self._reader, None)
            if cells is not None and self._cut_outside_quotes:
                cells = self._joined(cells)
        except csv.Error as error:
            raise self._csv_error(error) from None
        return cells

    def _joined(self, cells: list[str]) -> list[str]:
        while self._cut_outside_quotes and len(cells) <= self._limits.max_columns:
            # The row ended at a cut between fields: the rest of the line continues
            # its last field, which the cut left empty.
            self._cut_outside_quotes = False
            rest = next(self._reader, None)
            cells[-1:] = rest or [""]
        return cells

    def _csv_error(self, error: csv.Error) -> InvalidUpload:
        if str(error).startswith("field larger than field limit"):
            return self._field_too_large({"line": self._row_line})
        # In strict mode the reader only fails after the last line when a quoted
        # field is still open.
        if self._lines_exhausted:
            return InvalidUpload(
                f"the quoted field starting on line {self._row_line} is never closed",
                code="unterminated-quote",
                details={"line": self._row_line},
            )
        return InvalidUpload(
            f"line {self._lines_read()} is not valid CSV: {error}",
            code="malformed-csv",
            details={"line": self._lines_read()},
        )

    def _too_many_rows(self) -> InvalidUpload:
        return InvalidUpload(
            f"the file has more than {self._limits.max_rows} rows",
            code="too-many-rows",
            details={"limit": self._limits.max_rows},
        )

    def _check_field_sizes(
        self, cells: list[str], columns: list[str] | None, location: dict[str, int]
    ) -> None:
        for position, cell in enumerate(cells, 1):
            if len(cell.encode("utf-8")) > self._limits.max_field_bytes:
                details: dict[str, object] = {**location, "position": position}
                if columns is not None and position <= len(columns):
                    details["column"] = columns[position - 1]
                raise self._field_too_large(details)

    def _field_too_large(self, details: dict[str, object]) -> InvalidUpload:
        limit = self._limits.max_field_bytes
        return InvalidUpload(
            f"a value starting on line {details['line']} is larger than {limit} bytes",
            code="field-too-large",
            details={**details, "limit": limit},
        )

    def _too_many_columns(self, count: int, location: dict[str, int]) -> InvalidUpload:
        limit = self._limits.max_columns
        return InvalidUpload(
            f"line {location['line']} has {count} columns; at most {limit} are allowed",
            code="too-many-columns",
            details={**location, "columns": count, "limit": limit},
        )


def _lines(text: str) -> list[str]:
    """``text`` split after each \\n, \\r\\n or lone \\r, the line endings kept."""
    if any(other in text for other in _OTHER_LINE_BREAKS):
        return _LINE.findall(text)
    return text.splitlines(keepends=True)
