"""dependency_analysis: edges from dependency columns, resolved to assets of the same account.

Unresolved targets are kept as edges without a target asset, and listed; cycles are reported.
An import's rows are the latest word on their assets' dependencies: their old edges are replaced.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, insert, or_, select

from importer.discovery.dependencies import find_cycles, parse_targets
from importer.discovery.normalize import normalize_hostname_key
from importer.models import Asset, AssetDependency, AssetSource, CleanedRecord
from importer.services.sql import in_array, in_uuid_array
from importer.services.step_runner import WorkContext

DEPENDENCY_FIELDS = ("dependencies", "hosts")
# The summary lists this many unresolved targets and cycles; the counts are complete.
LISTED = 100


def target_keys(ref: str) -> tuple[str | None, str | None]:
    """(hostname key, IP) a dependency target may be known by."""
    try:
        return None, str(ipaddress.ip_address(ref))
    except ValueError:
        return normalize_hostname_key(ref), None


class DependencyAnalysisPhase:
    def __init__(self, chunk_size: int) -> None:
        self._chunk_size = chunk_size

    def run(self, ctx: WorkContext) -> dict[str, Any]:
        session, data_import = ctx.session, ctx.data_import
        account = data_import.client_account_id
        targets: dict[uuid.UUID, dict[str, None]] = defaultdict(dict)
        rows = session.execute(
            select(AssetSource.asset_id, CleanedRecord.data)
            .join(
                CleanedRecord,
                (CleanedRecord.import_id == AssetSource.import_id)
                & (CleanedRecord.row_number == AssetSource.row_number),
            )
            .where(
                AssetSource.import_id == data_import.id, AssetSource.client_account_id == account
            )
        )
        for asset_id, data in rows:
            for name in DEPENDENCY_FIELDS:
                for ref in parse_targets(data.get(name)):
                    targets[asset_id][ref] = None
        sources = list(targets)
        ctx.checkpoint(1, 4)
        session.execute(
            delete(AssetDependency).where(
                AssetDependency.client_account_id == account,
                AssetDependency.source_asset_id.in_(
                    select(AssetSource.asset_id).where(AssetSource.import_id == data_import.id)
                ),
            )
        )
        resolved_by = self._resolve(ctx, {ref for refs in targets.values() for ref in refs})
        ctx.checkpoint(2, 4)
        edges, unresolved = [], {}
        for source in sources:
            for ref in targets[source]:
                target = resolved_by.get(ref)
                if target is None:
                    unresolved[ref] = None
                edges.append(
                    {
                        "client_account_id": account,
                        "import_id": data_import.id,
                        "source_asset_id": source,
                        "target_ref": ref,
                        "target_asset_id": target,
                    }
                )
        for start in range(0, len(edges), self._chunk_size):
            session.execute(insert(AssetDependency), edges[start : start + self._chunk_size])
        ctx.checkpoint(3, 4)
        cycles = self._cycles(ctx, set(sources))
        ctx.checkpoint(4, 4)
        return {
            "edges": len(edges),
            "resolved": sum(1 for e in edges if e["target_asset_id"] is not None),
            "unresolved": sum(1 for e in edges if e["target_asset_id"] is None),
            "unresolved_targets": list(unresolved)[:LISTED],
            "cycles": len(cycles),
            "cycle_examples": cycles[:LISTED],
        }

    def _resolve(self, ctx: WorkContext, refs: set[str]) -> dict[str, uuid.UUID]:
        keyed = {ref: target_keys(ref) for ref in refs}
        keys = {k for k, _ in keyed.values() if k}
        ips = {ip for _, ip in keyed.values() if ip}
        if not keys and not ips:
            return {}
        by_key, by_ip = {}, {}
        for asset_id, key, ip in ctx.session.execute(
            select(Asset.id, Asset.hostname_key, Asset.primary_ip).where(
                Asset.client_account_id == ctx.data_import.client_account_id,
                or_(in_array(Asset.hostname_key, keys), in_array(Asset.primary_ip, ips)),
            )
        ):
            if key:
                by_key[key] = asset_id
            if ip:
                by_ip.setdefault(ip, asset_id)
        return {
            ref: target
            for ref, (key, ip) in keyed.items()
            if (target := by_key.get(key) if key else by_ip.get(ip)) is not None
        }

    @staticmethod
    def _cycles(ctx: WorkContext, touched: set[uuid.UUID]) -> list[list[str]]:
        """Cycles of the account's dependency graph that pass through this import's assets."""
        account = ctx.data_import.client_account_id
        edges = ctx.session.execute(
            select(AssetDependency.source_asset_id, AssetDependency.target_asset_id).where(
                AssetDependency.client_account_id == account,
                AssetDependency.target_asset_id.is_not(None),
            )
        ).all()
        groups = [g for g in find_cycles((s, t) for s, t in edges) if touched.intersection(g)]
        if not groups:
            return []
        names = dict(
            ctx.session.execute(
                select(Asset.id, Asset.name).where(
                    in_uuid_array(Asset.id, {n for g in groups[:LISTED] for n in g})
                )
            ).all()
        )
        return [[names.get(node) or str(node) for node in group] for group in groups]
