"""ValidationService: checks an import's stored records in chunks and stores the issues found."""

from __future__ import annotations

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from importer.canonical import get_schema
from importer.models import DataImport, ValidationIssue
from importer.services.field_mappings import FieldMappingService
from importer.services.record_validation import RecordValidator
from importer.services.step_runner import WorkContext
from importer.services.transactions import ImportTransactionManager

COPY_ISSUES = (
    "COPY import_validation_issues "
    "(import_id, client_account_id, row_number, code, field, message, severity) FROM STDIN"
)

# Exact duplicates are found by PostgreSQL in one pass rather than by hashing rows in Python.
DUPLICATE_ROWS = text(
    """
    SELECT row_number, first_row FROM (
        SELECT row_number,
               min(row_number) OVER (
                   PARTITION BY md5(record::text || coalesce(extra_values::text, ''))
               ) AS first_row
        FROM raw_import_records
        WHERE import_id = :import_id AND client_account_id = :client_account_id
    ) d
    WHERE row_number <> first_row
    """
)


CHUNK = text(
    """
    SELECT row_number, record, extra_values FROM raw_import_records
    WHERE import_id = :import_id AND client_account_id = :client_account_id
      AND row_number > :after
    ORDER BY row_number
    LIMIT :limit
    """
)


class ValidationService:
    def __init__(self, mappings: FieldMappingService, chunk_size: int) -> None:
        self._mappings = mappings
        self._chunk_size = chunk_size

    def run(self, ctx: WorkContext) -> None:
        session, data_import = ctx.session, ctx.data_import
        self._clear(session, data_import)
        validator = self._validator(session, data_import)
        duplicates = self._duplicates(session, data_import)
        conn = ImportTransactionManager.driver_connection(session)
        invalid = 0
        done = 0
        last_row = 0
        while True:
            rows = self._chunk(session, data_import, last_row)
            if not rows:
                break
            issues = []
            for row_number, record, extra in rows:
                found = validator.validate(row_number, record, extra)
                if row_number in duplicates and not any(i.code == "blank-row" for i in found):
                    issues.append(
                        (
                            row_number,
                            "duplicate-row",
                            None,
                            f"Row {row_number} duplicates row {duplicates[row_number]}.",
                            "error",
                        )
                    )
                    invalid += 1
                    continue
                issues.extend((i.row_number, i.code, i.field, i.message, i.severity) for i in found)
                if any(i.severity == "error" for i in found):
                    invalid += 1
            self._store(conn, data_import, issues)
            done += len(rows)
            last_row = rows[-1][0]
            ctx.checkpoint(done, data_import.records_stored)
        data_import.valid_records = done - invalid
        data_import.invalid_records = invalid
        if data_import.valid_records == 0:
            ctx.rejection = f"No valid records: all {done} rows have errors (see /errors)."

    def _validator(self, session: Session, data_import: DataImport) -> RecordValidator:
        column_fields = {
            s.source_column: s.target_field
            for s in self._mappings.suggest(session, data_import)
            if s.target_field is not None
        }
        # JSON records have no header to be short of: missing cells only make sense for CSV.
        header = data_import.columns if data_import.format == "csv" else []
        return RecordValidator(get_schema(data_import.import_type), column_fields, header)

    @staticmethod
    def _clear(session: Session, data_import: DataImport) -> None:
        session.execute(
            delete(ValidationIssue).where(
                ValidationIssue.import_id == data_import.id,
                ValidationIssue.client_account_id == data_import.client_account_id,
            )
        )

    @staticmethod
    def _duplicates(session: Session, data_import: DataImport) -> dict[int, int]:
        rows = session.execute(
            DUPLICATE_ROWS,
            {"import_id": data_import.id, "client_account_id": data_import.client_account_id},
        )
        return {row_number: first for row_number, first in rows}

    def _chunk(self, session: Session, data_import: DataImport, after_row: int) -> list:
        # Core, not the ORM: building ORM rows cost more than checking them.
        return session.execute(
            CHUNK,
            {
                "import_id": data_import.id,
                "client_account_id": data_import.client_account_id,
                "after": after_row,
                "limit": self._chunk_size,
            },
        ).all()

    @staticmethod
    def _store(conn, data_import: DataImport, issues: list[tuple]) -> None:
        if not issues:
            return
        with conn.cursor() as cursor, cursor.copy(COPY_ISSUES) as copy:
            for row_number, code, field, message, severity in issues:
                copy.write_row(
                    (
                        data_import.id,
                        data_import.client_account_id,
                        row_number,
                        code,
                        field,
                        message,
                        severity,
                    )
                )
