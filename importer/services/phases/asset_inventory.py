"""asset_inventory: create or update one asset per real thing, across rows and imports.

Rows are matched to assets by normalised hostname, then serial number, then IP address, within
the client account: importing the same export twice updates the inventory instead of doubling it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from importer.discovery.classify import classify_asset
from importer.discovery.normalize import normalize_hostname_key
from importer.models import Asset, AssetSource, CleanedRecord, DataImport
from importer.services.sql import in_array
from importer.services.step_runner import WorkContext

# The asset's own columns, taken from its clean fields; everything else stays in attributes.
COLUMNS = ("os_family", "os_name", "os_version", "environment", "cpu_cores", "memory_gb")
MAX_KEY_LENGTH = 200
IDENTITY = ("hostname_key", "serial_number", "primary_ip", "name")


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
        counts = {"created": Counter(), "updated": Counter(), "unchanged": Counter()}
        merged_rows = 0
        created_here: set[uuid.UUID] = set()
        # Assets that existed before this import: as they were, and as this import leaves them.
        before: dict[uuid.UUID, dict] = {}
        after_import: dict[uuid.UUID, dict] = {}
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
                    created_here.add(asset["id"])
                    known.add(asset)
                    counts["created"][asset["asset_type"]] += 1
                elif asset["id"] in created_here:
                    merged_rows += 1
                    self._merge(asset, fields)
                    if asset["id"] not in new:
                        changed[asset["id"]] = asset
                else:
                    before.setdefault(asset["id"], self._row(asset))
                    self._merge(asset, fields)
                    changed[asset["id"]] = asset
                    after_import[asset["id"]] = self._row(asset)
                sources.append(
                    {
                        "import_id": data_import.id,
                        "row_number": row_number,
                        "asset_id": asset["id"],
                        "client_account_id": data_import.client_account_id,
                    }
                )
            if new:
                session.execute(insert(Asset), list(new.values()))
            if changed:
                session.execute(update(Asset), [self._row(a) for a in changed.values()])
            session.execute(insert(AssetSource), sources)
            done += len(rows)
            after = rows[-1][0]
            ctx.checkpoint(done, total)
        for asset_id, state in after_import.items():
            # Being touched by this import is not a change of what the asset is.
            same = {**state, "last_import_id": None} == {**before[asset_id], "last_import_id": None}
            outcome = "unchanged" if same else "updated"
            counts[outcome][state["asset_type"]] += 1
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
    def _row(asset: dict) -> dict[str, Any]:
        """The columns an update writes (a copy: the asset goes on changing)."""
        skip = ("first_import_id", "client_account_id")
        return {k: dict(v) if k == "attributes" else v for k, v in asset.items() if k not in skip}

    @staticmethod
    def _known(ctx: WorkContext, identities: list) -> Known:
        keys = {i[2][0] for i in identities if i[2][0]}
        serials = {i[2][1] for i in identities if i[2][1]}
        ips = {i[2][2] for i in identities if i[2][2]}
        known = Known()
        if not (keys or serials or ips):
            return known
        assets = ctx.session.execute(
            select(Asset)
            .where(
                Asset.client_account_id == ctx.data_import.client_account_id,
                or_(
                    in_array(Asset.hostname_key, keys),
                    in_array(Asset.serial_number, serials),
                    in_array(Asset.primary_ip, ips),
                ),
            )
            # Bulk updates of earlier chunks bypass the identity map: read the rows afresh.
            .execution_options(populate_existing=True)
        ).scalars()
        for asset in assets:
            known.add(
                {
                    column.key: getattr(asset, column.key)
                    for column in Asset.__table__.columns
                    if column.key not in ("created_at", "updated_at")
                }
            )
        return known
