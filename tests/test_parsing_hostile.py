"""Hostile uploads, each built here, fail with a clean 4xx and a stable code."""

import io
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator

import pytest

from importer.errors import ImporterError, InvalidUpload, UnsupportedMediaType
from importer.parsing import RecordSource, open_upload

MB = 1024 * 1024


class GeneratedStream(io.RawIOBase):
    """A non-seekable stream whose bytes come from a generator, so nothing is held whole."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        if not self._pending:
            self._pending = next(self._chunks, b"")
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.bytes_read += size
        return size


def repeated(head: bytes, chunk: bytes, total: int, tail: bytes = b"") -> Iterator[bytes]:
    yield head
    for _ in range(total // len(chunk)):
        yield chunk
    yield tail


def read_all(source: RecordSource) -> None:
    for _ in source.records():
        pass


def open_and_read(stream: io.RawIOBase, filename: str) -> None:
    read_all(open_upload(stream, filename, None))


def failure_within(peak_bytes: int, action: Callable[[], object]) -> ImporterError:
    """The error ``action`` raises, checking the memory it took meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(ImporterError) as caught:
            action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < peak_bytes
    return caught.value


# A single 100 MB value


@pytest.mark.parametrize(
    ("head", "chunk", "tail"),
    [
        (b"host,notes\nweb1,", b"x" * MB, b"\n"),
        (b'host,notes\nweb1,"', b"x" * MB, b'"\n'),
        (b'host,notes\nweb1,"', b"x, " * (MB // 3), b'"\n'),
        (b'host,notes\nweb1,"', (b"x" * 998 + b"\r\n") * (MB // 1000), b'"\n'),
        (b'host,notes\nweb1,"', b'""' * (MB // 2), b'"\n'),
        (b"host;notes\nweb1;", b"\xc3\xa9" * (MB // 2), b"\n"),
    ],
    ids=["unquoted", "quoted", "quoted-delimiters", "quoted-newlines", "quoted-quotes", "accents"],
)
def test_a_100_mb_field_is_too_large_without_being_held(
    head: bytes, chunk: bytes, tail: bytes
) -> None:
    stream = GeneratedStream(repeated(head, chunk, 100 * MB, tail))
    error = failure_within(24 * MB, lambda: open_and_read(stream, "hosts.csv"))
    assert (error.code, error.status, error.details["line"]) == ("field-too-large", 422, 2)
    assert stream.bytes_read < 8 * MB


def test_a_100_mb_header_label_is_too_large() -> None:
    stream = GeneratedStream(repeated(b"host,", b"n" * MB, 100 * MB, b"\n1,2\n"))
    error = failure_within(24 * MB, lambda: open_and_read(stream, "hosts.csv"))
    assert (error.code, error.details["line"]) == ("field-too-large", 1)


def test_a_long_line_of_ordinary_fields_is_read() -> None:
    # 200 fields of 1 KB: a line of 200 KB is read in pieces, cut between and inside fields.
    fields = [f"c{i}" for i in range(200)]
    values = [f'"{i}, ""quoted""\n{"v" * 1000}"' if i % 3 else str(i) * 1000 for i in range(200)]
    data = (",".join(fields) + "\n" + ",".join(values) + "\n").encode()
    source = open_upload(io.BytesIO(data), "wide.csv", None)
    [record] = list(source.records())
    assert record.values == {
        field: value.strip('"').replace('""', '"') if value.startswith('"') else value
        for field, value in zip(fields, values, strict=True)
    }


PIECE = 64 * 1024  # how much of a line the CSV reader takes at a time


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # A \r\n line ending split by a piece boundary.
        ("1," + "x" * (PIECE - 3) + "\r\n", {"a": "1", "b": "x" * (PIECE - 3)}),
        # A lone \r line ending at a piece boundary, then a line starting right after it.
        ("1," + "x" * (PIECE - 3) + "\r", {"a": "1", "b": "x" * (PIECE - 3)}),
        # A cut right before the line ending.
        ("1," + "x" * (PIECE - 3) + ",\n", {"a": "1", "b": "x" * (PIECE - 3)}),
        # A quoted \r at the boundary.
        ('1,"' + "x" * (PIECE - 4) + '\r\n"\n', {"a": "1", "b": "x" * (PIECE - 4) + "\r\n"}),
    ],
    ids=["crlf", "cr", "delimiter", "quoted"],
)
def test_line_endings_at_a_piece_boundary(line: str, expected: dict[str, str]) -> None:
    terminator = "\r" if line.endswith("x\r") else "\n"
    data = f"a,b{terminator}{line}2,y{terminator}".encode()
    records = list(open_upload(io.BytesIO(data), "x.csv", None).records())
    assert [(record.row_number, record.values) for record in records] == [
        (1, expected),
        (2, {"a": "2", "b": "y"}),
    ]
    extra = [""] if line.endswith(",\n") else None
    assert records[0].extra == extra


# Many columns


def test_10_000_columns_in_the_header() -> None:
    header = ",".join(f"c{i}" for i in range(10_000)).encode()
    error = failure_within(24 * MB, lambda: open_upload(io.BytesIO(header + b"\n"), "x.csv", None))
    assert (error.code, error.details["columns"], error.details["limit"]) == (
        "too-many-columns",
        10_000,
        1_000,
    )


def test_10_000_columns_in_a_row() -> None:
    data = b"a,b\n1,2\n" + b"x," * 9_999 + b"x\n"
    source = open_upload(io.BytesIO(data), "x.csv", None)
    error = failure_within(24 * MB, lambda: read_all(source))
    assert (error.code, error.details["row"], error.details["columns"]) == (
        "too-many-columns",
        2,
        10_000,
    )


def test_a_100_mb_line_of_delimiters_is_not_held() -> None:
    stream = GeneratedStream(repeated(b"a,b\n1,2\n", b"," * MB, 100 * MB, b"\n"))
    error = failure_within(24 * MB, lambda: open_and_read(stream, "x.csv"))
    assert error.code == "too-many-columns"
    assert stream.bytes_read < 8 * MB


# Bytes that are not text


def test_nul_bytes_after_the_first_kilobytes() -> None:
    data = b"a,b\n" + b"web,10.0.0.1\n" * 1000 + b"x\x00y,1\n"
    source = open_upload(io.BytesIO(data), "x.csv", None)
    error = failure_within(24 * MB, lambda: read_all(source))
    assert (error.code, error.details) == ("nul-byte", {"line": 1002})


def test_nul_bytes_at_the_start_make_a_binary_file() -> None:
    with pytest.raises(UnsupportedMediaType):
        open_upload(io.BytesIO(b"a,b\x00\x00\n1,2\n"), "x.csv", None)


def test_invalid_utf8_when_utf8_is_declared() -> None:
    data = b"host,ip\n" + b"web,10.0.0.1\n" * 10 + b"caf\xe9,10.0.0.2\n"
    with pytest.raises(InvalidUpload) as caught:
        read_all(open_upload(io.BytesIO(data), "x.csv", None, encoding="utf-8"))
    assert (caught.value.code, caught.value.details) == (
        "invalid-encoding",
        {"byte_offset": data.index(b"\xe9"), "encoding": "utf-8"},
    )


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 64,
        b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 16,
        b"PK\x03\x04\x14\x00\x08\x00" + bytes(500),
        b"\x89PNG\r\n\x1a\n" + b"\x12\x34\x56\x78\x9a\xbc\xde\xf0" * 1000,
    ],
    ids=["all-bytes", "elf", "zip", "png"],
)
@pytest.mark.parametrize("filename", ["hosts.csv", "hosts.txt", None])
def test_a_binary_file_named_as_text_is_unsupported(data: bytes, filename: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        open_upload(io.BytesIO(data), filename, None)
    assert caught.value.status == 415


# Zip bombs in an .xlsx


def test_a_gigabyte_of_zeros_in_an_xlsx_is_refused_unread() -> None:
    # 1 GB of zeros deflates to about 1 MB; zlib takes seconds to make it, so the member
    # holds 64 MB of them and the zip headers are then made to declare a gigabyte.
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("xl/worksheets/sheet1.xml", "w") as member,
    ):
        for _ in range(64):
            member.write(bytes(MB))
    bomb = bytearray(buffer.getvalue())
    for signature, size_offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = bomb.index(signature) + size_offset
        bomb[at : at + 4] = (1 << 30).to_bytes(4, "little")
    assert len(bomb) < 100 * 1024
    stream = GeneratedStream(iter([bytes(bomb)]))
    error = failure_within(16 * MB, lambda: open_and_read(stream, "bomb.xlsx"))
    assert (error.code, error.status, error.details["reason"]) == (
        "zip-bomb",
        422,
        "uncompressed-size",
    )


def test_a_real_deflate_bomb_is_refused_by_its_ratio() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        with archive.open("xl/sharedStrings.xml", "w") as member:
            for _ in range(32):
                member.write(b"<si><t>x</t></si>" * (MB // 16))
    error = failure_within(16 * MB, lambda: open_and_read(io.BytesIO(buffer.getvalue()), "x.xlsx"))
    assert (error.code, error.details["reason"], error.details["member"]) == (
        "zip-bomb",
        "compression-ratio",
        "xl/sharedStrings.xml",
    )


# JSON


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"[" + b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"]", "x.json"),
        (b"[" + b"[" * 10_000 + b"]" * 10_000 + b"]", "x.json"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"\n", "x.ndjson"),
        (b'[{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}]", None),
    ],
    ids=["objects", "arrays", "ndjson", "sniffed"],
)
def test_json_nested_10_000_deep(data: bytes, filename: str | None) -> None:
    error = failure_within(24 * MB, lambda: open_and_read(io.BytesIO(data), filename))
    assert (error.code, error.status) == ("nesting-too-deep", 422)


@pytest.mark.parametrize(
    ("data", "filename", "code"),
    [
        (b'{\n  "records": [{"a": 1}]\n}', "x.json", "invalid-json"),
        (b'"hosts"', "x.json", "invalid-json"),
        (b"42", "x.json", "invalid-json"),
        (b"[1, 2]", "x.json", "invalid-record"),
        (b'[{"a": 1}, "b"]', "x.json", "invalid-record"),
        (b'[[{"a": 1}]]', "x.json", "invalid-record"),
        (b'[{"a": 1}]\n', "x.ndjson", "invalid-record"),
        (b"null\n", "x.ndjson", "invalid-record"),
        (b"[]", "x.json", "no-records"),
    ],
)
def test_json_that_is_not_a_list_of_objects(data: bytes, filename: str, code: str) -> None:
    with pytest.raises(InvalidUpload) as caught:
        open_and_read(io.BytesIO(data), filename)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (rb'{"a": "x\u0000y"}', "nul-byte"),
        (rb'{"\u0000": 1}', "nul-byte"),
        (rb'{"a": ["\ud800"]}', "invalid-unicode"),
        (rb'{"\udfff": 1}', "invalid-unicode"),
        (rb'{"a": "\ud83d"}', "invalid-unicode"),
    ],
)
@pytest.mark.parametrize("layout", ["array", "ndjson"])
def test_nul_and_lone_surrogates_in_json_strings(record: bytes, code: str, layout: str) -> None:
    data, filename = (b"[" + record + b"]", "x.json") if layout == "array" else (record, "x.ndjson")
    with pytest.raises(InvalidUpload) as caught:
        open_and_read(io.BytesIO(data), filename)
    assert caught.value.code == code


def test_a_json_string_without_an_end_is_not_held() -> None:
    stream = GeneratedStream(repeated(b'[{"a": "', b"x" * MB, 100 * MB))
    error = failure_within(24 * MB, lambda: open_and_read(stream, "x.json"))
    assert error.code == "field-too-large"
    assert stream.bytes_read < 16 * MB
