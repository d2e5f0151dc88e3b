"""XLSX uploads: worksheets, cell values, limits and malformed or hostile workbooks."""

import datetime
import io
import struct
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openpyxl import Workbook
from openpyxl.styles import Font

from importer.errors import InvalidUpload, UnsupportedMediaType
from importer.parsing import ParseLimits, RecordSource, open_upload

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_XML = "xl/worksheets/sheet1.xml"


def workbook(rows: list[list[Any]], title: str = "Hosts", **more_sheets: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for name, sheet_rows in more_sheets.items():
        extra = book.create_sheet(name)
        for row in sheet_rows:
            extra.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rewritten(data: bytes, member: str, change: Callable[[bytes], bytes]) -> bytes:
    """The workbook with one zip member's bytes changed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            target.writestr(info.filename, change(content) if info.filename == member else content)
    return buffer.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def open_xlsx(data: bytes, limits: ParseLimits | None = None, **options: Any) -> RecordSource:
    return open_upload(
        io.BytesIO(data), "hosts.xlsx", XLSX_TYPE, limits or ParseLimits(), **options
    )


def rows(source: RecordSource) -> list[tuple[int, dict[str, Any], list[Any] | None]]:
    return [(record.row_number, record.values, record.extra) for record in source.records()]


def failure(action: Callable[[], object]) -> InvalidUpload:
    with pytest.raises(InvalidUpload) as caught:
        action()
    return caught.value


def read_failure(data: bytes, limits: ParseLimits | None = None, **options: Any) -> InvalidUpload:
    return failure(lambda: rows(open_xlsx(data, limits, **options)))


# Reading


def test_cells_become_json_values() -> None:
    data = workbook(
        [
            ["host", "cpu", "load", "active", "seen", "since", "at", "uptime", "note"],
            [
                "web1",
                4,
                0.75,
                True,
                datetime.datetime(2024, 3, 1, 12, 30, 5),
                datetime.date(2023, 12, 31),
                datetime.time(8, 15),
                datetime.timedelta(hours=36, seconds=1.5),
                None,
            ],
        ]
    )
    source = open_xlsx(data)
    assert (source.format, source.encoding, source.delimiter, source.sheet) == (
        "xlsx",
        None,
        None,
        "Hosts",
    )
    assert source.columns == [
        "host", "cpu", "load", "active", "seen", "since", "at", "uptime", "note"
    ]  # fmt: skip
    [(row_number, values, extra)] = rows(source)
    assert (row_number, extra) == (1, None)
    assert values == {
        "host": "web1",
        "cpu": 4,
        "load": 0.75,
        "active": True,
        "seen": "2024-03-01T12:30:05",
        # Excel stores dates as date-times.
        "since": "2023-12-31T00:00:00",
        "at": "08:15:00",
        "uptime": "P1DT12H0M1.5S",
        "note": "",
    }
    assert type(values["cpu"]) is int
    assert type(values["active"]) is bool


def test_the_header_is_the_first_non_empty_row_and_its_labels_are_stripped() -> None:
    data = workbook([[], [None, "  "], [" host ", 2024, "ip"], ["web1", "x", "10.0.0.1"]])
    source = open_xlsx(data)
    assert source.columns == ["host", "2024", "ip"]
    assert rows(source) == [(1, {"host": "web1", "2024": "x", "ip": "10.0.0.1"}, None)]


def test_empty_cells_are_empty_strings_and_cells_beyond_the_header_are_extra() -> None:
    data = workbook(
        [
            ["a", "b", "c"],
            ["1"],
            [None, None, "3"],
            ["1", "2", "3", None, 5, None, None],
            ["", " ", None],
        ]
    )
    assert rows(open_xlsx(data)) == [
        (1, {"a": "1", "b": "", "c": ""}, None),
        (2, {"a": "", "b": "", "c": "3"}, None),
        (3, {"a": "1", "b": "2", "c": "3"}, ["", 5]),
        (4, {"a": "", "b": " ", "c": ""}, None),
    ]


def test_empty_rows_inside_are_rows_but_empty_rows_at_the_end_are_not() -> None:
    data = workbook([["a"], [1], [], [None, None], [2], [], [None]])
    assert rows(open_xlsx(data)) == [
        (1, {"a": 1}, None),
        (2, {}, None),
        (3, {}, None),
        (4, {"a": 2}, None),
    ]


def test_an_empty_formatted_cell_far_right_is_not_a_column() -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["a", "b"])
    sheet.append([1, 2])
    sheet.cell(row=2, column=5000).font = Font(bold=True)
    sheet.cell(row=1, column=16384).font = Font(bold=True)
    buffer = io.BytesIO()
    book.save(buffer)
    source = open_xlsx(buffer.getvalue(), ParseLimits(max_columns=2))
    assert source.columns == ["a", "b"]
    assert rows(source) == [(1, {"a": 1, "b": 2}, None)]


def test_declared_dimensions_are_not_trusted() -> None:
    def claim_the_whole_sheet(xml: bytes) -> bytes:
        return xml.replace(b'<dimension ref="A1:B2"', b'<dimension ref="A1:XFD1048576"')

    data = rewritten(workbook([["a", "b"], [1, 2]]), SHEET_XML, claim_the_whole_sheet)
    assert b"XFD1048576" in zipfile.ZipFile(io.BytesIO(data)).read(SHEET_XML)
    assert rows(open_xlsx(data, ParseLimits(max_columns=2))) == [(1, {"a": 1, "b": 2}, None)]


def test_a_stream_that_cannot_seek_is_spooled() -> None:
    class OneWayStream(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:
            chunk = self._data.read(min(len(buffer), 1000))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    data = workbook([["a"], ["x"]])
    source = open_upload(OneWayStream(data), "hosts.xlsx", None)
    assert not OneWayStream(data).seekable()
    assert rows(source) == [(1, {"a": "x"}, None)]


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [("hosts.XLSX", None), ("export", XLSX_TYPE), ("export.dat", XLSX_TYPE + "; charset=binary")],
)
def test_xlsx_is_recognised_by_extension_or_content_type(
    filename: str, content_type: str | None
) -> None:
    source = open_upload(io.BytesIO(workbook([["a"], [1]])), filename, content_type)
    assert source.format == "xlsx"


def test_encoding_and_delimiter_are_checked_but_do_not_apply() -> None:
    data = workbook([["a"], [1]])
    assert rows(open_xlsx(data, encoding="cp1252", delimiter=";")) == [(1, {"a": 1}, None)]
    assert failure(lambda: open_xlsx(data, delimiter="::")).code == "invalid-delimiter"


# Worksheets


def test_the_first_visible_worksheet_is_read_by_default() -> None:
    book = Workbook()
    lookup = book.active
    lookup.title = "Lookup"
    lookup.append(["code"])
    lookup.append([1])
    lookup.sheet_state = "hidden"
    hosts = book.create_sheet("Hosts")
    hosts.append(["host"])
    hosts.append(["web1"])
    buffer = io.BytesIO()
    book.save(buffer)
    source = open_xlsx(buffer.getvalue())
    assert (source.sheet, source.columns) == ("Hosts", ["host"])
    assert open_xlsx(buffer.getvalue(), sheet="Lookup").columns == ["code"]


@pytest.mark.parametrize("name", ["Servers", "servers", "SERVERS"])
def test_a_worksheet_chosen_by_name(name: str) -> None:
    data = workbook([["host"], ["web1"]], Servers=[["server"], ["db1"]])
    source = open_xlsx(data, sheet=name)
    assert (source.sheet, source.columns) == ("Servers", ["server"])
    assert rows(source) == [(1, {"server": "db1"}, None)]


def test_an_unknown_worksheet_lists_the_available_ones() -> None:
    data = workbook([["host"], ["web1"]], Servers=[["server"]])
    error = failure(lambda: open_xlsx(data, sheet="Switches"))
    assert (error.code, error.status, error.details) == (
        "unknown-sheet",
        422,
        {"sheet": "Switches", "available": ["Hosts", "Servers"]},
    )


# Problems


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (["a", None, "b"], "blank-label"),
        (["a", " ", "b"], "blank-label"),
        (["a", " a"], "duplicate-label"),
    ],
)
def test_header_labels_follow_the_csv_rules(header: list[Any], code: str) -> None:
    assert failure(lambda: open_xlsx(workbook([header, [1, 2, 3]]))).code == code


@pytest.mark.parametrize("data_rows", [[], [[None], []]])
def test_a_header_without_rows_has_no_records(data_rows: list[list[Any]]) -> None:
    assert read_failure(workbook([["a"], *data_rows])).code == "no-records"


@pytest.mark.parametrize("data", [b"", workbook([]), workbook([[None, ""], []])])
def test_an_empty_file_or_worksheet(data: bytes) -> None:
    assert failure(lambda: open_xlsx(data)).code == "empty-file"


def test_limits_on_rows_columns_and_cells() -> None:
    data = workbook([["a", "b"], [1, 2], [], [3, 4]])
    error = read_failure(data, ParseLimits(max_rows=2))
    assert (error.code, error.details) == ("too-many-rows", {"limit": 2})

    error = read_failure(workbook([["a", "b"], [1, 2, 3]]), ParseLimits(max_columns=2))
    assert (error.code, error.details) == (
        "too-many-columns",
        {"sheet_row": 2, "columns": 3, "limit": 2},
    )
    assert failure(
        lambda: open_xlsx(workbook([["a", "b", "c"]]), ParseLimits(max_columns=2))
    ).code == ("too-many-columns")

    limits = ParseLimits(max_field_bytes=10)
    assert rows(open_xlsx(workbook([["a"], ["ééééé"]]), limits)) == [(1, {"a": "ééééé"}, None)]
    error = read_failure(workbook([["a", "b"], [1, "éééééé"]]), limits)
    assert (error.code, error.details) == ("field-too-large", {"row": 1, "cell": "B2", "limit": 10})
    error = failure(lambda: open_xlsx(workbook([["a", "b" * 11]]), limits))
    assert (error.code, error.details) == ("field-too-large", {"cell": "B1", "limit": 10})


def test_a_number_too_large_for_a_float_is_invalid() -> None:
    def overflow(xml: bytes) -> bytes:
        return xml.replace(b"<v>2</v>", b"<v>1e999</v>")

    data = rewritten(workbook([["a", "b"], [1, 2]]), SHEET_XML, overflow)
    error = read_failure(data)
    assert (error.code, error.details) == ("invalid-number", {"row": 1, "cell": "B2"})


@pytest.mark.parametrize(
    "data",
    [
        b"a,b\n1,2\n",
        b"PK\x03\x04" + b"\x00" * 100,
        workbook([["a"], [1]])[:-100],
        rewritten(workbook([["a"], [1]]), SHEET_XML, lambda xml: xml[: len(xml) // 2]),
        rewritten(workbook([["a"], [1]]), "xl/workbook.xml", lambda xml: b"<workbook>"),
        zip_of({"hosts.csv": b"a,b\n1,2\n"}),
    ],
    ids=["csv", "zip-header", "truncated", "broken-sheet-xml", "broken-workbook-xml", "zip"],
)
def test_a_malformed_workbook_is_invalid_xlsx(data: bytes) -> None:
    error = read_failure(data)
    assert (error.code, error.status) == ("invalid-xlsx", 422)
    assert error.details["reason"]


def test_a_workbook_without_worksheets_is_empty() -> None:
    data = rewritten(workbook([["a"], [1]]), "xl/workbook.xml", lambda xml: b"<workbook/>")
    error = failure(lambda: open_xlsx(data))
    assert (error.code, error.message) == ("empty-file", "the workbook has no worksheet")


def test_a_password_protected_or_legacy_workbook_says_so() -> None:
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    error = failure(lambda: open_xlsx(ole2))
    assert error.code == "invalid-xlsx"
    assert "password" in error.message


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [("hosts.xls", None), ("export", "application/vnd.ms-excel"), ("hosts.XLS", XLSX_TYPE)],
)
def test_legacy_xls_stays_unsupported_with_a_hint(filename: str, content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        open_upload(io.BytesIO(workbook([["a"], [1]])), filename, content_type)
    assert (caught.value.status, caught.value.code) == (415, "unsupported-media-type")
    assert ".xlsx or CSV" in caught.value.message


# Zip bombs


def with_declared_size(data: bytes, size: int) -> bytes:
    """The single-member zip ``data`` claiming ``size`` bytes once decompressed."""
    patched = bytearray(data)
    local = patched.index(b"PK\x03\x04")
    struct.pack_into("<I", patched, local + 22, size)
    central = patched.index(b"PK\x01\x02")
    struct.pack_into("<I", patched, central + 24, size)
    return bytes(patched)


def test_a_gigabyte_declared_is_refused_before_anything_is_decompressed() -> None:
    bomb = with_declared_size(zip_of({SHEET_XML: bytes(1 << 20)}), 1 << 30)
    assert zipfile.ZipFile(io.BytesIO(bomb)).getinfo(SHEET_XML).file_size == 1 << 30
    error = read_failure(bomb)
    assert (error.code, error.status) == ("zip-bomb", 422)
    assert error.details == {
        "reason": "uncompressed-size",
        "uncompressed_bytes": 1 << 30,
        "limit": 512 * 1024 * 1024,
    }


def test_a_member_that_expands_too_much_is_refused() -> None:
    bomb = zip_of({"[Content_Types].xml": b"<Types/>", SHEET_XML: bytes(64 << 20)})
    assert len(bomb) < 100_000
    error = read_failure(bomb)
    assert (error.code, error.details["reason"], error.details["member"]) == (
        "zip-bomb",
        "compression-ratio",
        SHEET_XML,
    )


def test_the_total_of_all_members_counts() -> None:
    members = {f"xl/media/image{i}.bin": bytes(range(256)) * 400 for i in range(10)}
    error = read_failure(zip_of(members), ParseLimits(max_xlsx_uncompressed_bytes=500_000))
    assert (error.code, error.details["uncompressed_bytes"]) == ("zip-bomb", 1_024_000)


def test_a_small_member_may_compress_well() -> None:
    data = workbook([["a"], *([["same text"]] * 2000)])
    assert len(rows(open_xlsx(data, ParseLimits(max_xlsx_compression_ratio=2)))) == 2000


def test_a_workbook_larger_than_the_limit_is_not_spooled_whole() -> None:
    reads = 0

    def chunks() -> Iterator[bytes]:
        nonlocal reads
        while True:
            reads += 1
            yield bytes(1 << 20)

    class Endless(io.RawIOBase):
        def __init__(self) -> None:
            self._chunks = chunks()

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:
            chunk = next(self._chunks)[: len(buffer)]
            buffer[: len(chunk)] = chunk
            return len(chunk)

    limits = ParseLimits(max_xlsx_uncompressed_bytes=3 << 20)
    error = failure(lambda: open_upload(Endless(), "big.xlsx", None, limits))
    assert (error.code, error.details) == ("xlsx-too-large", {"limit": 3 << 20})
    assert reads <= 5


VINFO = ["VM", "Powerstate", "VM ID", "VI SDK Server", "VI SDK UUID"]
VNETWORK = ["VM", "NIC label", "IPv4 Address", "VM ID", "VI SDK Server", "VI SDK UUID"]


def test_rvtools_vinfo_is_read_wherever_it_is_with_each_vms_nics_joined() -> None:
    data = workbook(
        [["RVTools version", "4.6.1"]],
        title="vMetaData",
        vNetwork=[
            VNETWORK,
            ["web-01", "Network adapter 1", "10.0.0.5", "vm-11", "vc01", "u-1"],
            ["web-01", "Network adapter 2", "10.9.0.5, 10.9.0.6", "vm-11", "vc01", "u-1"],
            # Another vCenter's VM of the same MoRef: not web-01's.
            ["app-07", "Network adapter 1", "172.16.0.9", "vm-11", "vc02", "u-2"],
        ],
        vInfo=[
            VINFO,
            ["web-01", "poweredOn", "vm-11", "vc01", "u-1"],
            ["db-01", "poweredOff", "vm-12", "vc01", "u-1"],
        ],
    )
    source = open_xlsx(data)
    assert source.sheet == "vInfo"
    assert source.columns == [*VINFO, "vNetwork: IPv4 Address"]
    assert [(values["VM"], values["vNetwork: IPv4 Address"]) for _, values, _ in rows(source)] == [
        ("web-01", "10.0.0.5; 10.9.0.5, 10.9.0.6"),
        ("db-01", ""),
    ]


def test_a_companion_sheet_without_the_key_or_rows_joins_nothing() -> None:
    data = workbook(
        [VINFO, ["web-01", "poweredOn", "vm-11", "vc01", "u-1"]],
        title="vInfo",
        vNetwork=[["NIC label", "IPv4 Address"], ["Network adapter 1", "10.0.0.5"]],
    )
    assert open_xlsx(data).columns == VINFO
    empty = workbook(
        [VINFO, ["web-01", "poweredOn", "vm-11", "vc01", "u-1"]], title="vInfo", vNetwork=[VNETWORK]
    )
    assert open_xlsx(empty).columns == VINFO
