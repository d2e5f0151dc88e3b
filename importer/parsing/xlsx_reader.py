"""XLSX uploads: one worksheet's rows, with the first non-empty row as the header.

A tool's workbook may say more about each row in other sheets (RVTools: every NIC of a VM in
vNetwork): the profile that lives in the sheet names them, and their values are joined to each row
as columns of their own ("vNetwork: IPv4 Address").
"""

from __future__ import annotations

import contextlib
import datetime
import math
from collections.abc import Iterator
from typing import Any, BinaryIO

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from importer.discovery.profiles import Companion, companions_of, default_sheets, header_key
from importer.errors import InvalidUpload
from importer.parsing.header import check_labels, is_blank
from importer.parsing.limits import ParseLimits
from importer.parsing.records import ParsedRecord, RecordSource
from importer.parsing.xlsx_archive import check_archive, malformed_workbook, spooled_workbook

_Row = tuple[Any, ...] | list[Any]
# Excel allows 31 characters; a longer name is echoed back only this far.
_MAX_NAME_LENGTH = 100


def open_xlsx(stream: BinaryIO, limits: ParseLimits, sheet: str | None) -> RecordSource:
    """Opens the sheet named ``sheet``, else a tool's known data sheet, else the first visible."""
    with contextlib.ExitStack() as resources:
        spool = resources.enter_context(spooled_workbook(stream, limits))
        check_archive(spool, limits)
        with malformed_workbook():
            workbook = load_workbook(spool, read_only=True, data_only=True)
        resources.callback(workbook.close)
        worksheet = _worksheet(workbook, sheet)
        rows = _SheetRows(worksheet, limits)
        columns = rows.read_header()
        joins = [
            join
            for companion in companions_of(worksheet.title)
            if (join := _Join.read(workbook, companion, columns, limits)) is not None
        ]
        records = rows.records(columns)
        if joins:
            columns = columns + [name for join in joins for name in join.names]
            records = _joined(records, joins)
        records = _closing(records, resources.pop_all())
    return RecordSource(
        format="xlsx",
        encoding=None,
        delimiter=None,
        columns=columns,
        records=records,
        sheet=worksheet.title,
    )


class _Join:
    """A companion sheet's values, by the key of the rows they belong to (a VM's NICs)."""

    def __init__(self, companion: Companion, key: list[str], wanted: list[str]) -> None:
        self.names = [companion.joined(column) for column in wanted]
        self._key = key
        self._wanted = wanted
        self._values: dict[tuple[str, ...], list[list[str]]] = {}

    @classmethod
    def read(
        cls, workbook: Any, companion: Companion, columns: list[str], limits: ParseLimits
    ) -> _Join | None:
        """None when the workbook has no such sheet, or no key and column to join by."""
        found = [
            ws for ws in workbook.worksheets if ws.title.casefold() == companion.sheet.casefold()
        ]
        if not found:
            return None
        rows = _SheetRows(found[0], limits)
        try:
            header = rows.read_header()
        except InvalidUpload:  # an empty companion sheet adds nothing
            return None
        own = {header_key(column): column for column in header}
        main = {header_key(column): column for column in columns}
        key = next(
            (
                k
                for k in companion.keys
                if all(header_key(c) in own and header_key(c) in main for c in k)
            ),
            None,
        )
        wanted = [own[header_key(c)] for c in companion.columns if header_key(c) in own]
        if key is None or not wanted:
            return None
        join = cls(companion, [main[header_key(c)] for c in key], wanted)
        their_key = [own[header_key(c)] for c in key]
        try:
            for record in rows.records(header):
                join._add(tuple(_text(record.values.get(c)) for c in their_key), record.values)
        except InvalidUpload as exc:
            if exc.code != "no-records":
                raise
        return join if join._values else None

    def _add(self, key: tuple[str, ...], values: dict[str, Any]) -> None:
        lists = self._values.setdefault(key, [[] for _ in self._wanted])
        for items, column in zip(lists, self._wanted, strict=True):
            value = _text(values.get(column))
            if value and value not in items:
                items.append(value)

    def values(self, record: dict[str, Any]) -> dict[str, str]:
        lists = self._values.get(tuple(_text(record.get(c)) for c in self._key))
        if lists is None:
            return dict.fromkeys(self.names, "")
        return {name: "; ".join(items) for name, items in zip(self.names, lists, strict=True)}


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _joined(records: Iterator[ParsedRecord], joins: list[_Join]) -> Iterator[ParsedRecord]:
    for record in records:
        if record.values:  # a blank row stays blank
            for join in joins:
                record.values.update(join.values(record.values))
        yield record


def _closing(
    records: Iterator[ParsedRecord], resources: contextlib.ExitStack
) -> Iterator[ParsedRecord]:
    with resources:
        yield from records


def _worksheet(workbook: Any, name: str | None) -> Any:
    worksheets = workbook.worksheets
    if name is None:
        # A tool's known data sheet wherever it is (RVTools' vInfo need not come first).
        for known in default_sheets():
            found = [sheet for sheet in worksheets if sheet.title.casefold() == known.casefold()]
            if found:
                return found[0]
        # Hidden sheets typically hold lookup tables; the data is what the user sees.
        visible = [sheet for sheet in worksheets if sheet.sheet_state == "visible"]
        if visible or worksheets:
            return (visible or worksheets)[0]
        raise InvalidUpload("the workbook has no worksheet", code="empty-file")
    exact = [sheet for sheet in worksheets if sheet.title == name]
    # Excel itself compares sheet names without regard to case.
    folded = [sheet for sheet in worksheets if sheet.title.casefold() == name.casefold()]
    if exact or folded:
        return (exact or folded)[0]
    raise InvalidUpload(
        f"the workbook has no worksheet named {name[:_MAX_NAME_LENGTH]!r}",
        code="unknown-sheet",
        details={
            "sheet": name[:_MAX_NAME_LENGTH],
            "available": [sheet.title for sheet in worksheets],
        },
    )


class _SheetRows:
    """Rows as values, with the same rules as CSV wherever a worksheet allows them."""

    def __init__(self, worksheet: Any, limits: ParseLimits) -> None:
        self._limits = limits
        # The file's declared dimensions may be wrong or hostile (a million empty columns
        # to pad every row with): let each row be as wide as its last cell instead.
        worksheet.reset_dimensions()
        self._rows = worksheet.iter_rows(values_only=True)
        self._sheet_row = 0

    def read_header(self) -> list[str]:
        while (cells := self._next_row()) is not None:
            labels = [self._label(value, position) for position, value in enumerate(cells, 1)]
            if not is_blank(labels):
                break
        else:
            raise InvalidUpload("the worksheet is empty", code="empty-file")
        columns = [label.strip() for label in labels]
        check_labels(columns)
        return columns

    def records(self, columns: list[str]) -> Iterator[ParsedRecord]:
        width = len(columns)
        row_number = 0
        # As in CSV, empty rows at the end are dropped and those in between kept.
        held_blank_rows = 0
        while (cells := self._next_row()) is not None:
            if not cells:
                held_blank_rows += 1
                continue
            for _ in range(held_blank_rows):
                row_number = self._count_row(row_number)
                yield ParsedRecord(row_number, {}, None)
            held_blank_rows = 0
            row_number = self._count_row(row_number)
            values = [
                self._value(value, row_number, position) for position, value in enumerate(cells, 1)
            ]
            # Unlike CSV, a worksheet has no short rows: its empty cells are empty values.
            record = dict(zip(columns, values, strict=False))
            for column in columns[len(values) :]:
                record[column] = ""
            extra = values[width:] if len(values) > width else None
            yield ParsedRecord(row_number, record, extra)
        if row_number == 0:
            raise InvalidUpload("the worksheet has a header but no data rows", code="no-records")

    def _next_row(self) -> _Row | None:
        """The next row up to its last non-empty cell (so an empty row is empty)."""
        with malformed_workbook():
            row = next(self._rows, None)
        if row is None:
            return None
        self._sheet_row += 1
        limit = self._limits.max_columns
        # Rows run to the last cell in the file, which may be an empty formatted one: look
        # beyond the limit without a Python loop over every empty cell.
        if len(row) > limit:
            beyond = row[limit:]
            if beyond.count(None) != len(beyond):
                width = len(row) - next(
                    i for i, cell in enumerate(reversed(row)) if cell is not None
                )
                raise InvalidUpload(
                    f"row {self._sheet_row} of the worksheet has {width} columns;"
                    f" at most {limit} are allowed",
                    code="too-many-columns",
                    details={"sheet_row": self._sheet_row, "columns": width, "limit": limit},
                )
            row = row[:limit]
        end = len(row)
        while end and row[end - 1] is None:
            end -= 1
        return row[:end]

    def _label(self, value: Any, position: int) -> str:
        label = self._value(value, None, position)
        return label if isinstance(label, str) else str(label)

    def _value(self, value: Any, row_number: int | None, position: int) -> Any:
        """A cell's value as JSON can hold it: text, number, boolean or ISO 8601 text."""
        if value is None:
            return ""
        if isinstance(value, str):
            limit = self._limits.max_field_bytes
            if len(value) * 4 > limit and len(value.encode("utf-8", "surrogatepass")) > limit:
                raise InvalidUpload(
                    f"cell {self._cell(position)} is larger than {limit} bytes",
                    code="field-too-large",
                    details={**self._where(row_number, position), "limit": limit},
                )
            return value
        if isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidUpload(
                    f"cell {self._cell(position)} holds the number {value}, which cannot be stored",
                    code="invalid-number",
                    details=self._where(row_number, position),
                )
            return value
        if isinstance(value, datetime.datetime | datetime.date | datetime.time):
            return value.isoformat()
        if isinstance(value, datetime.timedelta):
            return _iso_duration(value)
        # Anything else openpyxl may grow to return, kept as the text it stands for.
        return str(value)

    def _count_row(self, row_number: int) -> int:
        if row_number >= self._limits.max_rows:
            raise InvalidUpload(
                f"the worksheet has more than {self._limits.max_rows} rows",
                code="too-many-rows",
                details={"limit": self._limits.max_rows},
            )
        return row_number + 1

    def _cell(self, position: int) -> str:
        return f"{get_column_letter(position)}{self._sheet_row}"

    def _where(self, row_number: int | None, position: int) -> dict[str, Any]:
        where: dict[str, Any] = {"cell": self._cell(position)}
        return where if row_number is None else {"row": row_number, **where}


def _iso_duration(delta: datetime.timedelta) -> str:
    """A duration cell ([h]:mm:ss) as ISO 8601, e.g. P1DT12H0M0S for 36 hours."""
    sign = "-" if delta < datetime.timedelta(0) else ""
    delta = abs(delta)
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = f".{delta.microseconds:06d}".rstrip("0") if delta.microseconds else ""
    return f"{sign}P{delta.days}DT{hours}H{minutes}M{seconds}{fraction}S"
