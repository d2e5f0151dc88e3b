"""data_cleansing: every valid row, mapped to canonical fields, with normalised values.

Each row also gets the keys and type of the asset it describes, found here where the row is at
hand, so that the inventory can match and create assets in SQL.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from psycopg import Copy
from sqlalchemy import text
from sqlalchemy.orm import Session

from importer import json_codec
from importer.canonical import CanonicalSchema, FieldSpec, get_schema
from importer.discovery.classify import classify_asset
from importer.discovery.identity import Keys, identity, source_namespace
from importer.discovery.normalize import Cleaned, normalize_value
from importer.discovery.os_parse import OsInfo, parse_os
from importer.discovery.product_parse import parse_product
from importer.discovery.profiles import profiles
from importer.models import CleanedRecord, DataImport
from importer.pipeline.chunks import delete_output
from importer.services.field_mappings import FieldMappingService
from importer.services.transactions import ImportTransactionManager

COPY_CLEANED = (
    "COPY cleaned_records (import_id, row_number, client_account_id, data, "
    "hostname_key, serial_number, primary_ip, uuid, source_id, asset_type) FROM STDIN"
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
    """The phase's work, in chunks (importer.pipeline.chunks.ChunkedWork): the plan is the
    import's mappings (a CleansingJob); each range's valid rows are cleaned and stored by its
    chunk; the finish adds up the outcomes per field."""

    def __init__(self, mappings: FieldMappingService) -> None:
        self._mappings = mappings

    def plan(self, session: Session, data_import: DataImport) -> tuple[int, dict[str, Any]]:
        schema = get_schema(data_import.import_type)
        columns = [
            (m.column, m.field, schema.field(m.field).type, m.unit, m.unit_column)
            for m in self._mappings.column_mappings(session, data_import)
        ]
        job = CleansingJob(
            data_import.import_type,
            data_import.id,
            data_import.client_account_id,
            columns,
            import_tool(data_import),
        )
        return session.scalar(LAST_ROW, job.params) or 0, job.to_json()

    def chunk(
        self, session: Session, data_import: DataImport, plan: dict[str, Any], after: int, upto: int
    ) -> dict[str, Any]:
        job = CleansingJob.from_json(plan)
        delete_output(
            session,
            CleanedRecord,
            data_import,
            CleanedRecord.row_number > after,
            CleanedRecord.row_number <= upto,
        )
        rows = session.execute(VALID_ROWS, {**job.params, "after": after, "upto": upto}).all()
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        if rows:
            conn = ImportTransactionManager.driver_connection(session)
            with conn.cursor() as cursor, cursor.copy(COPY_CLEANED) as copy:
                CleanRowWriter(job).write(copy, rows, counts)
        return {
            "records_cleaned": len(rows),
            "fields": {field: dict(outcomes) for field, outcomes in counts.items()},
        }

    def finish(self, ctx, plan: dict[str, Any], summaries: list[dict[str, Any]]) -> dict[str, Any]:
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for summary in summaries:
            add_counts(counts, summary["fields"])
        return {
            "records_cleaned": sum(summary["records_cleaned"] for summary in summaries),
            "fields": {field: dict(outcomes) for field, outcomes in sorted(counts.items())},
        }

    def discard(self, session: Session, data_import: DataImport) -> None:
        delete_output(session, CleanedRecord, data_import)


@dataclass(frozen=True)
class CleansingJob:
    """What cleaning an import's rows takes: the phase's plan (as JSON)."""

    import_type: str
    import_id: uuid.UUID
    account: uuid.UUID
    # (source column, field, field type, unit, column naming the unit per row)
    columns: list[tuple[str, str, str, str | None, str | None]]
    # The namespace of the tool's numeric record ids (importer.discovery.identity), if known.
    tool: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {"import_id": self.import_id, "client_account_id": self.account}

    def to_json(self) -> dict[str, Any]:
        return {
            "import_type": self.import_type,
            "import_id": str(self.import_id),
            "account": str(self.account),
            "columns": self.columns,
            "tool": self.tool,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CleansingJob:
        return cls(
            data["import_type"],
            uuid.UUID(data["import_id"]),
            uuid.UUID(data["account"]),
            [tuple(column) for column in data["columns"]],
            data.get("tool"),
        )


class CleanRowWriter:
    """Cleans raw rows into a COPY of COPY_CLEANED."""

    def __init__(self, job: CleansingJob) -> None:
        self._cleaner = RowCleaner(job.columns, get_schema(job.import_type))
        self._import_type = job.import_type
        self._tool = job.tool
        # A dependencies row is a connection between assets, not one: it has no asset's keys.
        self._describes_asset = job.import_type != "dependencies"
        # As text, which COPY takes as it is, rather than dumping the same UUIDs for every row.
        self._import_id, self._account = str(job.import_id), str(job.account)

    def write(self, copy: Copy, rows, counts: dict[str, dict[str, int]]) -> None:
        for row_number, record in rows:
            data = self._cleaner.clean(record, counts)
            asset = (
                (
                    *identity(self._import_type, data, self._tool),
                    classify_asset(self._import_type, data),
                )
                if self._describes_asset
                else (None,) * (len(Keys._fields) + 1)
            )
            copy.write_row(
                (self._import_id, row_number, self._account, json_codec.dumps(data).decode())
                + asset
            )


def import_tool(data_import: DataImport) -> str | None:
    """The namespace of record ids of the tool whose layout the import was recognised as."""
    for profile in profiles():
        if profile.id == data_import.profile:
            return source_namespace(profile.tool)
    return None


def add_counts(counts: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> None:
    for field, outcomes in more.items():
        for outcome, count in outcomes.items():
            counts[field][outcome] += count


# A column's values are remembered until it has this many distinct ones: environments and
# operating systems repeat over millions of rows, hostnames and addresses hardly ever do.
MEMO_LIMIT = 4096


class RowCleaner:
    """Cleans rows with the import's mappings, each repeated text value of a column once.

    Several columns of one field make one value as the field's ``combine`` says: disk sizes
    add up (each kept in the field's ``parts`` too), of several OS names the one that tells
    a version wins (VMware's configuration-file OS is only "2016 or later"), and addresses are
    the distinct ones of every column, the first column's first.
    """

    def __init__(self, columns: list[tuple], schema: CanonicalSchema) -> None:
        self._columns = columns
        self._memo: dict[str, dict[str, Cleaned] | None] = {
            column: {} if unit_column is None else None for column, _, _, _, unit_column in columns
        }
        mapped = [field for _, field, _, _, _ in columns]
        self._combined = {
            field: schema.field(field)
            for field in mapped
            if mapped.count(field) > 1 and schema.field(field).combine != "one"
        }
        self._os: dict[tuple[Any, Any], OsInfo] = {}

    def clean(self, record: dict[str, Any], counts: dict[str, dict[str, int]]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        several: dict[str, list[Any]] = {}
        for column, field, field_type, unit, unit_column in self._columns:
            if column not in record:
                continue
            value = record[column]
            memo = self._memo[column]
            # Text only: 1, 1.0 and True are one key to a dict, not one value to clean.
            if memo is not None and type(value) is str:
                cleaned = memo.get(value)
                if cleaned is None:
                    cleaned = normalize_value(field_type, field, value, unit)
                    if len(memo) < MEMO_LIMIT:
                        memo[value] = cleaned
                    else:
                        self._memo[column] = None
            else:
                if unit_column is not None:
                    unit = _unit_in(record.get(unit_column)) or unit
                cleaned = normalize_value(field_type, field, value, unit)
            counts[field][cleaned.outcome] += 1
            if field in self._combined:
                several.setdefault(field, []).append(cleaned.value)
            else:
                data[field] = cleaned.value
        for field, values in several.items():
            data.update(self._combine(self._combined[field], values, data.get("os_version")))
        if data.get("cpu_cores") is None:
            sockets, per_cpu = data.get("cpu_sockets"), data.get("cores_per_cpu")
            if isinstance(sockets, int) and isinstance(per_cpu, int):
                data["cpu_cores"] = sockets * per_cpu
        if data.get("disk_gb") is None and isinstance(disks := data.get("disks_gb"), list):
            data["disk_gb"] = sum(disks)
        if data.get("disk_gb") is None and isinstance(
            each := data.get("disk_each_gb"), int | float
        ):
            count = data.get("disk_count")
            data["disk_gb"] = each * count if isinstance(count, int) else each
        name, version = data.get("os_name"), data.get("os_version")
        if name is not None or version is not None:
            info = self._parse_os(name, version)
            data["os_family"] = info.family
            data["os_version"] = info.version
        if (engine := data.get("engine")) is not None:  # a database: keyed for end of support
            data["os_family"], data["os_version"] = parse_product(engine, data.get("version"))
        return data

    def _combine(self, spec: FieldSpec, values: list[Any], version: Any) -> dict[str, Any]:
        present = [value for value in values if value is not None]
        if spec.combine == "sum":
            numbers = [value for value in present if isinstance(value, int | float)]
            combined = {spec.name: sum(numbers) if numbers else None}
            if spec.parts:
                combined[spec.parts] = numbers or None
            return combined
        if spec.combine == "union":
            items = [
                i for value in present for i in (value if isinstance(value, list) else [value])
            ]
            distinct = list(dict.fromkeys(items))
            return {spec.name: distinct[0] if len(distinct) == 1 else distinct or None}
        told = [value for value in present if self._parse_os(value, version).version is not None]
        return {spec.name: (told or present or [None])[0]}

    def _parse_os(self, name: Any, version: Any) -> OsInfo:
        if not (isinstance(name, str | None) and isinstance(version, str | None)):
            return parse_os(name, version)
        info = self._os.get((name, version))
        if info is None:
            info = parse_os(name, version)
            if len(self._os) < MEMO_LIMIT:
                self._os[name, version] = info
        return info


def _unit_in(value: Any) -> str | None:
    """A sibling column's unit ("GB", "MB"), as text."""
    return value.strip() if isinstance(value, str) and value.strip() else None
