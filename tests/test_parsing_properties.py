"""Properties of the readers: no input escapes as an unexpected error, and files round-trip."""

import csv
import io
import json
import zipfile
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from importer.errors import ImporterError, InvalidUpload, UnsupportedMediaType
from importer.parsing import RecordSource, open_upload

BOM = b"\xef\xbb\xbf"
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def small_workbook() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["host", "cpu", "seen"])
    sheet.append(["web1", 4, 1.5])
    sheet.append([None, True, "x"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


WORKBOOK = small_workbook()


def read(source: RecordSource) -> list[tuple[int, dict[str, Any], list[Any] | None]]:
    return [(record.row_number, record.values, record.extra) for record in source.records()]


# Any bytes


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


WORKBOOK_MEMBERS = {
    info.filename: zipfile.ZipFile(io.BytesIO(WORKBOOK)).read(info)
    for info in zipfile.ZipFile(io.BytesIO(WORKBOOK)).infolist()
}
# Pieces of worksheet XML that take openpyxl and the cell conversion down unusual paths.
XML_PIECES = [
    b'<c r="XFD1"><v>1</v></c>', b'<c r="A1048576" t="n"><v>1e999</v></c>', b'<row r="9">',
    b"</row>", b'<c r="B2" t="b"><v>2</v></c>', b'<c r="C2" t="d"><v>2024-13-45</v></c>',
    b'<c r="D2" t="s"><v>99</v></c>', b'<c r="E2" t="e"><v>#N/A</v></c>', b"<v>NaN</v>",
    b'<dimension ref="A1:XFD1048576"/>', b'<c r="Z2" s="999"><v>45000</v></c>', b"&#0;",
    b'<c r="A2" t="inlineStr"><is><t>x</t></is></c>', b"<v>1" + b"0" * 5000 + b"</v>",
]  # fmt: skip


@st.composite
def mutated_workbooks(draw: st.DrawFn) -> bytes:
    """A small workbook with its bytes, or its worksheet's XML, changed here and there."""
    if draw(st.booleans()):
        data = bytearray(WORKBOOK)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    xml = WORKBOOK_MEMBERS["xl/worksheets/sheet1.xml"]
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(xml)))
        end = draw(st.integers(start, min(len(xml), start + 40)))
        piece = draw(st.sampled_from(XML_PIECES) | st.binary(max_size=20))
        xml = xml[:start] + piece + xml[end:]
    return zipped({**WORKBOOK_MEMBERS, "xl/worksheets/sheet1.xml": xml})


uploads = st.one_of(
    st.binary(max_size=2000),
    st.builds(
        bytes.__add__,
        st.sampled_from(
            [BOM, b"\xff\xfe", b"\xfe\xff", b"[", b"{", b'[{"a": ', b"a,b\n", b"a;b\r\n1;", b"PK"]
        ),
        st.binary(max_size=2000),
    ),
    st.text(max_size=500).map(lambda text: text.encode("utf-8", "surrogatepass")),
    mutated_workbooks(),
)


@PROPERTY_SETTINGS
@given(
    data=uploads,
    filename=st.sampled_from(["x.csv", "x.json", "x.ndjson", "x.xlsx", "x.txt", None]),
    encoding=st.sampled_from([None, None, "utf-8", "cp1252", "utf-16"]),
)
def test_any_bytes_give_records_or_a_client_error(
    data: bytes, filename: str | None, encoding: str | None
) -> None:
    try:
        read(open_upload(io.BytesIO(data), filename, None, encoding=encoding))
    except ImporterError as error:
        assert isinstance(error, InvalidUpload | UnsupportedMediaType)
        assert error.status in (415, 422)
        json.dumps(error.to_dict())


# CSV round trip

# No NUL (refused), no other control characters (a file of them looks binary), and no lone
# surrogates (which UTF-8 cannot encode).
TEXT = st.characters(exclude_categories=("Cs", "Cc"), include_characters="\t\r\n")


def labels(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=1, max_size=12).filter(lambda label: label == label.strip())


@st.composite
def csv_tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]], str, str, int]:
    delimiter = draw(st.sampled_from(",;\t|"))
    terminator = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    alphabet = TEXT
    if quoting == csv.QUOTE_MINIMAL and terminator != "\r\n":
        # Python 3.11's writer only quotes the line-ending characters of its own terminator.
        alphabet = st.characters(exclude_categories=("Cs", "Cc"), include_characters="\t")
    header = draw(st.lists(labels(alphabet), min_size=1, max_size=6, unique=True))
    width = len(header)
    rows = draw(
        st.lists(
            st.lists(st.text(alphabet, max_size=20), min_size=1, max_size=width + 2),
            min_size=1,
            max_size=15,
        )
    )
    return header, rows, delimiter, terminator, quoting


@PROPERTY_SETTINGS
@given(table=csv_tables(), bom=st.booleans())
def test_csv_round_trip(table: tuple[list[str], list[list[str]], str, str, int], bom: bool) -> None:
    header, rows, delimiter, terminator, quoting = table
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    data = (BOM if bom else b"") + buffer.getvalue().encode()

    source = open_upload(io.BytesIO(data), "table.csv", None, delimiter=delimiter)
    assert (source.format, source.encoding, source.delimiter) == (
        "csv",
        "utf-8-sig" if bom else "utf-8",
        delimiter,
    )
    assert source.columns == header
    width = len(header)
    assert read(source) == [
        (number, dict(zip(header, row, strict=False)), row[width:] or None)
        for number, row in enumerate(rows, 1)
    ]


# JSON and NDJSON round trips

JSON_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | JSON_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(JSON_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)
JSON_RECORDS = st.lists(st.dictionaries(JSON_TEXT, JSON_VALUES, max_size=6), min_size=1, max_size=8)


def expected_columns(records: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for record in records for key in record))


@PROPERTY_SETTINGS
@given(
    records=JSON_RECORDS,
    indent=st.sampled_from([None, 2, "\t"]),
    ensure_ascii=st.booleans(),
    bom=st.booleans(),
)
def test_json_round_trip(
    records: list[dict[str, Any]], indent: int | str | None, ensure_ascii: bool, bom: bool
) -> None:
    text = json.dumps(records, indent=indent, ensure_ascii=ensure_ascii)
    data = (BOM if bom else b"") + text.encode()
    source = open_upload(io.BytesIO(data), "records.json", None)
    assert source.format == "json"
    parsed = read(source)
    assert [values for _, values, _ in parsed] == records
    # Equal is not enough: 1, 1.0 and True compare equal.
    assert json.dumps([values for _, values, _ in parsed]) == json.dumps(records)
    assert [number for number, _, _ in parsed] == list(range(1, len(records) + 1))
    assert source.columns == expected_columns(records)


@PROPERTY_SETTINGS
@given(
    records=JSON_RECORDS,
    newline=st.sampled_from(["\n", "\r\n"]),
    ensure_ascii=st.booleans(),
    blank_lines=st.booleans(),
)
def test_ndjson_round_trip(
    records: list[dict[str, Any]], newline: str, ensure_ascii: bool, blank_lines: bool
) -> None:
    separator = newline * 2 if blank_lines else newline
    lines = [json.dumps(record, ensure_ascii=ensure_ascii) for record in records]
    data = (separator.join(lines) + newline).encode()
    source = open_upload(io.BytesIO(data), "records.ndjson", None)
    assert source.format == "ndjson"
    parsed = [values for _, values, _ in read(source)]
    assert json.dumps(parsed) == json.dumps(records)
    assert source.columns == expected_columns(records)
