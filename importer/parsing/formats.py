"""Deciding an upload's format from its name, its declared type and its first bytes."""

from typing import BinaryIO

from importer.errors import InvalidUpload, UnsupportedMediaType
from importer.parsing.charsets import (
    declared_encoding,
    detect_encoding,
    encoding_from_bom,
    is_ascii_compatible,
    looks_binary,
)
from importer.parsing.csv_reader import open_csv, parse_delimiter
from importer.parsing.json_reader import open_json_array, open_ndjson
from importer.parsing.limits import DEFAULT_LIMITS, ParseLimits
from importer.parsing.records import RecordSource
from importer.parsing.streams import PeekedUpload, TextUpload
from importer.parsing.xlsx_reader import open_xlsx

# "json" means a JSON array or NDJSON, told apart by the first character; "sniff" means
# any supported text format, told apart by the first bytes.
_EXTENSIONS = {
    "csv": "csv",
    "tsv": "csv",
    "txt": "csv",
    "json": "json",
    "ndjson": "ndjson",
    "jsonl": "ndjson",
    "xlsx": "xlsx",
}
_UNSUPPORTED_EXTENSIONS = frozenset(
    {
        "xlsm", "xlsb", "xls", "ods", "numbers", "doc", "docx", "odt", "rtf",
        "pdf", "xml", "html", "htm", "yaml", "yml", "parquet", "avro", "sqlite", "db",
        "zip", "gz", "tgz", "bz2", "xz", "7z", "rar", "tar",
        "exe", "dll", "bin", "so", "dmg", "iso",
        "png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "svg",
        "mp3", "mp4", "mov", "avi", "wav",
    }
)  # fmt: skip
_MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/plain": "sniff",
    "application/octet-stream": "sniff",
    "": "sniff",
}
_LEGACY_EXCEL_MEDIA_TYPE = "application/vnd.ms-excel"


def open_upload(
    stream: BinaryIO,
    filename: str | None,
    content_type: str | None,
    limits: ParseLimits = DEFAULT_LIMITS,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> RecordSource:
    """Opens an upload for streaming; raises at once if it cannot be read at all.

    ``encoding`` names the character encoding of a CSV, JSON or NDJSON file (a byte-order
    mark still wins), ``delimiter`` a CSV file's delimiter, and ``sheet`` the worksheet to
    read from an XLSX workbook. Each is checked whatever the format, and ignored by the
    formats it does not apply to.
    """
    declared = _declared_format(filename, content_type)
    named_encoding = None if encoding is None else declared_encoding(encoding)
    named_delimiter = None if delimiter is None else parse_delimiter(delimiter)
    if declared == "xlsx":
        return open_xlsx(stream, limits, sheet)
    upload = PeekedUpload(stream)
    known_encoding = encoding_from_bom(upload.prefix) or named_encoding
    # Only CSV would take a binary file's bytes for text; JSON fails on its first byte.
    if (
        declared in ("csv", "sniff")
        and (known_encoding is None or is_ascii_compatible(known_encoding))
        and looks_binary(upload.prefix)
    ):
        raise _unsupported(filename, content_type)
    text = upload.decoded(known_encoding or detect_encoding(upload.prefix, upload.at_eof))
    if text.is_blank():
        raise InvalidUpload("the file is empty", code="empty-file")
    if declared == "sniff":
        declared = "json" if _first_character(text) in ("[", "{") else "csv"
    if declared == "csv":
        return open_csv(text, limits, named_delimiter)
    # NDJSON's first record starts with "{"; anything else is read as a JSON array,
    # whose reader reports what it found instead.
    if declared == "json" and _first_character(text) != "{":
        return open_json_array(text, limits)
    return open_ndjson(text, limits)


def _first_character(text: TextUpload) -> str:
    return text.sample().lstrip(" \t\n\r")[:1]


def _declared_format(filename: str | None, content_type: str | None) -> str:
    extension = _extension(filename)
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if extension not in _UNSUPPORTED_EXTENSIONS and media_type in _MEDIA_TYPES:
        return _MEDIA_TYPES[media_type]
    if extension == "xls" or media_type == _LEGACY_EXCEL_MEDIA_TYPE:
        message = "legacy Excel workbooks (.xls) cannot be read: save the sheet as .xlsx or CSV"
    else:
        message = "upload a CSV, TSV, JSON array, NDJSON or XLSX file"
    raise _unsupported(filename, content_type, message)


def _extension(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return name.rpartition(".")[2].lower() if "." in name else ""


def _unsupported(
    filename: str | None,
    content_type: str | None,
    message: str = "upload a CSV, TSV, JSON array, NDJSON or XLSX file",
) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        message,
        code="unsupported-media-type",
        details={"filename": filename, "content_type": content_type},
    )
