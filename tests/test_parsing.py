"""Unit tests for importer.parsing: format detection, CSV, JSON array, NDJSON, limits."""

import io
import json
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from importer.errors import InvalidUpload, UnsupportedMediaType
from importer.parsing import (
    ParsedRecord,
    ParseLimits,
    RecordSource,
    open_upload,
    records_from_objects,
)

BOM = b"\xef\xbb\xbf"
DEFAULT_LIMITS = ParseLimits()


class GeneratedStream(io.RawIOBase):
    """A non-seekable stream without peek() whose bytes come from a generator, in short reads."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        if not self._pending:
            self._pending = next(self._chunks, b"")
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def open_bytes(
    data: bytes,
    filename: str | None = "upload.csv",
    content_type: str | None = None,
    limits: ParseLimits = DEFAULT_LIMITS,
) -> RecordSource:
    return open_upload(io.BytesIO(data), filename, content_type, limits)


def rows(source: RecordSource) -> list[tuple[int, dict[str, Any], list[str] | None]]:
    return [(record.row_number, record.values, record.extra) for record in source.records()]


def parse(data: bytes, filename: str | None = "upload.csv", **kwargs: Any) -> list[tuple]:
    return rows(open_bytes(data, filename, **kwargs))


def failure(action: Callable[[], object]) -> InvalidUpload:
    with pytest.raises(InvalidUpload) as caught:
        action()
    return caught.value


def parse_failure(data: bytes, filename: str | None = "upload.csv", **kwargs: Any) -> InvalidUpload:
    return failure(lambda: parse(data, filename, **kwargs))


def read_failure(source: RecordSource) -> InvalidUpload:
    return failure(lambda: rows(source))


# Format detection


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("hosts.csv", b"a,b\n1,2\n", "csv"),
        ("hosts.TSV", b"a\tb\n1\t2\n", "csv"),
        ("hosts.txt", b"a;b\n1;2\n", "csv"),
        ("C:\\exports\\hosts.Csv", b"a,b\n1,2\n", "csv"),
        ("hosts.json", b' \n [{"a": "1", "b": "2"}]', "json"),
        ("hosts.json", b'{"a": "1", "b": "2"}\n', "ndjson"),
        ("hosts.ndjson", b'{"a": "1", "b": "2"}\n', "ndjson"),
        ("hosts.jsonl", b'{"a": "1", "b": "2"}\n', "ndjson"),
    ],
)
def test_format_follows_the_extension(filename: str, data: bytes, expected: str) -> None:
    source = open_bytes(data, filename, "application/octet-stream")
    assert source.format == expected
    assert rows(source) == [(1, {"a": "1", "b": "2"}, None)]


@pytest.mark.parametrize(
    ("content_type", "data", "expected"),
    [
        ("text/csv", b"a,b\n1,2\n", "csv"),
        ("text/csv; charset=utf-8", b"a,b\n1,2\n", "csv"),
        ("text/tab-separated-values", b"a\tb\n1\t2\n", "csv"),
        ("application/json", b'[{"a": "1", "b": "2"}]', "json"),
        ("Application/JSON; charset=UTF-8", b'{"a": "1", "b": "2"}', "ndjson"),
        ("application/x-ndjson", b'{"a": "1", "b": "2"}\n', "ndjson"),
        ("application/jsonl", b'{"a": "1", "b": "2"}\n', "ndjson"),
        ("text/plain", b'[{"a": "1", "b": "2"}]', "json"),
        ("application/octet-stream", b'\n{"a": "1", "b": "2"}\n', "ndjson"),
        (None, b"a|b\n1|2\n", "csv"),
    ],
)
def test_without_a_known_extension_the_content_type_then_the_content_decide(
    content_type: str | None, data: bytes, expected: str
) -> None:
    for filename in (None, "", "export", "export.dat"):
        source = open_bytes(data, filename, content_type)
        assert source.format == expected
        assert rows(source) == [(1, {"a": "1", "b": "2"}, None)]


def test_the_extension_wins_over_the_content_type() -> None:
    source = open_bytes(b"a,b\n1,2\n", "hosts.csv", "application/vnd.ms-excel")
    assert source.format == "csv"


@pytest.mark.parametrize(
    ("filename", "content_type", "data"),
    [
        ("hosts.xlsm", "text/csv", b"a,b\n1,2\n"),
        ("hosts.xls", None, b"a,b\n1,2\n"),
        ("report.PDF", None, b"%PDF-1.7\n"),
        ("export.zip", "application/zip", b"PK\x03\x04"),
        ("setup.exe", None, b"MZ\x90\x00"),
        ("logo.png", None, b"\x89PNG\r\n\x1a\n\x00\x00"),
        (None, "image/png", b"\x89PNG\r\n\x1a\n\x00\x00"),
        ("export.dat", "application/vnd.ms-excel", b"a,b\n"),
        ("hosts.csv", "text/csv", b"a,b\n1,2\x00\x00\x00\n"),
        (None, "application/octet-stream", b"PK\x03\x04\x14\x00\x06\x00"),
        (None, None, b"\x01\x02\x03 not \xc3 utf-8 \xff\xfe"),
    ],
)
def test_unsupported_types_and_binary_content_are_refused(
    filename: str | None, content_type: str | None, data: bytes
) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        open_bytes(data, filename, content_type)
    assert caught.value.status == 415
    assert caught.value.code == "unsupported-media-type"
    assert caught.value.details == {"filename": filename, "content_type": content_type}


def test_a_stream_without_peek_is_read_from_its_first_byte() -> None:
    chunks = iter([b"ho", b"st,i", b"p\nweb", b"1,10.0.0.1\n", b"web2,10.0.0.2\n"])
    source = open_upload(GeneratedStream(chunks), None, None)
    assert source.columns == ["host", "ip"]
    assert rows(source) == [
        (1, {"host": "web1", "ip": "10.0.0.1"}, None),
        (2, {"host": "web2", "ip": "10.0.0.2"}, None),
    ]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_files_with_a_bom_are_decoded(codec: str) -> None:
    source = open_bytes("\ufeffhôte;ip\nwéb1;10.0.0.1\n".encode(codec), "hosts.csv")
    assert (source.encoding, source.delimiter, source.columns) == ("utf-16", ";", ["hôte", "ip"])
    assert rows(source) == [(1, {"hôte": "wéb1", "ip": "10.0.0.1"}, None)]


def test_records_can_be_read_only_once() -> None:
    source = open_bytes(b"a\n1\n")
    assert len(list(source.records())) == 1
    with pytest.raises(RuntimeError):
        source.records()


# CSV: dialect and layout


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_detected(delimiter: str) -> None:
    text = delimiter.join(["host", "ip", "os"]) + "\n"
    text += delimiter.join(["web1", "10.0.0.1", "linux"]) + "\n"
    text += delimiter.join(["db1", "10.0.0.2", ""]) + "\n"
    source = open_bytes(text.encode())
    assert source.delimiter == delimiter
    assert source.columns == ["host", "ip", "os"]
    assert rows(source) == [
        (1, {"host": "web1", "ip": "10.0.0.1", "os": "linux"}, None),
        (2, {"host": "db1", "ip": "10.0.0.2", "os": ""}, None),
    ]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_quoted_delimiters_quotes_and_newlines_survive(delimiter: str) -> None:
    others = "".join(d for d in ",;\t|" if d != delimiter)
    value = f'a{delimiter}b "quoted"{others}\nsecond line\r\nthird'
    quoted = '"' + value.replace('"', '""') + '"'
    text = f"name{delimiter}note\nweb1{delimiter}{quoted}\ndb1{delimiter}plain\n"
    source = open_bytes(text.encode())
    assert source.delimiter == delimiter
    assert rows(source) == [
        (1, {"name": "web1", "note": value}, None),
        (2, {"name": "db1", "note": "plain"}, None),
    ]


def test_commas_in_tab_separated_values_do_not_fool_the_detection() -> None:
    lines = ["host\tdescription"] + [f"web{i}\tweb server, rack {i}, row 2" for i in range(20)]
    source = open_bytes("\n".join(lines).encode(), "hosts.txt")
    assert source.delimiter == "\t"
    assert rows(source)[0] == (
        1,
        {"host": "web0", "description": "web server, rack 0, row 2"},
        None,
    )


def test_a_single_column_file_uses_a_comma() -> None:
    source = open_bytes(b"hostname\nweb1\nweb2\n")
    assert (source.delimiter, source.columns) == (",", ["hostname"])
    assert rows(source) == [(1, {"hostname": "web1"}, None), (2, {"hostname": "web2"}, None)]


def test_a_delimiter_only_in_quotes_does_not_count() -> None:
    source = open_bytes(b'"name;alias",ip\n"web;1",10.0.0.1\n')
    assert source.delimiter == ","
    assert rows(source) == [(1, {"name;alias": "web;1", "ip": "10.0.0.1"}, None)]


@pytest.mark.parametrize(("data", "encoding"), [(b"", "utf-8"), (BOM, "utf-8-sig")])
def test_a_bom_is_dropped_and_reported(data: bytes, encoding: str) -> None:
    source = open_bytes(data + "hôte,ip\nwéb1,10.0.0.1\n".encode())
    assert source.encoding == encoding
    assert source.columns == ["hôte", "ip"]
    assert rows(source) == [(1, {"hôte": "wéb1", "ip": "10.0.0.1"}, None)]


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_line_endings(newline: str) -> None:
    text = newline.join(["a,b", "1,2", '3,"x' + newline + 'y"', "5,6"]) + newline
    assert parse(text.encode()) == [
        (1, {"a": "1", "b": "2"}, None),
        (2, {"a": "3", "b": "x" + newline + "y"}, None),
        (3, {"a": "5", "b": "6"}, None),
    ]


def test_the_last_line_needs_no_line_ending() -> None:
    assert parse(b"a,b\n1,2") == [(1, {"a": "1", "b": "2"}, None)]


def test_missing_cells_are_absent_and_extra_cells_are_kept_apart() -> None:
    assert parse(b"a,b,c\n1\n1,2\n1,2,3,4,\n,,\n") == [
        (1, {"a": "1"}, None),
        (2, {"a": "1", "b": "2"}, None),
        (3, {"a": "1", "b": "2", "c": "3"}, ["4", ""]),
        (4, {"a": "", "b": "", "c": ""}, None),
    ]


def test_blank_lines_inside_are_rows_but_blank_lines_at_the_end_are_not() -> None:
    assert parse(b"\n\na,b\n1,2\n\n\n3,4\n\r\n\n\n") == [
        (1, {"a": "1", "b": "2"}, None),
        (2, {}, None),
        (3, {}, None),
        (4, {"a": "3", "b": "4"}, None),
    ]


def test_header_names_are_stripped_but_values_are_not() -> None:
    source = open_bytes(" host ,ip  ,\u00a0os \n web1 , 10.0.0.1 , \n".encode())
    assert source.columns == ["host", "ip", "os"]
    assert rows(source) == [(1, {"host": " web1 ", "ip": " 10.0.0.1 ", "os": " "}, None)]


def test_labels_differing_only_in_case_are_distinct() -> None:
    assert open_bytes(b"Name,name\n1,2\n").columns == ["Name", "name"]


# CSV: problems


@pytest.mark.parametrize(
    ("header", "positions"), [(b"a,,b", [2]), (b" ,a, \t", [1, 3]), (b'a,"  ",b', [2])]
)
def test_blank_labels(header: bytes, positions: list[int]) -> None:
    error = failure(lambda: open_bytes(header + b"\n1,2,3\n"))
    assert (error.code, error.details) == ("blank-label", {"positions": positions})


def test_duplicate_labels_name_their_positions() -> None:
    error = failure(lambda: open_bytes(b"ip,host, ip,os,host\n"))
    assert error.code == "duplicate-label"
    assert error.details == {
        "duplicates": [{"label": "ip", "positions": [1, 3]}, {"label": "host", "positions": [2, 5]}]
    }


def test_too_many_columns_in_the_header_or_a_row() -> None:
    limits = ParseLimits(max_columns=3)
    error = failure(lambda: open_bytes(b"a,b,c,d\n1,2,3,4\n", limits=limits))
    assert (error.code, error.details["columns"], error.details["limit"]) == (
        "too-many-columns",
        4,
        3,
    )
    source = open_bytes(b"a,b,c\n1,2,3\n1,2,3,4\n", limits=limits)
    error = read_failure(source)
    assert (error.code, error.details["row"], error.details["line"]) == ("too-many-columns", 2, 3)


@pytest.mark.parametrize(
    "data", [b"", BOM, b"   ", b"\n\n\r\n", BOM + b" \t\n \n", b"\n" * 100_000, b",,\n\t\n"]
)
def test_empty_files(data: bytes) -> None:
    error = failure(lambda: open_bytes(data))
    assert (error.code, error.status) == ("empty-file", 422)


@pytest.mark.parametrize("data", [b"a,b\n", b"a,b", b"a,b\n\n\n", b"\xef\xbb\xbfa,b\r\n\r\n"])
def test_a_header_without_rows_has_no_records(data: bytes) -> None:
    source = open_bytes(data)
    assert source.columns == ["a", "b"]
    assert read_failure(source).code == "no-records"


def test_an_unterminated_quote_names_the_line_it_opens_on() -> None:
    source = open_bytes(b'a,b\n1,2\n3,"never closed\n4,5\n6,7\n')
    records = source.records()
    assert next(records).values == {"a": "1", "b": "2"}
    error = failure(lambda: next(records))
    assert (error.code, error.details) == ("unterminated-quote", {"line": 3})


def test_an_unterminated_quote_in_the_header_fails_at_open() -> None:
    error = failure(lambda: open_bytes(b'a,"b\n1,2\n'))
    assert (error.code, error.details) == ("unterminated-quote", {"line": 1})


def test_malformed_quoting_names_the_line() -> None:
    error = parse_failure(b'a,b\n1,2\n3,"x"y\n')
    assert (error.code, error.details) == ("malformed-csv", {"line": 3})


def test_a_field_is_measured_in_utf8_bytes() -> None:
    limits = ParseLimits(max_field_bytes=10)
    assert parse("a,b\n1,ééééé\n".encode(), limits=limits) == [(1, {"a": "1", "b": "ééééé"}, None)]
    error = parse_failure("a,b\n1,2\n3,éééééé\n".encode(), limits=limits)
    assert error.code == "field-too-large"
    assert error.details == {"row": 2, "line": 3, "position": 2, "column": "b", "limit": 10}


def test_an_oversized_label_or_extra_cell_is_too_large() -> None:
    limits = ParseLimits(max_field_bytes=4)
    assert failure(lambda: open_bytes(b"abcde,b\n", limits=limits)).code == "field-too-large"
    error = parse_failure(b"a\n1,12345\n", limits=limits)
    assert (error.code, error.details["position"]) == ("field-too-large", 2)
    assert "column" not in error.details


def test_a_huge_quoted_field_is_too_large_at_the_default_limit() -> None:
    data = b'a,b\n1,"' + b"x" * 1_100_000 + b'"\n2,3\n'
    error = parse_failure(data)
    assert (error.code, error.details["line"]) == ("field-too-large", 2)


def test_nul_characters_in_values_are_rejected() -> None:
    # NUL bytes at the very start would mark the file as binary, so start past them.
    padding = b"".join(b"%d,padding\n" % i for i in range(1000))
    source = open_bytes(b"a,b\n" + padding + b"1,x\x00y\n")
    error = read_failure(source)
    assert (error.code, error.details) == ("nul-byte", {"line": 1002})


def test_invalid_utf8_at_the_start_fails_at_open_when_utf8_is_declared() -> None:
    data = b"host,ip\nw\xe9b1,10.0.0.1\n"
    error = failure(lambda: open_upload(io.BytesIO(data), "x.csv", None, encoding="utf-8"))
    assert (error.code, error.details) == (
        "invalid-encoding",
        {"byte_offset": 9, "encoding": "utf-8"},
    )


def test_invalid_utf8_later_fails_while_reading_with_its_byte_offset() -> None:
    head = "hôte,ip\n".encode() + b"".join(b"web%d,10.0.0.1\n" % i for i in range(20_000))
    data = head + b"bad\xc3(,10.0.0.2\n" + b"web,10.0.0.3\n"
    source = open_bytes(BOM + data)
    error = read_failure(source)
    assert (error.code, error.details) == (
        "invalid-encoding",
        {"byte_offset": 3 + len(head) + 3, "encoding": "utf-8-sig"},
    )


def test_a_character_cut_off_at_the_end_is_invalid_utf8() -> None:
    data = b"a,b\n1," + "é".encode()[:1]
    error = failure(lambda: open_upload(io.BytesIO(data), "x.csv", None, encoding="UTF8"))
    assert error.details == {"byte_offset": 6, "encoding": "utf-8"}


def test_too_many_rows_counts_blank_rows() -> None:
    limits = ParseLimits(max_rows=2)
    assert len(parse(b"a\n1\n2\n\n\n", limits=limits)) == 2
    source = open_bytes(b"a\n1\n\n2\n", limits=limits)
    records = source.records()
    assert [record.row_number for record in (next(records), next(records))] == [1, 2]
    error = failure(lambda: next(records))
    assert (error.code, error.details) == ("too-many-rows", {"limit": 2})


def test_a_large_csv_is_streamed() -> None:
    row_count = 200_000
    smallest_row = b'0000000,host-0000000.example.com,10.0.0.0,"Rack 0, row 0",' + b"x" * 60 + b"\n"

    def generate() -> Iterator[bytes]:
        yield b"id,host,ip,location,notes\n"
        for start in range(0, row_count, 1000):
            yield b"".join(
                b'%07d,host-%07d.example.com,10.0.%d.%d,"Rack %d, row %d",%s\n'
                % (i, i, i // 256 % 256, i % 256, i % 40, i % 7, b"x" * 60)
                for i in range(start, start + 1000)
            )

    threshold = 20 * 1024 * 1024
    assert row_count * len(smallest_row) > threshold  # holding the upload would break the bound
    tracemalloc.start()
    try:
        source = open_upload(GeneratedStream(generate()), "big.csv", "text/csv")
        count = 0
        last: ParsedRecord | None = None
        for record in source.records():
            count += 1
            last = record
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == row_count
    assert last is not None
    assert last.row_number == row_count
    assert last.values == {
        "id": "0199999",
        "host": "host-0199999.example.com",
        "ip": "10.0.13.63",
        "location": "Rack 39, row 2",
        "notes": "x" * 60,
    }
    assert peak < threshold


# JSON array


def test_a_json_array_keeps_values_as_parsed() -> None:
    data = json.dumps(
        [
            {"host": "web1", "cpu": 4, "mem": 16.5, "tags": ["a", {"b": None}], "on": True},
            {"host": "db1", "serial": 123456789012345678901234567890, "note": "é\ud83d\ude00"},
            {},
        ]
    ).encode()
    source = open_bytes(BOM + data, "hosts.json")
    assert (source.format, source.encoding, source.delimiter) == ("json", "utf-8-sig", None)
    records = rows(source)
    assert records == [
        (1, {"host": "web1", "cpu": 4, "mem": 16.5, "tags": ["a", {"b": None}], "on": True}, None),
        (2, {"host": "db1", "serial": 123456789012345678901234567890, "note": "é😀"}, None),
        (3, {}, None),
    ]
    assert type(records[0][1]["cpu"]) is int
    assert type(records[0][1]["mem"]) is float
    assert source.columns == ["host", "cpu", "mem", "tags", "on", "serial", "note"]


def test_json_columns_grow_while_reading() -> None:
    source = open_bytes(b'[{"b": 1, "a": 2}, {"c": 3, "a": 4}]', "x.json")
    assert source.columns == []
    records = source.records()
    next(records)
    assert source.columns == ["b", "a"]
    next(records)
    assert source.columns == ["b", "a", "c"]


def test_a_pretty_printed_array_with_elements_across_chunk_boundaries() -> None:
    objects = [{"id": i, "blob": "x" * (i * 7919 % 5000), "n": i * 1.5} for i in range(300)]
    objects.append({"id": 300, "blob": "y" * 200_000, "n": 1})
    objects.append({"id": 301, "blob": "z", "n": -12345678901234567890})
    source = open_bytes(json.dumps(objects, indent=2).encode(), "big.json")
    assert [values for _, values, _ in rows(source)] == objects


def test_a_number_cut_by_a_chunk_boundary_is_not_truncated() -> None:
    head = '[{"pad": "'
    tail = '"}, {"n": '
    padding = "p" * (64 * 1024 - len(head) - len(tail) - 3)
    data = f"{head}{padding}{tail}123456789}}]".encode()
    assert data.index(b"123456789") == 64 * 1024 - 3
    assert parse(data, "x.json")[1] == (2, {"n": 123456789}, None)


@pytest.mark.parametrize("data", [b"[]", b" [ \n ] \n", BOM + b"[]"])
def test_an_empty_array_has_no_records(data: bytes) -> None:
    assert parse_failure(data, "x.json").code == "no-records"


@pytest.mark.parametrize("data", [b"", b" \n\t ", BOM, BOM + b"\n"])
@pytest.mark.parametrize("filename", ["x.json", "x.ndjson"])
def test_an_empty_json_file(data: bytes, filename: str) -> None:
    assert failure(lambda: open_bytes(data, filename)).code == "empty-file"


@pytest.mark.parametrize("data", [b'"hosts"', b"42", b"null", b"hosts", b" " * 70_000 + b"1"])
def test_the_top_level_must_be_an_array(data: bytes) -> None:
    error = failure(lambda: open_bytes(data, "x.json"))
    assert error.code == "invalid-json"
    assert "expected a JSON array of objects" in error.message


@pytest.mark.parametrize(
    ("element", "found"),
    [(b'"web1"', "string"), (b"[1]", "array"), (b"null", "null"), (b"3.5", "number")],
)
def test_an_element_that_is_not_an_object(element: bytes, found: str) -> None:
    error = parse_failure(b'[{"a": 1}, ' + element + b"]", "x.json")
    assert (error.code, error.details) == ("invalid-record", {"row": 2, "type": found})


@pytest.mark.parametrize(
    ("data", "line", "char_offset"),
    [
        (b'[{"a": 1},\n {"a" 2}]', 2, 17),
        (b'[{"a": 1},\n {"a": 2},\n]', 3, 22),
        (b'[{"a": 1}\n {"a": 2}]', 2, 11),
        (b'[{"a": 1}, {"a": tru}]', 1, 17),
        (b'[{"a": 1}, {"a": "x', 1, 17),
        (b'[{"a": 1}, {"a": 2}', 1, 19),
        (b'[{"a": 1}]\n[{"a": 2}]', 2, 11),
        (b'[{"a": "tab\there"}]', 1, 11),
    ],
)
def test_malformed_json_reports_where(data: bytes, line: int, char_offset: int) -> None:
    error = parse_failure(data, "x.json")
    assert error.code == "invalid-json"
    assert (error.details["line"], error.details["char_offset"]) == (line, char_offset)


def test_invalid_utf8_in_json() -> None:
    data = b'[{"a": "' + b"x" * 100_000 + b'\xff"}]'
    error = parse_failure(data, "x.json")
    assert (error.code, error.details) == (
        "invalid-encoding",
        {"byte_offset": 100_008, "encoding": "utf-8"},
    )


def test_invalid_utf8_in_ndjson_past_the_first_chunk() -> None:
    head = b'{"a": "x"}\n' * 10_000
    error = parse_failure(head + b'{"a": "\xc3("}\n', "x.ndjson")
    assert (error.code, error.details) == (
        "invalid-encoding",
        {"byte_offset": len(head) + 7, "encoding": "utf-8"},
    )


def test_json_of_only_whitespace_is_empty() -> None:
    assert failure(lambda: open_bytes(b" \n" * 50_000, "x.json")).code == "empty-file"


def test_an_unterminated_string_stops_at_the_size_limit() -> None:
    data = b'[{"a": 1}, {"a": "' + b"x" * 1_000_000
    error = parse_failure(data, "x.json", limits=ParseLimits(max_field_bytes=1000))
    assert (error.code, error.details["row"]) == ("field-too-large", 2)


def deeply_nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("depth", [33, 500, 10_000])
def test_deep_nesting_fails_cleanly(depth: int) -> None:
    error = parse_failure(b"[" + deeply_nested(depth) + b"]", "x.json")
    assert (error.code, error.details["row"]) == ("nesting-too-deep", 1)
    error = parse_failure(b'[{"a": ' + b"[" * depth + b"]" * depth + b"}]", "x.json")
    assert error.code == "nesting-too-deep"
    error = parse_failure(b'{"a": 1}\n' + deeply_nested(depth) + b"\n", "x.ndjson")
    assert (error.code, error.details["row"], error.details["line"]) == ("nesting-too-deep", 2, 2)


def test_nesting_is_counted_from_the_record() -> None:
    limits = ParseLimits(max_nesting=3)
    ok = b'[{"a": {"b": {"c": 1}, "l": [1]}}]'
    assert parse(ok, "x.json", limits=limits)[0][1] == {"a": {"b": {"c": 1}, "l": [1]}}
    error = parse_failure(b'[{"a": {"b": {"c": []}}}]', "x.json", limits=limits)
    assert (error.code, error.details) == (
        "nesting-too-deep",
        {"row": 1, "path": "a.b.c", "limit": 3},
    )


@pytest.mark.parametrize(
    ("record", "path"),
    [
        (rb'{"a": "\ud800"}', "a"),
        (rb'{"a": "x\udfff"}', "a"),
        (rb'{"a": "\ud800\u0041"}', "a"),
        (rb'{"\udc00": 1}', r"\udc00"),
        (rb'{"a": [1, {"b": "\uDBFF"}]}', "a[1].b"),
    ],
)
def test_lone_surrogates_are_invalid_unicode(record: bytes, path: str) -> None:
    error = parse_failure(b"[" + record + b"]", "x.json")
    assert (error.code, error.details) == ("invalid-unicode", {"row": 1, "path": path})
    error = parse_failure(record + b"\n", "x.ndjson")
    assert (error.code, error.details) == ("invalid-unicode", {"row": 1, "line": 1, "path": path})


@pytest.mark.parametrize(
    ("record", "path"),
    [
        (rb'{"a": "x\u0000y"}', "a"),
        (rb'{"a\u0000": 1}', r"a\u0000"),
        (rb'{"a": {"b": ["\u0000"]}}', "a.b[0]"),
    ],
)
def test_nul_characters_are_rejected(record: bytes, path: str) -> None:
    error = parse_failure(b"[" + record + b"]", "x.json")
    assert (error.code, error.details) == ("nul-byte", {"row": 1, "path": path})
    error = parse_failure(record, "x.ndjson")
    assert (error.code, error.details) == ("nul-byte", {"row": 1, "line": 1, "path": path})


def test_an_escaped_backslash_before_u0000_is_just_text() -> None:
    assert parse(rb'[{"a": "\\u0000 \\ud800"}]', "x.json") == [(1, {"a": r"\u0000 \ud800"}, None)]


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-2.5E+999"])
def test_numbers_jsonb_cannot_store(number: bytes) -> None:
    error = parse_failure(b'[{"a": 1}, {"a": ' + number + b"}]", "x.json")
    assert (error.code, error.details["row"]) == ("invalid-number", 2)
    assert parse_failure(b'{"a": ' + number + b"}", "x.ndjson").code == "invalid-number"


def test_json_strings_are_measured_in_utf8_bytes() -> None:
    limits = ParseLimits(max_field_bytes=10)
    assert parse('[{"a": "ééééé"}]'.encode(), "x.json", limits=limits)[0][1] == {"a": "ééééé"}
    error = parse_failure('[{"a": "é"}, {"a": ["ok", "éééééé"]}]'.encode(), "x.json", limits=limits)
    assert (error.code, error.details) == (
        "field-too-large",
        {"row": 2, "path": "a[1]", "limit": 10},
    )
    error = parse_failure(b'{"' + b"k" * 11 + b'": 1}', "x.ndjson", limits=limits)
    assert error.code == "field-too-large"


def test_json_limits_on_rows_and_columns() -> None:
    data = b'[{"a": 1}, {"b": 2}, {"a": 3, "c": 4}]'
    error = parse_failure(data, "x.json", limits=ParseLimits(max_rows=2))
    assert (error.code, error.details) == ("too-many-rows", {"limit": 2})
    error = parse_failure(data, "x.json", limits=ParseLimits(max_columns=2))
    assert (error.code, error.details) == (
        "too-many-columns",
        {"row": 3, "columns": 3, "limit": 2},
    )


def test_a_large_json_array_is_streamed() -> None:
    record_count = 100_000
    pad = b"x" * 250

    def generate() -> Iterator[bytes]:
        yield b"[\n"
        for start in range(0, record_count, 1000):
            yield b"".join(
                b'%s{"id": %d, "host": "host-%d.example.com", "tags": ["a", "b"], "pad": "%s"}'
                % (b",\n" if i else b"", i, i, pad)
                for i in range(start, start + 1000)
            )
        yield b"\n]\n"

    threshold = 20 * 1024 * 1024
    assert record_count * len(pad) > threshold  # holding the upload would break the bound
    tracemalloc.start()
    try:
        source = open_upload(GeneratedStream(generate()), "big.json", None)
        count = sum(1 for _ in source.records())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == record_count
    assert source.columns == ["id", "host", "tags", "pad"]
    assert peak < threshold


# NDJSON


def test_ndjson_skips_blank_lines_and_numbers_records() -> None:
    data = b'\n{"a": 1}\r\n\r\n  \n{"b": [2, 3]}\n{}\n\n'
    source = open_bytes(BOM + data, "x.ndjson")
    assert (source.format, source.encoding, source.delimiter) == ("ndjson", "utf-8-sig", None)
    assert rows(source) == [(1, {"a": 1}, None), (2, {"b": [2, 3]}, None), (3, {}, None)]
    assert source.columns == ["a", "b"]


def test_ndjson_errors_name_the_line() -> None:
    error = parse_failure(b'{"a": 1}\n\n{"a": 2,}\n', "x.ndjson")
    assert error.code == "invalid-json"
    assert (error.details["row"], error.details["line"]) == (2, 3)
    error = parse_failure(b'{"a": 1}\n\n[{"a": 2}]\n', "x.ndjson")
    assert (error.code, error.details) == ("invalid-record", {"row": 2, "line": 3, "type": "array"})
    error = parse_failure(b'{"a": 1}\n"a"\n', "x.ndjson")
    assert (error.code, error.details["type"]) == ("invalid-record", "string")


def test_a_pretty_printed_object_is_not_ndjson() -> None:
    error = parse_failure(b'{\n  "records": []\n}\n', "x.json")
    assert (error.code, error.details["line"]) == ("invalid-json", 1)


def test_ndjson_of_blank_lines_is_empty() -> None:
    assert failure(lambda: open_bytes(b"\n \r\n\t\n", "x.ndjson")).code == "empty-file"


def test_ndjson_limits() -> None:
    data = b'{"a": 1}\n{"b": 2}\n{"c": 3}\n'
    assert parse_failure(data, "x.ndjson", limits=ParseLimits(max_rows=2)).code == "too-many-rows"
    error = parse_failure(data, "x.ndjson", limits=ParseLimits(max_columns=2))
    assert (error.code, error.details["line"]) == ("too-many-columns", 3)


# Records already decoded from a request body


def test_records_from_objects() -> None:
    objects = [{"host": "web1", "cpu": 4}, {}, {"os": "linux", "host": "db1"}]
    source = records_from_objects(objects)
    assert (source.format, source.encoding, source.delimiter) == ("json", "utf-8", None)
    assert rows(source) == [(1, objects[0], None), (2, {}, None), (3, objects[2], None)]
    assert source.columns == ["host", "cpu", "os"]


@pytest.mark.parametrize("objects", [{"records": []}, "x", None, ({"a": 1},)])
def test_records_from_objects_needs_a_list(objects: Any) -> None:
    error = failure(lambda: records_from_objects(objects))
    assert error.code == "invalid-json"


def test_records_from_objects_checks_like_a_file() -> None:
    def code(objects: Any, limits: ParseLimits = DEFAULT_LIMITS) -> str:
        return failure(lambda: rows(records_from_objects(objects, limits))).code

    deep: dict[str, Any] = {}
    for _ in range(10_000):
        deep = {"a": deep}
    assert code([{"a": 1}, ["b"]]) == "invalid-record"
    assert code([{"a": "x\x00"}]) == "nul-byte"
    assert code([{"a": ["\ud800"]}]) == "invalid-unicode"
    assert code([{"a": "é" * 6}], ParseLimits(max_field_bytes=10)) == "field-too-large"
    assert code([deep]) == "nesting-too-deep"
    assert code([{"a": float("nan")}]) == "invalid-number"
    assert code([{"a": 1}] * 3, ParseLimits(max_rows=2)) == "too-many-rows"
    assert code([{"a": 1}, {"b": 1}], ParseLimits(max_columns=1)) == "too-many-columns"
    assert code([]) == "no-records"


def test_powershells_type_line_above_the_header_is_no_header():
    content = (
        b"#TYPE VMware.VimAutomation.ViCore.Impl.V1.VM.UniversalVirtualMachineImpl\r\n"
        b'"Name","PowerState","NumCpu","MemoryGB"\r\n'
        b'"lon-web01","PoweredOn","2","4"\r\n'
    )
    source = open_bytes(content, "vms.csv")
    assert source.columns == ["Name", "PowerState", "NumCpu", "MemoryGB"]
    assert [values for _, values, _ in rows(source)] == [
        {"Name": "lon-web01", "PowerState": "PoweredOn", "NumCpu": "2", "MemoryGB": "4"}
    ]
