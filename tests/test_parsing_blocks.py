"""The CSV reader reads 64K-character blocks: rows must not change where a block ends."""

from __future__ import annotations

import csv
import io

import pytest

from importer.parsing import open_upload
from importer.parsing.csv_reader import _PIECE_CHARS


def records(text: str) -> list[tuple[int, dict, list | None]]:
    source = open_upload(io.BytesIO(text.encode("utf-8")), "upload.csv", "text/csv")
    return [(r.row_number, r.values, r.extra) for r in source.records()]


def expected(text: str) -> list[tuple[int, dict, list | None]]:
    # io splits lines at \n, \r\n and a lone \r only, as the csv module expects them.
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    return [
        (number, dict(zip(header, row, strict=False)), row[len(header) :] or None)
        for number, row in enumerate(rows, 1)
    ]


def text_ending_at(boundary_text: str, shift: int, line_end: str) -> str:
    """Rows whose ``boundary_text`` starts ``shift`` characters before the first block's end."""
    header = "name,value" + line_end
    row = "host-0000,filler" + line_end
    target = _PIECE_CHARS - shift
    shortest_padding = len("pad,") + len(line_end)
    body = row * ((target - len(header) - shortest_padding) // len(row))
    filler = "p" * (target - len(header) - len(body) - shortest_padding)
    prefix = header + body + "pad," + filler + line_end
    assert len(prefix) == target
    return prefix + boundary_text + row * 3


@pytest.mark.parametrize("line_end", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("shift", range(0, 6))
def test_line_endings_across_the_block_end(line_end: str, shift: int) -> None:
    text = text_ending_at(f"x,y{line_end}", shift, line_end)
    assert records(text) == expected(text)


@pytest.mark.parametrize("shift", range(0, 12, 3))
def test_a_quoted_value_with_line_breaks_across_the_block_end(shift: int) -> None:
    value = '"first\r\nsecond\rthird\nfourth"'
    text = text_ending_at(f"q,{value}\r\n", shift, "\r\n")
    assert records(text) == expected(text)
    assert any(
        values.get("value") == "first\r\nsecond\rthird\nfourth" for _, values, _ in records(text)
    )


def test_other_unicode_line_breaks_are_data_not_line_ends() -> None:
    # str.splitlines() would end lines at these; CSV does not.
    odd = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
    # Plain rows first: a file starting with many control characters is taken for binary.
    plain = "plain,row\n" * 200
    odd_rows = "".join(f"h{i},a{c}b\n" for i, c in enumerate(odd))
    text = "name,value\n" + plain + odd_rows + "last,x\n"
    assert records(text) == expected(text)
    assert [values["value"] for _, values, _ in records(text)][200:-1] == [f"a{c}b" for c in odd]


def test_extra_cells_and_blank_lines_across_blocks() -> None:
    row = "h,1,extra\n\n"
    text = "name,value\n" + row * (3 * _PIECE_CHARS // len(row)) + "end,2\n"
    got = records(text)
    assert got[0] == (1, {"name": "h", "value": "1"}, ["extra"])
    assert got[1] == (2, {}, None)
    assert got[-1][1] == {"name": "end", "value": "2"}
    assert len(got) == 2 * (3 * _PIECE_CHARS // len(row)) + 1
