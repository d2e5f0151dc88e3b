"""dependency_analysis: edges from dependency columns, resolved to assets of the same account.

Unresolved targets are kept as edges without a target asset, and listed; cycles are reported.
An import's rows are the latest word on their assets' dependencies: their old edges are replaced
(not the connections a dependencies import observed: importer.services.phases.connections).
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, select, text

from importer.discovery.dependencies import find_cycles, parse_targets
from importer.discovery.normalize import normalize_hostname_key
from importer.models import AssetDependency, AssetSource
from importer.models.asset import ACCOUNT_SCAN
from importer.services.range_reader import RangeReader
from importer.services.step_runner import WorkContext
from importer.services.table_statistics import TableStatistics
from importer.services.transactions import ImportTransactionManager

DEPENDENCY_FIELDS = ("dependencies", "hosts")
# The summary lists this many unresolved targets and cycles; the counts are complete.
LISTED = 100
# A range's rows: their assets, and the dependency fields of those that have one (the rest of a
# row is not decoded). Two range scans of primary keys, paired by row number in Python: no join
# for the planner to choose. Joined in SQL, with statistics taken before the import, PostgreSQL
# took the range, not the row number, as the inner index condition of a nested loop: each range
# paired every row with every other (60k rows after 1.1M of other imports: 62 s).
TARGETS = text(
    """
    SELECT row_number, asset_id::text, NULL::jsonb, NULL::jsonb FROM asset_sources
    WHERE import_id = :import_id AND row_number > :after AND row_number <= :upto
    UNION ALL
    SELECT row_number, NULL, data -> 'dependencies', data -> 'hosts' FROM cleaned_records
    WHERE import_id = :import_id AND row_number > :after AND row_number <= :upto
      AND data ?| array['dependencies', 'hosts']
    ORDER BY 1
    """
)
LAST_ROW = text("SELECT max(row_number) FROM asset_sources WHERE import_id = :import_id")
# Asset ids travel as text: this phase only compares and copies them, and text is several
# times cheaper to fetch than uuid.UUID objects. One index probe a key, by its own key's index: a
# name is probed as a server's hostname key and as an application's ("app:<name>").
RESOLVE = text(
    """
    SELECT a.id::text, a.hostname_key, NULL FROM unnest(CAST(:keys AS text[])) AS k (value)
    CROSS JOIN LATERAL (
        SELECT id, hostname_key FROM assets
        WHERE client_account_id = :account AND hostname_key = k.value OFFSET 0
    ) a
    UNION ALL
    SELECT a.id::text, NULL, a.primary_ip FROM unnest(CAST(:ips AS text[])) AS k (value)
    CROSS JOIN LATERAL (
        SELECT id, primary_ip FROM assets
        WHERE client_account_id = :account AND primary_ip = k.value OFFSET 0
    ) a
    """
)
# The account's other resolved edges (this import's are at hand already), found from the
# account's assets one index probe each: asset_dependencies has no account index, and scanned
# whole it is every account's edges.
OTHER_EDGES = text(
    f"""
    SELECT d.source_asset_id::text, d.target_asset_id::text
    FROM assets a CROSS JOIN LATERAL (
        SELECT source_asset_id, target_asset_id FROM asset_dependencies
        WHERE source_asset_id = a.id AND target_asset_id IS NOT NULL AND import_id <> :import_id
        OFFSET 0
    ) d
    WHERE a.client_account_id = :account AND a.{ACCOUNT_SCAN}
    """
)
NAMES = text("SELECT id::text, name FROM assets WHERE id = ANY(CAST(:ids AS uuid[]))")
COPY_EDGES = (
    "COPY asset_dependencies "
    "(client_account_id, import_id, source_asset_id, target_ref, target_asset_id) FROM STDIN"
)


# Only text of these characters can be an IP address: others are not tried (a failed parse
# costs an exception, and most targets are names).
_MAYBE_IPV4 = re.compile(r"[0-9.]+")


def target_keys(ref: str, applications_first: bool = False) -> tuple[tuple[str, ...], str | None]:
    """(hostname keys, IP) a dependency target may be known by, the keys in the order tried.

    A name is a server's hostname key or an application's ("app:<name>", as identity() keys
    them): an applications import names applications first, the others servers first.
    """
    if ":" in ref or _MAYBE_IPV4.fullmatch(ref):
        try:
            return (), str(ipaddress.ip_address(ref))
        except ValueError:
            pass
    key = normalize_hostname_key(ref)
    if key is None:
        return (), None
    keys = (key, f"app:{key}")
    return (keys[::-1] if applications_first else keys), None


class DependencyAnalysisPhase:
    def __init__(self, chunk_size: int, reader: RangeReader, statistics: TableStatistics) -> None:
        self._chunk_size = chunk_size
        self._reader = reader
        self._statistics = statistics

    def run(self, ctx: WorkContext) -> dict[str, Any]:
        session, data_import = ctx.session, ctx.data_import
        for table in ("asset_sources", "assets"):
            self._statistics.refresh(table)
        account = data_import.client_account_id
        params = {"import_id": data_import.id, "account": account}
        targets: dict[str, dict[str, None]] = defaultdict(dict)
        last = session.scalar(LAST_ROW, params) or 0
        # Reading is half the work: row ranges, so that a cancel is honoured between them.
        for _, upto, rows in self._reader.ranges(TARGETS, params, last, self._chunk_size):
            asset_of = {row_number: asset_id for row_number, asset_id, *_ in rows if asset_id}
            for row_number, _, *values in rows:
                # A row without an asset (an invalid one) has no edges.
                if (asset_id := asset_of.get(row_number)) is None:
                    continue
                for value in values:
                    # Most rows fill one of the two fields: the other is no call.
                    if value is not None and (refs := parse_targets(value)):
                        targets[asset_id].update(dict.fromkeys(refs))
            ctx.checkpoint(min(upto, last), 2 * last)
        sources = list(targets)
        session.execute(
            delete(AssetDependency)
            .where(
                AssetDependency.client_account_id == account,
                # Connections a dependencies import observed are not this export's to replace.
                AssetDependency.observed.is_(False),
                AssetDependency.source_asset_id.in_(
                    select(AssetSource.asset_id).where(AssetSource.import_id == data_import.id)
                ),
            )
            # The session holds no edges: fetching the deleted ids to expire them is waste.
            .execution_options(synchronize_session=False)
        )
        resolved_by = self._resolve(ctx, {ref for refs in targets.values() for ref in refs})
        edges = [
            (source, ref, resolved_by.get(ref)) for source in sources for ref in targets[source]
        ]
        conn = ImportTransactionManager.driver_connection(session)
        # As text, like the asset ids: dumping the same two UUIDs a million times cost 1 s.
        owner = (str(account), str(data_import.id))
        for start in range(0, len(edges), self._chunk_size):
            with conn.cursor() as cursor, cursor.copy(COPY_EDGES) as copy:
                for edge in edges[start : start + self._chunk_size]:
                    copy.write_row(owner + edge)
            ctx.checkpoint(last + (start + self._chunk_size) * last // len(edges), 2 * last)
        resolved_edges = [(source, target) for source, _, target in edges if target is not None]
        cycles = cycles_through(ctx, set(sources), resolved_edges)
        ctx.checkpoint(1, 1)
        resolved = sum(1 for _, _, target in edges if target is not None)
        unresolved = dict.fromkeys(ref for _, ref, target in edges if target is None)
        return {
            "edges": len(edges),
            "resolved": resolved,
            "unresolved": len(edges) - resolved,
            "unresolved_targets": list(unresolved)[:LISTED],
            "cycles": len(cycles),
            "cycle_examples": cycles[:LISTED],
        }

    def _resolve(self, ctx: WorkContext, refs: set[str]) -> dict[str, str]:
        applications_first = ctx.data_import.import_type == "applications"
        keyed = {ref: target_keys(ref, applications_first) for ref in refs}
        keys = {k for ks, _ in keyed.values() for k in ks}
        ips = {ip for _, ip in keyed.values() if ip}
        if not keys and not ips:
            return {}
        by_key, by_ip = {}, {}
        rows = ctx.session.execute(
            RESOLVE,
            {
                "account": ctx.data_import.client_account_id,
                "keys": list(keys),
                "ips": list(ips),
            },
        )
        for asset_id, key, ip in rows:
            if key:
                by_key[key] = asset_id
            if ip:
                by_ip.setdefault(ip, asset_id)
        resolved = {}
        for ref, (ks, ip) in keyed.items():
            target = next((by_key[k] for k in ks if k in by_key), None) if ks else by_ip.get(ip)
            if target is not None:
                resolved[ref] = target
        return resolved


def cycles_through(
    ctx: WorkContext, touched: set[str], own_edges: list[tuple[str, str]]
) -> list[list[str]]:
    """Cycles of the account's dependency graph that pass through ``touched`` assets, by name.

    ``own_edges`` are the import's resolved edges; the account's others are read.
    """
    params = {"account": ctx.data_import.client_account_id, "import_id": ctx.data_import.id}
    edges = own_edges + ctx.session.execute(OTHER_EDGES, params).all()
    groups = [g for g in find_cycles(edges) if touched.intersection(g)]
    if not groups:
        return []
    listed = list({node for group in groups[:LISTED] for node in group})
    names = dict(ctx.session.execute(NAMES, {"ids": listed}).all())
    return [[names.get(node) or node for node in group] for group in groups]
