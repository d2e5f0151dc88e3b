"""ImportStorageManager: the import row and its raw records, streamed into PostgreSQL with COPY."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.orm import Session

from importer import json_codec
from importer.errors import InvalidUpload
from importer.models import DataImport
from importer.parsing import RecordSource
from importer.services.import_validator import ImportOptions
from importer.services.transactions import ImportTransactionManager

# The two constant columns first, so that each line starts with one preformatted prefix.
COPY_RAW_RECORDS = (
    "COPY raw_import_records (import_id, client_account_id, row_number, record, extra_values) "
    "FROM STDIN"
)
# COPY data is sent in blocks of about this size: one libpq call per block, not per row.
_BLOCK_BYTES = 128 * 1024
_NULL = b"\\N"


def copy_json(value: Any) -> bytes:
    """``value`` as JSON text, escaped for a field of COPY's text format."""
    # JSON text holds no raw control characters (tab, newline, CR are escaped), so in COPY's
    # text format only its backslashes need escaping.
    return json_codec.dumps(value).replace(b"\\", b"\\\\")


class ImportStorageManager:
    def find_by_idempotency_key(
        self, session: Session, client_account_id: uuid.UUID, key: str
    ) -> DataImport | None:
        return session.scalars(
            select(DataImport).where(
                DataImport.client_account_id == client_account_id,
                DataImport.idempotency_key == key,
            )
        ).one_or_none()

    def create_import(
        self,
        session: Session,
        client_account_id: uuid.UUID,
        options: ImportOptions,
        source: RecordSource,
        content_sha256: str | None,
    ) -> DataImport:
        data_import = DataImport(
            id=uuid.uuid4(),
            client_account_id=client_account_id,
            engagement=options.engagement,
            import_type=options.import_type,
            filename=options.filename,
            format=source.format,
            encoding=source.encoding,
            delimiter=source.delimiter,
            columns=list(source.columns),
            sheet=source.sheet,
            idempotency_key=options.idempotency_key,
            content_sha256=content_sha256,
        )
        session.add(data_import)
        session.flush()
        return data_import

    def store_records(self, session: Session, data_import: DataImport, source: RecordSource) -> int:
        """Stream every record into raw_import_records in the session's transaction."""
        conn = ImportTransactionManager.driver_connection(session)
        stored = 0
        try:
            with conn.cursor() as cursor, cursor.copy(COPY_RAW_RECORDS) as copy:
                for block, rows in copy_blocks(data_import, source):
                    copy.write(block)
                    stored += rows
        except psycopg.DataError as exc:
            # What the parser let through but PostgreSQL cannot hold is still the client's input.
            raise InvalidUpload(
                "A record holds a value PostgreSQL cannot store.",
                code="unstorable-value",
                details={"reason": str(exc).splitlines()[0]},
            ) from exc
        if stored == 0:
            raise InvalidUpload("The upload holds no records.", code="no-records")
        # JSON columns are known only once every record has been read.
        data_import.columns = list(source.columns)
        data_import.records_stored = stored
        session.flush()
        return stored


def copy_blocks(data_import: DataImport, source: RecordSource) -> Iterator[tuple[bytes, int]]:
    """The records as COPY text lines, joined into blocks: (block, records in it)."""
    prefix = f"{data_import.id}\t{data_import.client_account_id}\t".encode("ascii")
    lines: list[bytes] = []
    size = 0
    for record in source.records():
        extra = _NULL if record.extra is None else copy_json(record.extra)
        line = b"%b%d\t%b\t%b\n" % (prefix, record.row_number, copy_json(record.values), extra)
        lines.append(line)
        size += len(line)
        if size >= _BLOCK_BYTES:
            yield b"".join(lines), len(lines)
            lines.clear()
            size = 0
    if lines:
        yield b"".join(lines), len(lines)
