"""What an upload brings: its options and a body that is read once, hashed as it streams."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any, BinaryIO

from importer.parsing import ParseLimits, RecordSource, open_upload, records_from_objects
from importer.services.import_validator import ImportOptions


class HashingReader(io.RawIOBase):
    """A read-only stream that hashes every byte read through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._hash.update(data)
        return len(data)

    def drain(self) -> str:
        """Read what is left and return the whole body's SHA-256."""
        while self._raw_chunk():
            pass
        return self._hash.hexdigest()

    def _raw_chunk(self) -> bool:
        data = self._raw.read(1 << 20)
        self._hash.update(data)
        return bool(data)


@dataclass
class FileUpload:
    options: ImportOptions
    stream: BinaryIO
    content_type: str | None
    # How to read the file when detection is not wanted: encoding, delimiter, sheet.
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    def __post_init__(self) -> None:
        self._reader = HashingReader(self.stream)

    def open(self, limits: ParseLimits) -> RecordSource:
        buffered = io.BufferedReader(self._reader, buffer_size=1 << 16)
        return open_upload(
            buffered,
            self.options.filename,
            self.content_type,
            limits,
            encoding=self.encoding,
            delimiter=self.delimiter,
            sheet=self.sheet,
        )

    def content_sha256(self) -> str:
        return self._reader.drain()


@dataclass
class RecordsUpload:
    """Records sent in a JSON body rather than as a file."""

    options: ImportOptions
    records: Any

    def open(self, limits: ParseLimits) -> RecordSource:
        return records_from_objects(self.records, limits)

    def content_sha256(self) -> str:
        canonical = json.dumps(self.records, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


Upload = FileUpload | RecordsUpload
