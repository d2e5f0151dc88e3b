"""An XLSX upload as a zip archive: spooled to a seekable file and checked before parsing."""

import contextlib
import tempfile
import zipfile
from collections.abc import Iterator
from typing import IO, BinaryIO

from importer.errors import ImporterError, InvalidUpload
from importer.parsing.limits import ParseLimits

# openpyxl needs to seek; uploads larger than this go to a temporary file on disk.
_SPOOL_MEMORY_BYTES = 8 * 1024 * 1024
_CHUNK_BYTES = 1024 * 1024
# A member smaller than this expands to nothing costly, whatever its compression ratio.
_RATIO_FLOOR_BYTES = 1024 * 1024
# Compound File Binary: legacy .xls workbooks, and .xlsx workbooks saved with a password.
_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@contextlib.contextmanager
def spooled_workbook(stream: BinaryIO, limits: ParseLimits) -> Iterator[IO[bytes]]:
    """The upload copied to a seekable file, deleted on leaving the context."""
    # A workbook larger than the limit on its content decompressed holds more than that.
    limit = limits.max_xlsx_uncompressed_bytes
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY_BYTES) as spool:
        size = 0
        while chunk := stream.read(_CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise InvalidUpload(
                    f"the workbook is larger than {limit} bytes",
                    code="xlsx-too-large",
                    details={"limit": limit},
                )
            spool.write(chunk)
        spool.seek(0)
        yield spool


def check_archive(spool: IO[bytes], limits: ParseLimits) -> None:
    """Rejects what is not a zip archive, and zip bombs, before openpyxl decompresses."""
    head = spool.read(len(_OLE2_SIGNATURE))
    if not head:
        raise InvalidUpload("the file is empty", code="empty-file")
    if head == _OLE2_SIGNATURE:
        raise InvalidUpload(
            "the file is a legacy .xls or password-protected workbook: save it as an .xlsx"
            " workbook without a password, or as CSV",
            code="invalid-xlsx",
        )
    spool.seek(0)
    with malformed_workbook(), zipfile.ZipFile(spool) as archive:
        members = archive.infolist()
    # zipfile never yields more than a member's declared size, so declared sizes bound
    # what openpyxl will read.
    total = sum(member.file_size for member in members)
    if total > limits.max_xlsx_uncompressed_bytes:
        raise InvalidUpload(
            f"the workbook decompresses to more than {limits.max_xlsx_uncompressed_bytes} bytes",
            code="zip-bomb",
            details={
                "reason": "uncompressed-size",
                "uncompressed_bytes": total,
                "limit": limits.max_xlsx_uncompressed_bytes,
            },
        )
    max_ratio = limits.max_xlsx_compression_ratio
    for member in members:
        if (
            member.file_size > _RATIO_FLOOR_BYTES
            and member.file_size > max_ratio * member.compress_size
        ):
            raise InvalidUpload(
                f"the workbook member {member.filename!r} expands more than {max_ratio} times",
                code="zip-bomb",
                details={
                    "reason": "compression-ratio",
                    "member": member.filename,
                    "uncompressed_bytes": member.file_size,
                    "compressed_bytes": member.compress_size,
                    "limit": max_ratio,
                },
            )
    spool.seek(0)


@contextlib.contextmanager
def malformed_workbook() -> Iterator[None]:
    """Reports any failure of zipfile or openpyxl as a malformed workbook."""
    try:
        yield
    except ImporterError:
        raise
    # A broken or hostile workbook makes these libraries fail with whatever exception the
    # code they were in happens to raise (KeyError, ParseError, ValueError, TypeError...).
    except Exception as error:
        raise InvalidUpload(
            "the file is not a valid .xlsx workbook",
            code="invalid-xlsx",
            details={"reason": f"{type(error).__name__}: {error}"[:200]},
        ) from None
