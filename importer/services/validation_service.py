"""ValidationService: checks an import's stored records in chunks and stores the issues found.

Each range of rows is first sifted in SQL (importer.services.plain_rows): the rows PostgreSQL can
vouch for have no issue, and only the others are read and checked by the RecordValidator.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from importer.canonical import get_schema
from importer.models import DataImport, ValidationIssue
from importer.pipeline.chunks import delete_output
from importer.services.field_mappings import FieldMappingService
from importer.services.plain_rows import PlainRowFilter
from importer.services.record_validation import RecordValidator
from importer.services.transactions import ImportTransactionManager

COPY_ISSUES = (
    "COPY import_validation_issues "
    "(import_id, client_account_id, row_number, code, field, message, severity) FROM STDIN"
)

# Exact duplicates are found by PostgreSQL rather than by hashing rows in Python: rows whose
# text has the same md5. The rows that can be such are first found by the jsonb values' own
# hashes (equal text, equal jsonb, equal hash), which takes no text of any record: 1M rows took
# 4.9 s with the text and md5 of every row, about half that so. Two statements, not a join of
# the two: just after the upload the records have no statistics, and PostgreSQL nested-looped
# such a join (20k rows: 45 s).
DUPLICATE_CANDIDATES = text(
    """
    SELECT row_number FROM (
        SELECT row_number,
               count(*) OVER (
                   PARTITION BY jsonb_hash_extended(record, 0),
                                jsonb_hash_extended(coalesce(extra_values, 'null'), 0)
               ) AS alike
        FROM raw_import_records
        WHERE import_id = :import_id AND client_account_id = :client_account_id
    ) h
    WHERE alike > 1
    """
)
DUPLICATE_ROWS = text(
    """
    SELECT row_number, first_row FROM (
        SELECT row_number,
               min(row_number) OVER (
                   PARTITION BY md5(record::text || coalesce(extra_values::text, ''))
               ) AS first_row
        FROM raw_import_records
        WHERE import_id = :import_id AND client_account_id = :client_account_id
          AND row_number = ANY(CAST(:candidates AS integer[]))
    ) d
    WHERE row_number <> first_row
    """
)


# The rows of a range that PostgreSQL cannot vouch for: the validator checks them in Python.
SUSPECT_ROWS = """
    SELECT r.row_number, r.record, r.extra_values FROM raw_import_records r {lateral}
    WHERE r.import_id = :import_id AND r.client_account_id = :client_account_id
      AND r.row_number > :after AND r.row_number <= :upto
      AND ({plain}) IS NOT TRUE
    ORDER BY r.row_number
"""
ROW_SPAN = text(
    """
    SELECT count(*), max(row_number) FROM raw_import_records
    WHERE import_id = :import_id AND client_account_id = :client_account_id
    """
)


class ValidationService:
    """The validate step's work, in chunks (importer.pipeline.chunks.ChunkedWork): the plan is
    the mappings to validate with and the import's duplicate rows; each range's issues are
    stored by its chunk; the finish counts the valid rows and rejects an import with none."""

    def __init__(self, mappings: FieldMappingService) -> None:
        self._mappings = mappings

    def plan(self, session: Session, data_import: DataImport) -> tuple[int, dict[str, Any]]:
        column_fields, header = self._columns(session, data_import)
        params = {"import_id": data_import.id, "client_account_id": data_import.client_account_id}
        rows, last = session.execute(ROW_SPAN, params).one()
        duplicates = self._duplicates(session, data_import)
        return last or 0, {
            # [column, field] pairs: JSONB keeps no key order, and the order is the columns'.
            "columns": list(column_fields.items()),
            "header": header,
            "rows": rows,
            # [row, the row it duplicates], in row order.
            "duplicates": sorted(duplicates.items()),
        }

    def chunk(
        self, session: Session, data_import: DataImport, plan: dict[str, Any], after: int, upto: int
    ) -> dict[str, Any]:
        params = {"import_id": data_import.id, "client_account_id": data_import.client_account_id}
        delete_output(
            session,
            ValidationIssue,
            data_import,
            ValidationIssue.row_number > after,
            ValidationIssue.row_number <= upto,
        )
        schema = get_schema(data_import.import_type)
        column_fields = dict(plan["columns"])
        validator = RecordValidator(schema, column_fields, plan["header"])
        plain = PlainRowFilter(schema, column_fields, plan["header"])
        suspect = text(SUSPECT_ROWS.format(lateral=plain.lateral, plain=plain.condition))
        pairs = plan["duplicates"]
        rows_at = [row for row, _ in pairs]
        duplicates = dict(pairs[bisect_right(rows_at, after) : bisect_right(rows_at, upto)])
        rows = session.execute(
            suspect, {**params, **plain.params, "after": after, "upto": upto}
        ).all()
        issues, invalid = [], 0
        for row_number, record, extra in rows:
            found = validator.validate(row_number, record, extra)
            if row_number in duplicates and not any(i.code == "blank-row" for i in found):
                issues.append(self._duplicate(row_number, duplicates))
                invalid += 1
                continue
            issues.extend((i.row_number, i.code, i.field, i.message, i.severity) for i in found)
            if any(i.severity == "error" for i in found):
                invalid += 1
        # Duplicates of plain rows are plain too, and not blank.
        checked = {row[0] for row in rows}
        for row_number in duplicates:
            if row_number not in checked:
                issues.append(self._duplicate(row_number, duplicates))
                invalid += 1
        issues.sort(key=lambda issue: issue[0])
        self._store(ImportTransactionManager.driver_connection(session), data_import, issues)
        return {"invalid": invalid}

    def finish(self, ctx, plan: dict[str, Any], summaries: list[dict[str, Any]]) -> dict[str, Any]:
        data_import, rows = ctx.data_import, plan["rows"]
        invalid = sum(summary["invalid"] for summary in summaries)
        data_import.valid_records = rows - invalid
        data_import.invalid_records = invalid
        if data_import.valid_records == 0:
            ctx.rejection = f"No valid records: all {rows} rows have errors (see /errors)."
            # Stored, so that the mappings that refused every row can be fixed before a retry.
            self._mappings.suggest_and_store(ctx.session, data_import)
        return {"valid": rows - invalid, "invalid": invalid}

    def discard(self, session: Session, data_import: DataImport) -> None:
        delete_output(session, ValidationIssue, data_import)

    @staticmethod
    def _duplicate(row_number: int, duplicates: dict[int, int]) -> tuple:
        message = f"Row {row_number} duplicates row {duplicates[row_number]}."
        return (row_number, "duplicate-row", None, message, "error")

    def _columns(
        self, session: Session, data_import: DataImport
    ) -> tuple[dict[str, str], list[str]]:
        # The first validation of an import guesses, as the mappings step will after it. Once
        # validated, an import may have mappings a person fixed since (a rejection stores the
        # guesses to be fixed; a review approves them): those are what it is validated with.
        if data_import.invalid_records is None:
            mappings = self._mappings.suggested_mappings(session, data_import)
        else:
            mappings = self._mappings.column_mappings(session, data_import)
        column_fields = {m.column: m.field for m in mappings}
        # JSON records have no header to be short of: missing cells only make sense for CSV.
        header = data_import.columns if data_import.format == "csv" else []
        return column_fields, header

    @staticmethod
    def _duplicates(session: Session, data_import: DataImport) -> dict[int, int]:
        params = {"import_id": data_import.id, "client_account_id": data_import.client_account_id}
        candidates = session.scalars(DUPLICATE_CANDIDATES, params).all()
        if not candidates:
            return {}
        rows = session.execute(DUPLICATE_ROWS, {**params, "candidates": candidates})
        return {row_number: first for row_number, first in rows}

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
