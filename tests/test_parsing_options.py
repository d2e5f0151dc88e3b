"""open_upload's encoding and delimiter options, and encoding detection without them."""

import io
from collections.abc import Callable
from typing import Any

import pytest

from importer.errors import InvalidUpload, UnsupportedMediaType
from importer.parsing import RecordSource, open_upload


def open_bytes(data: bytes, filename: str = "hosts.csv", **options: Any) -> RecordSource:
    return open_upload(io.BytesIO(data), filename, None, **options)


def rows(source: RecordSource) -> list[dict[str, Any]]:
    return [record.values for record in source.records()]


def failure(action: Callable[[], object]) -> InvalidUpload:
    with pytest.raises(InvalidUpload) as caught:
        action()
    return caught.value


# Delimiter


@pytest.mark.parametrize(
    ("option", "delimiter"),
    [
        (",", ","),
        (";", ";"),
        ("\t", "\t"),
        ("|", "|"),
        ("comma", ","),
        ("Semicolon", ";"),
        ("TAB", "\t"),
        ("pipe", "|"),
    ],
)
def test_a_named_delimiter_overrides_detection(option: str, delimiter: str) -> None:
    # Each delimiter splits the header differently; detection alone would pick one.
    text = "name,alias;ip\tos|dc\nweb,1;10.0.0.1\tlinux|par\n"
    source = open_bytes(text.encode(), delimiter=option)
    assert source.delimiter == delimiter
    header = "name,alias;ip\tos|dc".split(delimiter)
    assert source.columns == header
    assert rows(source) == [
        dict(zip(header, "web,1;10.0.0.1\tlinux|par".split(delimiter), strict=True))
    ]


def test_a_single_column_file_with_a_named_delimiter() -> None:
    source = open_bytes(b"notes\nweb 1, rack 2\n", delimiter="semicolon")
    assert rows(source) == [{"notes": "web 1, rack 2"}]


@pytest.mark.parametrize("option", ["", ":", ",,", " ", "\\t", "space", "tabs", "x" * 1000])
def test_other_delimiters_are_refused(option: str) -> None:
    error = failure(lambda: open_bytes(b"a,b\n1,2\n", delimiter=option))
    assert (error.code, error.status) == ("invalid-delimiter", 422)
    assert error.details == {
        "delimiter": option[:20],
        "allowed": [",", ";", "\t", "|", "comma", "semicolon", "tab", "pipe"],
    }


def test_the_delimiter_is_checked_but_not_used_for_json() -> None:
    assert rows(open_bytes(b'[{"a": 1}]', "x.json", delimiter="tab")) == [{"a": 1}]
    assert failure(lambda: open_bytes(b'[{"a": 1}]', "x.json", delimiter="x")).code == (
        "invalid-delimiter"
    )


# Named encoding


@pytest.mark.parametrize(
    ("option", "codec", "reported"),
    [
        ("cp1252", "cp1252", "cp1252"),
        ("Windows-1252", "cp1252", "cp1252"),
        ("latin1", "latin-1", "iso8859-1"),
        ("ISO-8859-15", "iso8859-15", "iso8859-15"),
        ("UTF8", "utf-8", "utf-8"),
        ("utf-8-sig", "utf-8", "utf-8"),
        ("utf-16-le", "utf-16-le", "utf-16-le"),
        ("cp037", "cp037", "cp037"),
        ("shift_jis", "shift_jis", "shift_jis"),
    ],
)
def test_a_named_encoding_decodes_the_file(option: str, codec: str, reported: str) -> None:
    text = (
        "hôte;desc\nwéb1;serveur à l'étage\n"
        if codec != "shift_jis"
        else "ホスト;説明\nウェブ;東京\n"
    )
    source = open_bytes(text.encode(codec), encoding=option)
    assert (source.encoding, source.delimiter) == (reported, ";")
    header, row = (line.split(";") for line in text.splitlines())
    assert rows(source) == [dict(zip(header, row, strict=True))]


def test_a_named_encoding_applies_to_json_and_ndjson() -> None:
    data = '[{"hôte": "wéb1"}]'.encode("cp1252")
    source = open_bytes(data, "x.json", encoding="cp1252")
    assert (source.encoding, rows(source)) == ("cp1252", [{"hôte": "wéb1"}])
    source = open_bytes(b"\n" + data[1:-1] + b"\n", "x.ndjson", encoding="cp1252")
    assert rows(source) == [{"hôte": "wéb1"}]


def test_a_byte_order_mark_wins_over_a_named_encoding() -> None:
    source = open_bytes(b"\xef\xbb\xbfh\xc3\xb4te\nx\n", encoding="cp1252")
    assert (source.encoding, source.columns) == ("utf-8-sig", ["hôte"])
    source = open_bytes("\ufeffhôte\nx\n".encode("utf-16-be"), encoding="latin-1")
    assert (source.encoding, source.columns) == ("utf-16", ["hôte"])


@pytest.mark.parametrize(
    "option",
    ["klingon", "", "utf\x008", "x" * 1000, "base64", "rot13", "hex", "zlib", "idna", "punycode"]
    + ["undefined", "unicode_escape", "raw-unicode-escape", "utf-7"],
)
def test_unknown_or_unusable_encoding_names(option: str) -> None:
    error = failure(lambda: open_bytes(b"a,b\n1,2\n", encoding=option))
    assert (error.code, error.status, error.details) == (
        "invalid-encoding-name",
        422,
        {"encoding": option[:64]},
    )


def test_utf16_named_without_a_byte_order_mark() -> None:
    error = failure(lambda: open_bytes("a,b\n1,2\n".encode("utf-16-le"), encoding="utf-16"))
    assert (error.code, error.details) == ("invalid-encoding", {"encoding": "utf-16"})


def test_bytes_the_named_encoding_cannot_decode_fail_with_their_offset() -> None:
    head = b"host,ip\n" + b"web,10.0.0.1\n" * 10_000
    source = open_bytes(head + b"w\x81b,10.0.0.2\n", encoding="cp1252")
    error = failure(lambda: rows(source))
    assert (error.code, error.details) == (
        "invalid-encoding",
        {"byte_offset": len(head) + 1, "encoding": "cp1252"},
    )


# Detection


@pytest.mark.parametrize(
    "text",
    [
        "nom;prénom;ville\nDupont;Hélène;Orléans\nGarçon;Zoé;Besançon\n",
        "host,ubicación,descripción\nweb1,Logroño,Servidor de aplicación año 2020\n",
        "host,notes\n" + "".join(f"web{i},“quoted” and it’s fine – {i} €\n" for i in range(200)),
        "Hostname,Standort\nsrv01,München\nsrv02,Düsseldorf, Weiß\n",
    ],
    ids=["french", "spanish", "typography", "german"],
)
def test_windows_1252_is_detected(text: str) -> None:
    # charset-normalizer alone reads some of these as cp1250 or cp850.
    source = open_bytes(text.encode("cp1252"))
    assert source.encoding == "cp1252"
    header, *lines = text.splitlines()
    delimiter = source.delimiter
    assert delimiter is not None
    assert source.columns == header.split(delimiter)
    assert [list(values.values()) for values in rows(source)][0] == lines[0].split(delimiter)[:3]


def test_the_dos_code_page_is_detected_when_windows_1252_cannot_decode_it() -> None:
    source = open_bytes("Hostname;Standort\nsrv01;München, Büro\nsrv02;Zürich\n".encode("cp850"))
    assert source.encoding == "cp850"
    assert rows(source) == [
        {"Hostname": "srv01", "Standort": "München, Büro"},
        {"Hostname": "srv02", "Standort": "Zürich"},
    ]


@pytest.mark.parametrize(
    "data",
    [
        ("ホスト,説明\nweb1,東京のサーバー\n" * 50).encode("shift_jis"),
        ("nom;ville\nDupont;très bien; système\n" * 5).encode("mac_roman"),
    ],
    ids=["shift-jis", "mac-roman"],
)
def test_an_unrecognised_encoding_is_refused(data: bytes) -> None:
    error = failure(lambda: open_bytes(data))
    assert (error.code, error.details["encoding"]) == ("invalid-encoding", "utf-8")
    assert "name its encoding" in error.message


def test_utf8_with_a_few_stray_bytes_is_not_taken_for_a_legacy_encoding() -> None:
    data = "a,b\n1,é\n2,ü\n".encode() + b"3,\xe9\n" + "4,ñ\n".encode()
    error = failure(lambda: open_bytes(data))
    assert (error.code, error.details) == (
        "invalid-encoding",
        {"byte_offset": data.index(b"\xe9"), "encoding": "utf-8"},
    )


def test_a_windows_1252_file_with_an_undefined_byte_later_fails_there() -> None:
    head = b"host,notes\n" + "web,café\n".encode("cp1252") * 10_000
    source = open_bytes(head + b"web,\x8d\n")
    assert source.encoding == "cp1252"
    error = failure(lambda: rows(source))
    assert (error.code, error.details) == (
        "invalid-encoding",
        {"byte_offset": len(head) + 4, "encoding": "cp1252"},
    )


def test_ascii_is_reported_as_utf8() -> None:
    assert open_bytes(b"a,b\n1,2\n").encoding == "utf-8"


@pytest.mark.parametrize("filename", ["x.json", "x.ndjson", None])
def test_json_from_windows_powershell(filename: str | None) -> None:
    # Windows PowerShell's Out-File writes UTF-16 with a BOM.
    text = (
        '[{"Name": "wéb1", "CPU": 4}]' if filename != "x.ndjson" else '{"Name": "wéb1", "CPU": 4}'
    )
    source = open_upload(io.BytesIO(text.encode("utf-16")), filename, "application/octet-stream")
    assert (source.encoding, rows(source)) == ("utf-16", [{"Name": "wéb1", "CPU": 4}])


def test_a_utf16_csv_without_a_delimiter_in_sight_is_sniffed_as_csv() -> None:
    source = open_upload(io.BytesIO("\ufeffhost\nwéb1\n".encode("utf-16-le")), None, None)
    assert (source.format, source.encoding, rows(source)) == ("csv", "utf-16", [{"host": "wéb1"}])


# Binary content


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        bytes(range(1, 32)) * 10 + b"a,b\n",
        b"a,b\n" + b"\x01\x02\x03\x04\x05,\x06\x07\x08\n" * 50,
    ],
)
def test_binary_content_named_csv_is_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedMediaType):
        open_bytes(data)


@pytest.mark.parametrize("encoding", [None, "utf-8", "cp1252"])
def test_nul_bytes_after_a_bom_or_in_a_named_encoding_make_a_binary_file(
    encoding: str | None,
) -> None:
    with pytest.raises(UnsupportedMediaType):
        open_bytes(b"\xef\xbb\xbfa,b\x00\x00\n1,2\n", encoding=encoding)


def test_a_utf16_file_is_not_taken_for_binary() -> None:
    source = open_bytes("a;b\n1;2\n".encode("utf-16-le"), encoding="utf-16-le")
    assert (source.encoding, rows(source)) == ("utf-16-le", [{"a": "1", "b": "2"}])


def test_a_stray_control_character_does_not_make_a_file_binary() -> None:
    data = b"a,b\n" + b"web,10.0.0.1\n" * 100 + b"x\x01y,\x1b[0m\n"
    assert rows(open_bytes(data))[-1] == {"a": "x\x01y", "b": "\x1b[0m"}
