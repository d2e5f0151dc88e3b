"""Deciding an upload's format from its name, its declared type and its first bytes."""

from typing import BinaryIO

from importer.errors import InvalidUpload, UnsupportedMediaType
from importer.parsing.csv_reader import open_csv
from importer.parsing.json_reader import open_json_array, open_ndjson
from importer.parsing.limits import DEFAULT_LIMITS, ParseLimits
from importer.parsing.records import RecordSource
from importer.parsing.streams import PeekedUpload, utf16_not_supported

# "json" means a JSON array or NDJSON, told apart by the first character; "sniff" means
# any supported format, told apart by the first bytes.
_EXTENSIONS = {
    "csv": "csv",
    "tsv": "csv",
    "txt": "csv",
    "json": "json",
    "ndjson": "ndjson",
    "jsonl": "ndjson",
}
_UNSUPPORTED_EXTENSIONS = frozenset(
    {
        "xlsx", "xlsm", "xlsb", "xls", "ods", "numbers", "doc", "docx", "odt", "rtf",
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
    "text/plain": "sniff",
    "application/octet-stream": "sniff",
    "": "sniff",
}


def open_upload(
    stream: BinaryIO,
    filename: str | None,
    content_type: str | None,
    limits: ParseLimits = DEFAULT_LIMITS,
) -> RecordSource:
    """Opens an upload for streaming; raises at once if it cannot be read at all."""
    declared = _declared_format(filename, content_type)
    upload = PeekedUpload(stream)
    if upload.is_utf16():
        raise utf16_not_supported()
    if upload.is_blank():
        raise InvalidUpload("the file is empty", code="empty-file")
    if declared == "sniff":
        if upload.prefix.lstrip()[:1] in (b"[", b"{"):
            declared = "json"
        elif upload.is_text():
            declared = "csv"
        else:
            raise _unsupported(filename, content_type)
    if declared == "csv":
        if upload.has_nul_bytes():
            raise _unsupported(filename, content_type)
        return open_csv(upload, limits)
    # NDJSON's first record starts with "{"; anything else is read as a JSON array,
    # whose reader reports what it found instead.
    if declared == "json" and upload.prefix.lstrip()[:1] != b"{":
        return open_json_array(upload, limits)
    return open_ndjson(upload, limits)


def _declared_format(filename: str | None, content_type: str | None) -> str:
    extension = _extension(filename)
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    if extension not in _UNSUPPORTED_EXTENSIONS:
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        if media_type in _MEDIA_TYPES:
            return _MEDIA_TYPES[media_type]
    raise _unsupported(filename, content_type)


def _extension(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return name.rpartition(".")[2].lower() if "." in name else ""


def _unsupported(filename: str | None, content_type: str | None) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        "upload a CSV, TSV, JSON array or NDJSON file",
        code="unsupported-media-type",
        details={"filename": filename, "content_type": content_type},
    )
