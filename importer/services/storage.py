"""ImportStorageManager: the import row and its raw records, streamed into PostgreSQL with COPY."""

from __future__ import annotations

import json
import uuid

import psycopg
from sqlalchemy import select
from sqlalchemy.orm import Session

from importer.errors import InvalidUpload
from importer.models import DataImport
from importer.parsing import RecordSource
from importer.services.import_validator import ImportOptions
from importer.services.transactions import ImportTransactionManager

COPY_RAW_RECORDS = (
    "COPY raw_import_records (import_id, row_number, client_account_id, record, extra_values) "
    "FROM STDIN"
)


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
                for record in source.records():
                    copy.write_row(
                        (
                            data_import.id,
                            record.row_number,
                            data_import.client_account_id,
                            json.dumps(record.values, ensure_ascii=False),
                            None if record.extra is None else json.dumps(record.extra),
                        )
                    )
                    stored += 1
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
