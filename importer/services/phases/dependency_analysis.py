"""dependency_analysis: edges from dependency columns, resolved to assets of the same account.

Unresolved targets are kept as edges without a target asset, and listed; cycles are reported.
An import's rows are the latest word on their assets' dependencies: their old edges are replaced
(not the connections a dependencies import observed: importer.services.phases.connections).

In chunks (importer.pipeline.chunks.ChunkedWork): each range of rows writes the edges its rows
declare, each keyed by its row (source_row), and replaces the declared edges of other imports
from its assets, keeping them aside (importer.services.displaced) for a discard to put back. An
asset of rows in several ranges has one edge per target: the edge is written by the range of the
asset's first row that names the target, which a range finds by reading the asset's earlier rows
in the import. The finish adds up the ranges' counts and finds the cycles.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from importer.discovery.dependencies import find_cycles, parse_targets
from importer.discovery.normalize import normalize_hostname_key
from importer.models import DataImport, FlowPhase
from importer.models.asset import ACCOUNT_SCAN
from importer.services.displaced import Displaced
from importer.services.step_runner import WorkContext
from importer.services.transactions import ImportTransactionManager

# The summary lists this many unresolved targets and cycles; the counts are complete.
LISTED = 100
PHASE = FlowPhase.DEPENDENCY_ANALYSIS
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
# The dependency fields of the import's rows before the range that describe the range's assets
# (an asset of several rows): one probe of the asset's rows by the asset index, then one of the
# row by the primary key. The import and bound are checked outside the probe (OFFSET 0 keeps them
# out): inside, with statistics taken before the import, the primary key's range "the import's
# rows up to here" looked as cheap, and is every earlier row of the import for each asset.
EARLIER_TARGETS = text(
    """
    SELECT s.asset_id::text, c.dependencies, c.hosts
    FROM unnest(CAST(:assets AS uuid[])) AS a (id)
    CROSS JOIN LATERAL (
        SELECT asset_id, import_id, row_number FROM asset_sources WHERE asset_id = a.id OFFSET 0
    ) s
    CROSS JOIN LATERAL (
        SELECT data -> 'dependencies' AS dependencies, data -> 'hosts' AS hosts
        FROM cleaned_records WHERE import_id = s.import_id AND row_number = s.row_number OFFSET 0
    ) c
    WHERE s.import_id = :import_id AND s.row_number <= :after
    """
)
LAST_ROW = text("SELECT max(row_number) FROM asset_sources WHERE import_id = :import_id")
# The range's own edges, by the import's index of edges by row: a range done again replaces them.
DELETE_RANGE = text(
    """
    DELETE FROM asset_dependencies
    WHERE import_id = :import_id AND source_row > :after AND source_row <= :upto
    """
)
DELETE_OWN = text("DELETE FROM asset_dependencies WHERE import_id = :import_id")
# Other imports' declared edges from the range's assets, which its rows replace: one index probe
# a source (asset_dependencies has no account index, and scanned whole it is every account's
# edges). Connections a dependencies import observed are not this export's to replace.
DELETE_REPLACED = """
    DELETE FROM asset_dependencies WHERE id = ANY(ARRAY(
        SELECT d.id FROM unnest(CAST(:sources AS uuid[])) AS s (id)
        CROSS JOIN LATERAL (
            SELECT id, import_id, observed FROM asset_dependencies
            WHERE source_asset_id = s.id OFFSET 0
        ) d
        WHERE NOT d.observed AND d.import_id <> :import_id
    ))
    RETURNING *
"""
# A replaced edge goes back only if its import and assets were not deleted since (their triggers
# deleted their edges, not the copies kept aside): one primary-key probe each.
STILL_THERE = """
    EXISTS (SELECT FROM data_imports WHERE id = (r.row).import_id)
    AND EXISTS (SELECT FROM assets WHERE id = (r.row).source_asset_id)
    AND ((r.row).target_asset_id IS NULL
         OR EXISTS (SELECT FROM assets WHERE id = (r.row).target_asset_id))
"""
# The import's edges, by its index, in the order its rows name them: what the finish looks for
# cycles through.
OWN_EDGES = text(
    """
    SELECT source_asset_id::text, target_asset_id::text FROM asset_dependencies
    WHERE import_id = :import_id ORDER BY source_row, id
    """
)
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
    "COPY asset_dependencies (client_account_id, import_id, source_row, source_asset_id, "
    "target_ref, target_asset_id) FROM STDIN"
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
    """The phase's work for inventory imports, in chunks (see the module's docstring)."""

    def plan(self, session: Session, data_import: DataImport) -> tuple[int, dict[str, Any]]:
        return session.scalar(LAST_ROW, {"import_id": data_import.id}) or 0, {}

    def chunk(
        self, session: Session, data_import: DataImport, plan: dict[str, Any], after: int, upto: int
    ) -> dict[str, Any]:
        bounds = {"import_id": data_import.id, "after": after, "upto": upto}
        rows = session.execute(TARGETS, bounds).all()
        asset_of = {row_number: asset_id for row_number, asset_id, *_ in rows if asset_id}
        # (source, target) -> the range's first row naming it, in the order the rows name them.
        named: dict[tuple[str, str], int] = {}
        for row_number, _, *values in rows:
            # A row without an asset (an invalid one) has no edges.
            if (asset_id := asset_of.get(row_number)) is None:
                continue
            for value in values:
                # Most rows fill one of the two fields: the other is no call.
                if value is not None:
                    for ref in parse_targets(value):
                        named.setdefault((asset_id, ref), row_number)
        if named:
            for pair in self._named_before(session, data_import, named, after):
                named.pop(pair, None)
        session.execute(DELETE_RANGE, bounds)
        sources = sorted(set(asset_of.values()))
        if sources:
            Displaced(session, data_import.id, PHASE).delete(
                "asset_dependencies",
                DELETE_REPLACED,
                {"sources": sources, "import_id": data_import.id},
            )
        resolved_by = resolve(session, data_import, {ref for _, ref in named})
        edges = [
            (row_number, source, ref, resolved_by.get(ref))
            for (source, ref), row_number in named.items()
        ]
        if edges:
            conn = ImportTransactionManager.driver_connection(session)
            # As text, like the asset ids: dumping the same two UUIDs for every edge costs.
            owner = (str(data_import.client_account_id), str(data_import.id))
            with conn.cursor() as cursor, cursor.copy(COPY_EDGES) as copy:
                for edge in edges:
                    copy.write_row(owner + edge)
        unresolved = dict.fromkeys(ref for *_, ref, target in edges if target is None)
        return {
            "edges": len(edges),
            "resolved": sum(1 for *_, target in edges if target is not None),
            # Enough of the range's for the first LISTED of the import's.
            "unresolved_targets": list(unresolved)[:LISTED],
        }

    @staticmethod
    def _named_before(
        session: Session, data_import: DataImport, named: dict[tuple[str, str], int], after: int
    ) -> set[tuple[str, str]]:
        """The range's (source, target) pairs that an earlier row of the import names: their
        edge is an earlier range's."""
        if after == 0:
            return set()
        params = {
            "assets": sorted({source for source, _ in named}),
            "import_id": data_import.id,
            "after": after,
        }
        before = set()
        for asset_id, *values in session.execute(EARLIER_TARGETS, params):
            for value in values:
                if value is not None:
                    before.update((asset_id, ref) for ref in parse_targets(value))
        return before

    def finish(self, ctx: WorkContext, plan: dict[str, Any], summaries: list[dict]) -> dict:
        session, data_import = ctx.session, ctx.data_import
        edges = session.execute(OWN_EDGES, {"import_id": data_import.id}).all()
        sources = {source for source, _ in edges}
        resolved_edges = [(source, target) for source, target in edges if target is not None]
        cycles = cycles_through(ctx, sources, resolved_edges)
        Displaced(session, data_import.id, PHASE).forget()
        total = sum(summary["edges"] for summary in summaries)
        resolved = sum(summary["resolved"] for summary in summaries)
        unresolved = dict.fromkeys(
            ref for summary in summaries for ref in summary["unresolved_targets"]
        )
        return {
            "edges": total,
            "resolved": resolved,
            "unresolved": total - resolved,
            "unresolved_targets": list(unresolved)[:LISTED],
            "cycles": len(cycles),
            "cycle_examples": cycles[:LISTED],
        }

    def discard(self, session: Session, data_import: DataImport) -> None:
        session.execute(DELETE_OWN, {"import_id": data_import.id})
        displaced = Displaced(session, data_import.id, PHASE)
        displaced.restore_deleted("asset_dependencies", STILL_THERE)
        displaced.forget()


def resolve(session: Session, data_import: DataImport, refs: set[str]) -> dict[str, str]:
    """The account's asset each dependency target names, of those it finds."""
    applications_first = data_import.import_type == "applications"
    keyed = {ref: target_keys(ref, applications_first) for ref in refs}
    keys = {k for ks, _ in keyed.values() for k in ks}
    ips = {ip for _, ip in keyed.values() if ip}
    if not keys and not ips:
        return {}
    by_key, by_ip = {}, {}
    rows = session.execute(
        RESOLVE,
        {"account": data_import.client_account_id, "keys": list(keys), "ips": list(ips)},
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
