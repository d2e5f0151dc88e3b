"""Read-side queries of flows and the asset inventory, scoped to the caller's client account."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, literal_column, or_, select, text
from sqlalchemy.orm import Session, aliased

from importer.discovery.classify import EVIDENCE
from importer.errors import NotFound
from importer.models import (
    PHASE_ORDER,
    Asset,
    AssetDependency,
    AssetSource,
    CleanedRecord,
    DataImport,
    DiscoveryFlow,
    MappingStatus,
    Run,
    RunKind,
)
from importer.models.asset import ACCOUNT_SCAN, ASSET_TYPES, SEVERITIES
from importer.pipeline import transitions
from importer.services.field_mappings import FieldMappingService
from importer.services.pagination import InvalidQuery, page_by_id
from importer.services.phases.asset_inventory import (
    FIELDS,
    KEYS,
    ROW_KEYS,
    SourceRow,
    rebuild,
    same_value,
)

ASSET_FILTERS = {
    "type": (Asset.asset_type, ASSET_TYPES),
    "os_family": (Asset.os_family, None),
    "environment": (Asset.environment, None),
    "end_of_support": (Asset.eos_severity, SEVERITIES),
}


# What an edge says of the connection behind it: known for the connections a dependencies import
# observed, null for the dependencies an inventory declares.
CONNECTION = (
    AssetDependency.observed,
    AssetDependency.port,
    AssetDependency.protocol,
    AssetDependency.source_processes,
    AssetDependency.target_processes,
)


def connection(edge: list) -> dict[str, Any]:
    return dict(
        zip(
            ("observed", "port", "protocol", "source_processes", "target_processes"),
            edge,
            strict=True,
        )
    )


# The clean fields each asset field or attribute is made of besides its own, where another
# one makes it: the cleansing (RowCleaner) derives OS family and version, core counts and disk
# totals, importer.discovery.identity the keys, classify the type. A value's source columns are
# those mapped to the ones the row has.
MADE_FROM: dict[str, tuple[str, ...]] = {
    "primary_ip": ("ip_address",),
    "source_id": ("vcenter",),
    "os_family": ("os_name", "os_version", "engine", "version"),
    "os_version": ("os_name", "engine", "version"),
    "cpu_cores": ("cpu_sockets", "cores_per_cpu"),
    "disk_gb": ("disks_gb", "disk_each_gb", "disk_count"),
}
# An asset's name, and a server's hostname key, are the first of these a row has.
NAME_FIELDS = ("hostname", "name", "fqdn")
SOURCE_ROWS = select(
    AssetSource.import_id,
    AssetSource.row_number,
    CleanedRecord.data,
    *(getattr(CleanedRecord, key) for key in ROW_KEYS),
    CleanedRecord.asset_type,
).join(
    CleanedRecord,
    (CleanedRecord.import_id == AssetSource.import_id)
    & (CleanedRecord.row_number == AssetSource.row_number),
)


def matching(search: str):
    """Assets whose name, hostname key or FQDN holds ``search`` (any case), or whose IP address
    (the primary or any other) or serial number starts with it (a serial in any case)."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    part, start = f"%{escaped}%", f"{escaped}%"
    return or_(
        Asset.name.ilike(part, escape="\\"),
        Asset.hostname_key.ilike(part, escape="\\"),
        Asset.attributes["fqdn"].astext.ilike(part, escape="\\"),
        Asset.primary_ip.like(start, escape="\\"),
        func.jsonb_path_exists(
            Asset.attributes,
            literal_column("'$.ip_address[*] ? (@ starts with $q)'::jsonpath"),
            func.jsonb_build_object("q", search),
        ),
        Asset.serial_number.ilike(start, escape="\\"),
    )


class InventoryQueryService:
    def __init__(self, mappings: FieldMappingService) -> None:
        self._mappings = mappings

    def flow(
        self, session: Session, flow_id: uuid.UUID, client_account_id: uuid.UUID
    ) -> tuple[DiscoveryFlow, list[Run]]:
        flow = session.scalars(
            select(DiscoveryFlow).where(
                DiscoveryFlow.id == flow_id, DiscoveryFlow.client_account_id == client_account_id
            )
        ).one_or_none()
        if flow is None:
            raise NotFound("No such flow.", details={"id": str(flow_id)})
        # The latest attempt of each phase, in the flow's order.
        phases = transitions.latest(session, session.get(DataImport, flow.import_id), RunKind.PHASE)
        return flow, sorted(phases.values(), key=lambda run: PHASE_ORDER.index(run.name))

    def assets(
        self,
        session: Session,
        client_account_id: uuid.UUID,
        filters: dict[str, str],
        cursor: str | None,
        limit: int,
        search: str | None = None,
    ) -> tuple[list[Asset], str | None]:
        # Every query states ACCOUNT_SCAN: it reads the account's assets through their own
        # index whatever the statistics say, never the whole table's in id order (a search
        # reads at most the account's assets, having no index of its own).
        query = select(Asset).where(
            Asset.client_account_id == client_account_id, text(ACCOUNT_SCAN)
        )
        if search:
            query = query.where(matching(search))
        for name, value in filters.items():
            column, allowed = ASSET_FILTERS[name]
            if allowed is not None and value not in allowed:
                raise InvalidQuery(
                    f"Unknown {name} {value!r}.", details={name: value, "allowed": list(allowed)}
                )
            query = query.where(column == value)
        return page_by_id(session, query, Asset.id, cursor, limit)

    def asset(
        self, session: Session, asset_id: uuid.UUID, client_account_id: uuid.UUID
    ) -> dict[str, Any]:
        asset = session.scalars(
            select(Asset).where(Asset.id == asset_id, Asset.client_account_id == client_account_id)
        ).one_or_none()
        if asset is None:
            raise NotFound("No such asset.", details={"id": str(asset_id)})
        other = aliased(Asset)
        depends_on = session.execute(
            select(AssetDependency.target_ref, other.id, other.name, *CONNECTION)
            .outerjoin(other, other.id == AssetDependency.target_asset_id)
            .where(AssetDependency.source_asset_id == asset.id)
            .order_by(AssetDependency.target_ref, AssetDependency.port.nulls_first())
        ).all()
        depended_on_by = session.execute(
            select(other.id, other.name, *CONNECTION)
            .join(AssetDependency, AssetDependency.source_asset_id == other.id)
            .where(AssetDependency.target_asset_id == asset.id)
            .order_by(other.name, AssetDependency.port.nulls_first())
        ).all()
        # Each import's rows of the asset, by the key that found it ("created" for the row that
        # made it; rows written before matched_on was recorded count as "unrecorded").
        matched: dict[uuid.UUID, dict[str, int]] = {}
        for import_id, matched_on, rows in session.execute(
            select(AssetSource.import_id, AssetSource.matched_on, func.count())
            .where(AssetSource.asset_id == asset.id)
            .group_by(AssetSource.import_id, AssetSource.matched_on)
        ):
            matched.setdefault(import_id, {})[matched_on or "unrecorded"] = rows
        imports = session.execute(
            select(DataImport.id, DataImport.filename, DataImport.created_at)
            .where(
                DataImport.id.in_(list(matched)),
                DataImport.client_account_id == client_account_id,
            )
            .order_by(DataImport.created_at)
        ).all()
        return {
            "asset": asset,
            **self.value_sources(session, asset),
            "depends_on": [
                {
                    "target": ref,
                    "asset_id": str(i) if i else None,
                    "name": n,
                    "resolved": bool(i),
                    **connection(edge),
                }
                for ref, i, n, *edge in depends_on
            ],
            "depended_on_by": [
                {"asset_id": str(i), "name": n, **connection(edge)}
                for i, n, *edge in depended_on_by
            ],
            "imports": [
                {
                    "id": str(i),
                    "filename": f,
                    "created_at": c.isoformat(),
                    "matched_on": dict(sorted(matched[i].items())),
                }
                for i, f, c in imports
            ],
        }

    def value_sources(self, session: Session, asset: Asset) -> dict[str, list[dict[str, Any]]]:
        """Each of the asset's fields and attributes with its value and where the value came
        from: the import, row and source columns, derived from the asset's sources as the
        inventory merged them (asset_inventory.rebuild). A value they do not give has no source
        (a key value another asset held when the rows were merged, and holds no longer)."""
        account = asset.client_account_id
        found = session.execute(
            SOURCE_ROWS.where(
                AssetSource.asset_id == asset.id, AssetSource.client_account_id == account
            )
        ).all()
        imports = {
            data_import.id: data_import
            for data_import in session.scalars(
                select(DataImport).where(
                    DataImport.id.in_({row.import_id for row in found}),
                    DataImport.client_account_id == account,
                )
            )
        }
        rows = [
            SourceRow(
                imports[import_id], row_number, data, dict(zip(ROW_KEYS, keys, strict=True)), kind
            )
            for import_id, row_number, data, *keys, kind in found
            if import_id in imports
        ]
        rebuilt = rebuild(rows, self._held_elsewhere(session, asset, rows))
        mapped = {
            import_id: self._mapped_columns(session, data_import)
            for import_id, data_import in imports.items()
        }

        def entry(name: str, value: Any, derived: Any, row: SourceRow | None) -> dict[str, Any]:
            if row is None or not same_value(value, derived):
                return {"field": name, "value": value, "source": None}
            source = {
                "import_id": str(row.data_import.id),
                "filename": row.data_import.filename,
                "row_number": row.row_number,
                "columns": source_columns(name, row, mapped[row.data_import.id]),
            }
            return {"field": name, "value": value, "source": source}

        made = rebuilt.asset if rebuilt else {"attributes": {}}
        given = rebuilt.given_by if rebuilt else {}
        attribute_given = rebuilt.attribute_given_by if rebuilt else {}
        return {
            "fields": [
                entry(name, getattr(asset, name), made.get(name), given.get(name))
                for name in FIELDS
            ],
            "attributes": [
                entry(name, value, made["attributes"].get(name), attribute_given.get(name))
                for name, value in sorted(asset.attributes.items())
            ],
        }

    @staticmethod
    def _held_elsewhere(
        session: Session, asset: Asset, rows: list[SourceRow]
    ) -> Iterator[tuple[str, str]]:
        """The key values of the rows that other assets of the account hold: one look-up a
        key, by the key's own index."""
        for key in KEYS:
            values = {row.keys[key] for row in rows if row.keys[key]}
            if not values:
                continue
            column = getattr(Asset, key)
            for value in session.scalars(
                select(column).where(
                    Asset.client_account_id == asset.client_account_id,
                    column.in_(values),
                    Asset.id != asset.id,
                )
            ):
                yield key, value

    def _mapped_columns(self, session: Session, data_import: DataImport) -> dict[str, list[str]]:
        """Each field's source columns, as the import's stored mappings map them."""
        columns: dict[str, list[str]] = {}
        for mapping in self._mappings.stored(session, data_import):
            if mapping.target_field is not None and mapping.status != MappingStatus.IGNORED:
                columns.setdefault(mapping.target_field, []).append(mapping.source_column)
        return columns


def source_columns(name: str, row: SourceRow, mapped: dict[str, list[str]]) -> list[str]:
    """The columns of the row's import that made the row's value of field ``name``."""
    data, import_type = row.data, row.data_import.import_type
    if name == "name" or (name == "hostname_key" and import_type == "servers"):
        made_of = next(((f,) for f in NAME_FIELDS if data.get(f)), ())
    elif name == "hostname_key":
        made_of = ("name", "host")
    elif name == "asset_type":
        # A databases or applications import says the type of its every row.
        made_of = EVIDENCE if import_type == "servers" else ()
    else:
        made_of = (name, *MADE_FROM.get(name, ()))
    return list(
        dict.fromkeys(
            column for f in made_of if data.get(f) is not None for column in mapped.get(f, ())
        )
    )
