"""data_cleansing: every valid row, mapped to canonical fields, with normalised values.

Each row also gets the keys and type of the asset it describes, found here where the row is at
hand, so that the inventory can match and create assets in SQL.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import delete, text

from importer import json_codec
from importer.canonical import get_schema
from importer.discovery.classify import classify_asset
from importer.discovery.identity import identity
from importer.discovery.normalize import Cleaned, normalize_value
from importer.discovery.os_parse import OsInfo, parse_os
from importer.models import CleanedRecord
from importer.services.field_mappings import FieldMappingService
from importer.services.range_reader import RangeReader
from importer.services.step_runner import WorkContext
from importer.services.transactions import ImportTransactionManager

COPY_CLEANED = (
    "COPY cleaned_records (import_id, row_number, client_account_id, data, "
    "hostname_key, serial_number, primary_ip, asset_type) FROM STDIN"
)
# A range of row numbers, not "the next N rows": just after the upload the table has no
# statistics, and PostgreSQL then read, sorted and anti-joined every remaining row to return the
# next N, which made the phase quadratic (1M rows: 112 s, most of it in this query). The range's
# errors are hashed once (NOT IN): as NOT EXISTS, once the records had statistics and the issues
# none, PostgreSQL rescanned all the import's errors for every row (15 s a range at 1M rows).
VALID_ROWS = text(
    """
    SELECT r.row_number, r.record FROM raw_import_records r
    WHERE r.import_id = :import_id AND r.client_account_id = :client_account_id
      AND r.row_number > :after AND r.row_number <= :upto
      AND r.row_number NOT IN (
          SELECT i.row_number FROM import_validation_issues i
          WHERE i.import_id = :import_id AND i.severity = 'error'
            AND i.row_number > :after AND i.row_number <= :upto
      )
    ORDER BY r.row_number
    """
)
LAST_ROW = text(
    """
    SELECT max(row_number) FROM raw_import_records
    WHERE import_id = :import_id AND client_account_id = :client_account_id
    """
)


class DataCleansingPhase:
    def __init__(self, mappings: FieldMappingService, chunk_size: int, reader: RangeReader) -> None:
        self._mappings = mappings
        self._chunk_size = chunk_size
        self._reader = reader

    def run(self, ctx: WorkContext) -> dict[str, Any]:
        session, data_import = ctx.session, ctx.data_import
        session.execute(
            delete(CleanedRecord).where(
                CleanedRecord.import_id == data_import.id,
                CleanedRecord.client_account_id == data_import.client_account_id,
            )
        )
        schema = get_schema(data_import.import_type)
        columns = [
            (column, field, schema.field(field).type)
            for column, field in self._mappings.column_fields(session, data_import).items()
        ]
        cleaner = RowCleaner(columns)
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        conn = ImportTransactionManager.driver_connection(session)
        done = 0
        params = {"import_id": data_import.id, "client_account_id": data_import.client_account_id}
        last = session.scalar(LAST_ROW, params) or 0
        # Read once, not a million times through the ORM's attributes; the ids as text, which
        # COPY takes as it is instead of dumping the same UUIDs again for every row.
        import_type = data_import.import_type
        import_id, account = str(data_import.id), str(data_import.client_account_id)
        for _, upto, rows in self._reader.ranges(VALID_ROWS, params, last, self._chunk_size):
            if not rows:
                continue
            with conn.cursor() as cursor, cursor.copy(COPY_CLEANED) as copy:
                for row_number, record in rows:
                    data = cleaner.clean(record, counts)
                    copy.write_row(
                        (
                            import_id,
                            row_number,
                            account,
                            json_codec.dumps(data).decode(),
                            *identity(import_type, data),
                            classify_asset(import_type, data),
                        )
                    )
            done += len(rows)
            ctx.checkpoint(min(upto, last), last)
        return {
            "records_cleaned": done,
            "fields": {field: dict(outcomes) for field, outcomes in sorted(counts.items())},
        }


# A column's values are remembered until it has this many distinct ones: environments and
# operating systems repeat over millions of rows, hostnames and addresses hardly ever do.
MEMO_LIMIT = 4096


class RowCleaner:
    """Cleans rows with the import's mappings, each repeated text value of a column once."""

    def __init__(self, columns: list[tuple[str, str, str]]) -> None:
        self._columns = columns
        self._memo: dict[str, dict[str, Cleaned] | None] = {c: {} for c, _, _ in columns}
        self._os: dict[tuple[Any, Any], OsInfo] = {}

    def clean(self, record: dict[str, Any], counts: dict[str, dict[str, int]]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for column, field, field_type in self._columns:
            if column not in record:
                continue
            value = record[column]
            memo = self._memo[column]
            # Text only: 1, 1.0 and True are one key to a dict, not one value to clean.
            if memo is not None and type(value) is str:
                cleaned = memo.get(value)
                if cleaned is None:
                    cleaned = normalize_value(field_type, field, value)
                    if len(memo) < MEMO_LIMIT:
                        memo[value] = cleaned
                    else:
                        self._memo[column] = None
            else:
                cleaned = normalize_value(field_type, field, value)
            data[field] = cleaned.value
            counts[field][cleaned.outcome] += 1
        name, version = data.get("os_name"), data.get("os_version")
        if name is not None or version is not None:
            info = self._parse_os(name, version)
            data["os_family"] = info.family
            data["os_version"] = info.version
        return data

    def _parse_os(self, name: Any, version: Any) -> OsInfo:
        if not (isinstance(name, str | None) and isinstance(version, str | None)):
            return parse_os(name, version)
        info = self._os.get((name, version))
        if info is None:
            info = parse_os(name, version)
            if len(self._os) < MEMO_LIMIT:
                self._os[name, version] = info
        return info
