"""Read-side queries of flows and the asset inventory, scoped to the caller's client account."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, aliased

from importer.errors import NotFound
from importer.models import (
    PHASE_ORDER,
    Asset,
    AssetDependency,
    AssetSource,
    DataImport,
    DiscoveryFlow,
    DiscoveryPhaseRun,
)
from importer.models.asset import ACCOUNT_SCAN, ASSET_TYPES, SEVERITIES
from importer.services.pagination import InvalidQuery, page_by_id

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


class InventoryQueryService:
    def flow(
        self, session: Session, flow_id: uuid.UUID, client_account_id: uuid.UUID
    ) -> tuple[DiscoveryFlow, list[DiscoveryPhaseRun]]:
        flow = session.scalars(
            select(DiscoveryFlow).where(
                DiscoveryFlow.id == flow_id, DiscoveryFlow.client_account_id == client_account_id
            )
        ).one_or_none()
        if flow is None:
            raise NotFound("No such flow.", details={"id": str(flow_id)})
        phases = session.scalars(
            select(DiscoveryPhaseRun).where(DiscoveryPhaseRun.flow_id == flow.id)
        ).all()
        return flow, sorted(phases, key=lambda run: PHASE_ORDER.index(run.phase))

    def assets(
        self,
        session: Session,
        client_account_id: uuid.UUID,
        filters: dict[str, str],
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Asset], str | None]:
        query = select(Asset).where(
            Asset.client_account_id == client_account_id, text(ACCOUNT_SCAN)
        )
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
