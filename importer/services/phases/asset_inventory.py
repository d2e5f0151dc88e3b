"""asset_inventory: create or update one asset per real thing, across rows and imports.

Rows are matched to assets by normalised hostname, then serial number, then IP address, within
the client account: importing the same export twice updates the inventory instead of doubling it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, text

from importer.discovery.classify import classify_asset
from importer.discovery.normalize import normalize_hostname_key
from importer.models import Asset, AssetSource, CleanedRecord, DataImport
from importer.services.phases.jsonb import to_json
from importer.services.phases.tech_debt import end_of_support_table
from importer.services.sql import in_array
from importer.services.step_runner import WorkContext
from importer.services.transactions import ImportTransactionManager

# The asset's own columns, taken from its clean fields; everything else stays in attributes.
COLUMNS = ("os_family", "os_name", "os_version", "environment", "cpu_cores", "memory_gb")
MAX_KEY_LENGTH = 200
IDENTITY = ("hostname_key", "serial_number", "primary_ip", "name")
# Set by the tech_debt_assessment phase; the inventory writes them as of today (so that the
# phase's join finds nothing to rewrite), but they are not what an import changes in an asset.
EOS = ("eos_severity", "end_of_support", "eos_source")
# What an asset is made of: compared before and after an import to tell updated from unchanged.
COMPARED = (
    "hostname_key",
    "serial_number",
    "primary_ip",
    "name",
    "asset_type",
    *COLUMNS,
    "is_virtual",
    "attributes",
)
WRITTEN = (*COMPARED, *EOS, "last_import_id")
COPY_ASSETS = (
    f"COPY assets (id, client_account_id, first_import_id, {', '.join(WRITTEN)}) FROM STDIN"
)
COPY_SOURCES = "COPY asset_sources (import_id, row_number, asset_id, client_account_id) FROM STDIN"
# Changed assets go through a temporary table: one UPDATE per chunk instead of one per asset.
CHANGES_TABLE = text(
    f"""
    CREATE TEMP TABLE IF NOT EXISTS asset_changes ON COMMIT DROP AS
    SELECT id, {", ".join(WRITTEN)} FROM assets WITH NO DATA
    """
)
COPY_CHANGES = f"COPY asset_changes (id, {', '.join(WRITTEN)}) FROM STDIN"
APPLY_CHANGES = text(
    f"""
    UPDATE assets a SET {", ".join(f"{c} = x.{c}" for c in WRITTEN)}, updated_at = now()
    FROM asset_changes x WHERE a.id = x.id
    """
)
KNOWN_COLUMNS = [c for c in Asset.__table__.columns if c.key not in ("created_at", "updated_at")]


def identity(import_type: str, data: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(hostname key, serial number, primary IP) of a cleaned row."""
    if import_type == "servers":
        key = normalize_hostname_key(data.get("hostname") or data.get("fqdn"))
    else:
        # Applications and databases are named, not hosted: their own namespace of keys.
        name = normalize_hostname_key(data.get("name"))
        host = normalize_hostname_key(data.get("host"))
        prefix = "app" if import_type == "applications" else "db"
        key = None if name is None else f"{prefix}:{name}" + (f"@{host}" if host else "")
    ips = data.get("ip_address")
    ip = ips[0] if isinstance(ips, list) and ips else ips
    serial = str(data["serial_number"]) if data.get("serial_number") else None
    # Keys are indexed: a value no serial number or IP address is that long identifies nothing.
    if serial is not None and len(serial) > MAX_KEY_LENGTH:
        serial = None
    ip = str(ip) if ip and len(str(ip)) <= MAX_KEY_LENGTH else None
    return key, serial, ip


@dataclass
class Known:
    """The assets of this client account seen so far, by each of their keys."""

    by_key: dict[str, dict] = field(default_factory=dict)
    by_serial: dict[str, dict] = field(default_factory=dict)
    by_ip: dict[str, dict] = field(default_factory=dict)

    def add(self, asset: dict) -> None:
        for index, value in (
            (self.by_key, asset["hostname_key"]),
            (self.by_serial, asset["serial_number"]),
            (self.by_ip, asset["primary_ip"]),
        ):
            if value:
                index.setdefault(value, asset)

    def match(self, key: str | None, serial: str | None, ip: str | None) -> dict | None:
        return (
            (key and self.by_key.get(key))
            or (serial and self.by_serial.get(serial))
            or (ip and self.by_ip.get(ip))
            or None
        )


class AssetInventoryPhase:
    def __init__(self, chunk_size: int) -> None:
        self._chunk_size = chunk_size

    def run(self, ctx: WorkContext) -> dict[str, Any]:
        session, data_import = ctx.session, ctx.data_import
        # One inventory writer per client account at a time: two imports naming the same host
        # would otherwise both create it.
        session.execute(
            select(
                func.pg_advisory_xact_lock(
                    func.hashtextextended(f"inventory/{data_import.client_account_id}", 0)
                )
            )
        )
        session.execute(delete(AssetSource).where(AssetSource.import_id == data_import.id))
        session.execute(CHANGES_TABLE)
        conn = ImportTransactionManager.driver_connection(session)
        writer = _Writer(conn, data_import, datetime.now(UTC).date())
        counts = {"created": Counter(), "updated": Counter(), "unchanged": Counter()}
        merged_rows = 0
        # Assets that existed before this import: a fingerprint of what they were, and of what
        # this import leaves them (fingerprints, not copies: a million assets must fit).
        before: dict[uuid.UUID, int] = {}
        after_import: dict[uuid.UUID, tuple[int, str]] = {}
        total = session.scalar(
            select(func.count()).where(CleanedRecord.import_id == data_import.id)
        )
        done = after = 0
        while rows := session.execute(
            select(CleanedRecord.row_number, CleanedRecord.data)
            .where(
                CleanedRecord.import_id == data_import.id,
                CleanedRecord.client_account_id == data_import.client_account_id,
                CleanedRecord.row_number > after,
            )
            .order_by(CleanedRecord.row_number)
            .limit(self._chunk_size)
        ).all():
            identities = [(n, data, identity(data_import.import_type, data)) for n, data in rows]
            known = self._known(ctx, identities)
            new, changed, sources = {}, {}, []
            for row_number, data, (key, serial, ip) in identities:
                asset = known.match(key, serial, ip)
                fields = self._fields(data_import, data, key, serial, ip)
                if asset is None:
                    asset = {"id": uuid.uuid4(), **fields, "first_import_id": data_import.id}
                    new[asset["id"]] = asset
                    known.add(asset)
                    counts["created"][asset["asset_type"]] += 1
                elif asset["first_import_id"] == data_import.id:
                    # Created by an earlier row of this import (this chunk's, or one before).
                    merged_rows += 1
                    self._merge(asset, fields)
                    if asset["id"] not in new:
                        changed[asset["id"]] = asset
                else:
                    before.setdefault(asset["id"], fingerprint(asset))
                    self._merge(asset, fields)
                    changed[asset["id"]] = asset
                    after_import[asset["id"]] = (fingerprint(asset), asset["asset_type"])
                sources.append((row_number, asset["id"]))
            writer.write(new.values(), changed.values(), sources)
            done += len(rows)
            after = rows[-1][0]
            ctx.checkpoint(done, total)
        for asset_id, (state, asset_type) in after_import.items():
            # Being touched by this import is not a change of what the asset is.
            counts["unchanged" if state == before[asset_id] else "updated"][asset_type] += 1
        return {
            "assets": {name: dict(counter) for name, counter in counts.items()},
            "rows_merged_into_an_asset_of_this_import": merged_rows,
        }

    @staticmethod
    def _fields(data_import: DataImport, data: dict, key, serial, ip) -> dict[str, Any]:
        attributes = {k: v for k, v in data.items() if v is not None}
        return {
            "client_account_id": data_import.client_account_id,
            "hostname_key": key,
            "serial_number": serial,
            "primary_ip": ip,
            "name": data.get("hostname") or data.get("name") or data.get("fqdn"),
            "asset_type": classify_asset(data_import.import_type, data),
            "is_virtual": data.get("is_virtual"),
            "attributes": attributes,
            "last_import_id": data_import.id,
            **{column: data.get(column) for column in COLUMNS},
            # An absurd core count stays in the attributes; the column is a 32-bit integer.
            "cpu_cores": cores
            if isinstance(cores := data.get("cpu_cores"), int) and 0 <= cores < 2**31
            else None,
        }

    @staticmethod
    def _merge(asset: dict, fields: dict) -> None:
        """A later row wins for what it says; what it leaves blank keeps its earlier value."""
        attributes = {**asset["attributes"], **fields["attributes"]}
        # Identity stays as first seen: a row found by serial or IP may name the asset otherwise,
        # and filling in a missing key could claim another asset's.
        for name, value in fields.items():
            if value is not None and name not in IDENTITY:
                asset[name] = value
        asset["attributes"] = attributes

    @staticmethod
    def _known(ctx: WorkContext, identities: list) -> Known:
        keys = {i[2][0] for i in identities if i[2][0]}
        serials = {i[2][1] for i in identities if i[2][1]}
        ips = {i[2][2] for i in identities if i[2][2]}
        known = Known()
        if not (keys or serials or ips):
            return known
        # Assets written by earlier chunks are read back from the table, as they now are.
        assets = ctx.session.execute(
            select(*KNOWN_COLUMNS).where(
                Asset.client_account_id == ctx.data_import.client_account_id,
                or_(
                    in_array(Asset.hostname_key, keys),
                    in_array(Asset.serial_number, serials),
                    in_array(Asset.primary_ip, ips),
                ),
            )
        ).mappings()
        for asset in assets:
            known.add(dict(asset))
        return known


def fingerprint(asset: dict) -> int:
    """Equal for assets equal in every compared field (as ==, so 16 and 16.0 are alike)."""
    return hash(tuple(_frozen(asset.get(name)) for name in COMPARED))


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return frozenset((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


class _Writer:
    """Writes a chunk's new and changed assets and its row sources with COPY."""

    def __init__(self, conn, data_import: DataImport, today: date) -> None:
        self._conn = conn
        self._import = data_import
        self._today = today
        self._eos = end_of_support_table()

    def write(self, new, changed, sources: list[tuple[int, uuid.UUID]]) -> None:
        data_import = self._import
        with self._conn.cursor() as cursor:
            if new:
                with cursor.copy(COPY_ASSETS) as copy:
                    for asset in new:
                        copy.write_row(
                            (asset["id"], data_import.client_account_id, data_import.id)
                            + self._written(asset)
                        )
            if changed:
                cursor.execute("TRUNCATE asset_changes")
                with cursor.copy(COPY_CHANGES) as copy:
                    for asset in changed:
                        copy.write_row((asset["id"], *self._written(asset)))
                cursor.execute(APPLY_CHANGES.text)
            with cursor.copy(COPY_SOURCES) as copy:
                for row_number, asset_id in sources:
                    copy.write_row(
                        (data_import.id, row_number, asset_id, data_import.client_account_id)
                    )

    def _written(self, asset: dict) -> tuple:
        status = self._eos.assess(asset["os_family"], asset["os_version"], self._today)
        return (
            *(asset[name] for name in COMPARED[:-1]),
            to_json(asset["attributes"]),
            status.severity,
            status.end_of_support,
            status.source,
            asset["last_import_id"],
        )
