"""dependency_analysis of a dependencies import: observed connections become dependency edges.

Each row of a flow or connection export (Azure Migrate's dependency export, netstat-style
captures) is one connection seen in some time slot: a source host (name or IP address, process),
a destination host (the same, and a port) and a protocol. The phase adds one observed edge per
(source asset, target, port, protocol), however many slots and rows saw it, with the processes
seen at either end.

It never creates or changes an asset: an export of connections says which hosts talk, not what
they are, and many of its addresses are no inventory's (clients, NAT and load balancer
addresses, hosts outside the estate). Endpoints are found among the account's assets by hostname
key, then by IP address, one index probe a key. A destination not in the inventory stays the
edge's target_ref (its host name, else its IP address), unresolved, as an inventory's unknown
dependency targets do. A source not in the inventory has no asset to hold an edge: its
connections are counted and its name or address listed in the summary (unresolved_sources);
importing the export again once the host is in the inventory adds them.

A later observation of a connection replaces an earlier import's (the edge then belongs to the
later import); the declared dependencies of inventory imports are left alone, and leave these.

In chunks (importer.pipeline.chunks.ChunkedWork). A connection's rows may be in any ranges, so a
range cannot write its edges: each range aggregates its own rows into parts (connection_parts, one
per edge identity the range saw, with its processes in the order seen), replacing its own parts
when done again. The finish merges the parts of every range in row order into one edge per
identity, replaces the older observations of those connections and writes the edges, in one
transaction whose work is in proportion to the import's distinct connections, not to its rows. A
chunk touches nothing but its import's parts, so a discard has nothing of others to put back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from importer.discovery.normalize import normalize_hostname_key
from importer.models import DataImport
from importer.services.phases.dependency_analysis import LISTED, RESOLVE, cycles_through
from importer.services.step_runner import WorkContext
from importer.services.transactions import ImportTransactionManager

MAX_PORT = 65535
LAST_ROW = text("SELECT max(row_number) FROM cleaned_records WHERE import_id = :import_id")
# A range scan of the primary key; only the fields an edge is made of are decoded.
CONNECTIONS = text(
    """
    SELECT row_number, data ->> 'source_hostname', data -> 'source_ip',
           data ->> 'source_process', data ->> 'destination_hostname', data -> 'destination_ip',
           data ->> 'destination_process', data -> 'destination_port', data ->> 'protocol'
    FROM cleaned_records
    WHERE import_id = :import_id AND row_number > :after AND row_number <= :upto
    ORDER BY row_number
    """
)
DELETE_RANGE_PARTS = text(
    "DELETE FROM connection_parts WHERE import_id = :import_id AND range_from = :range_from"
)
DELETE_PARTS = text("DELETE FROM connection_parts WHERE import_id = :import_id")
COPY_PARTS = (
    "COPY connection_parts (import_id, range_from, seq, identity, source_asset_id, source_ref, "
    "target_ref, target_asset_id, port, protocol, source_processes, target_processes) FROM STDIN"
)
# Every range's parts, by the primary key, in row order.
PARTS = text(
    """
    SELECT identity, source_asset_id::text, source_ref, target_ref, target_asset_id::text, port,
           protocol, source_processes, target_processes
    FROM connection_parts WHERE import_id = :import_id ORDER BY range_from, seq
    """
)
DELETE_OWN = text("DELETE FROM asset_dependencies WHERE import_id = :import_id")
# The observed edges of this import's sources, one index probe a source (asset_dependencies has
# no account index, and scanned whole it is every account's edges).
OBSERVED_BEFORE = text(
    """
    SELECT d.id, d.source_asset_id::text, d.target_asset_id::text, d.target_ref, d.port,
           d.protocol
    FROM unnest(CAST(:sources AS uuid[])) AS s (id)
    CROSS JOIN LATERAL (
        SELECT id, source_asset_id, target_asset_id, target_ref, port, protocol
        FROM asset_dependencies WHERE source_asset_id = s.id AND observed OFFSET 0
    ) d
    """
)
DELETE_IDS = text("DELETE FROM asset_dependencies WHERE id = ANY(CAST(:ids AS integer[]))")
COPY_EDGES = (
    "COPY asset_dependencies (client_account_id, import_id, source_asset_id, target_ref, "
    "target_asset_id, observed, port, protocol, source_processes, target_processes) FROM STDIN"
)

# (hostname key, IP address, reference): the reference is what the export called it.
Endpoint = tuple[str | None, str | None, str]


@dataclass
class _Edge:
    target_ref: str
    target: str | None
    source_processes: dict[str, None] = field(default_factory=dict)
    target_processes: dict[str, None] = field(default_factory=dict)


@dataclass
class _Part:
    # (source asset, source ref, target ref, target asset, port, protocol)
    ends: tuple
    # Each process, with the first row that saw it.
    source_processes: dict[str, int] = field(default_factory=dict)
    target_processes: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def in_order(processes: dict[str, int]) -> list[str] | None:
        return sorted(processes, key=processes.__getitem__) or None


def _first_seen(processes: dict[str, int], more: dict[str, int]) -> None:
    for process, row_number in more.items():
        if row_number < processes.get(process, row_number + 1):
            processes[process] = row_number


def endpoint(hostname: Any, ips: Any) -> Endpoint | None:
    """A connection's end as the cleansing left it; None when it names no host."""
    ip = ips[0] if isinstance(ips, list) and ips else ips
    ip = ip if isinstance(ip, str) and ip else None
    # An address is also a hostname key: that of a server whose export named it by its address.
    key = normalize_hostname_key(hostname or ip)
    ref = hostname or ip
    return None if ref is None else (key, ip, ref)


def port_of(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value <= MAX_PORT else None


class ConnectionsPhase:
    """The phase's work for dependencies imports, in chunks (see the module's docstring)."""

    def __init__(self, chunk_size: int) -> None:
        self._chunk_size = chunk_size

    def plan(self, session: Session, data_import: DataImport) -> tuple[int, dict[str, Any]]:
        return session.scalar(LAST_ROW, {"import_id": data_import.id}) or 0, {}

    def chunk(
        self, session: Session, data_import: DataImport, plan: dict[str, Any], after: int, upto: int
    ) -> dict[str, Any]:
        bounds = {"import_id": data_import.id, "after": after, "upto": upto}
        # (source, destination, port, protocol) -> the processes at the source and at the
        # destination, each with the first row that saw it: an edge lists its processes in the
        # order its rows first saw them, however the rows are cut into ranges.
        seen: dict[tuple, tuple[dict[str, int], dict[str, int]]] = {}
        rows = session.execute(CONNECTIONS, bounds).all()
        for row_number, host, ips, process, to_host, to_ips, to_process, port, protocol in rows:
            source, target = endpoint(host, ips), endpoint(to_host, to_ips)
            if source is None or target is None:
                continue  # validation lets none through; a mapping changed since may
            key = (source, target, port_of(port), protocol.upper() if protocol else None)
            processes = seen.setdefault(key, ({}, {}))
            if process:
                processes[0].setdefault(process, row_number)
            if to_process:
                processes[1].setdefault(to_process, row_number)
        asset_of = self._resolve(session, data_import, {end for key in seen for end in key[:2]})
        parts: dict[str, _Part] = {}
        for (source, target, port, protocol), (from_processes, to_processes) in seen.items():
            source_id, target_id = asset_of.get(source), asset_of.get(target)
            # A destination known by name in one row and by address in another is one target.
            # A source in no inventory is counted per connection as the rows name it.
            identity = orjson.dumps(
                (source_id, target_id or target[2], port, protocol)
                if source_id
                else (None, source, target, port, protocol)
            ).decode()
            part = parts.setdefault(
                identity, _Part((source_id, source[2], target[2], target_id, port, protocol))
            )
            _first_seen(part.source_processes, from_processes)
            _first_seen(part.target_processes, to_processes)
        session.execute(DELETE_RANGE_PARTS, {"import_id": data_import.id, "range_from": after + 1})
        if parts:
            conn = ImportTransactionManager.driver_connection(session)
            with conn.cursor() as cursor, cursor.copy(COPY_PARTS) as copy:
                for seq, (identity, part) in enumerate(parts.items()):
                    copy.write_row(
                        (
                            str(data_import.id),
                            after + 1,
                            seq,
                            identity,
                            *part.ends,
                            part.in_order(part.source_processes),
                            part.in_order(part.target_processes),
                        )
                    )
        return {"rows": len(rows)}

    def _resolve(
        self, session: Session, data_import: DataImport, ends: set[Endpoint]
    ) -> dict[Endpoint, str]:
        """The asset of each end: by its hostname key, else by its IP address."""
        keys = sorted({key for key, _, _ in ends if key})
        ips = sorted({ip for _, ip, _ in ends if ip})
        by_key: dict[str, str] = {}
        by_ip: dict[str, str] = {}
        account = data_import.client_account_id
        for start in range(0, max(len(keys), len(ips)), self._chunk_size):
            batch = {
                "account": account,
                "keys": keys[start : start + self._chunk_size],
                "ips": ips[start : start + self._chunk_size],
            }
            for asset_id, key, ip in session.execute(RESOLVE, batch):
                if key:
                    by_key[key] = asset_id
                if ip:
                    by_ip.setdefault(ip, asset_id)
        found = {}
        for end in ends:
            key, ip, _ = end
            asset_id = (key and by_key.get(key)) or (ip and by_ip.get(ip))
            if asset_id:
                found[end] = asset_id
        return found

    def finish(self, ctx: WorkContext, plan: dict[str, Any], summaries: list[dict]) -> dict:
        session, data_import = ctx.session, ctx.data_import
        edges: dict[tuple, _Edge] = {}
        without_source: set[str] = set()
        unresolved_sources: dict[str, None] = {}
        parts = session.execute(PARTS, {"import_id": data_import.id})
        for identity, source, source_ref, target_ref, target, port, protocol, *processes in parts:
            if source is None:
                without_source.add(identity)
                unresolved_sources[source_ref] = None
                continue
            edge = edges.setdefault(
                (source, target or target_ref, port, protocol), _Edge(target_ref, target)
            )
            edge.source_processes.update(dict.fromkeys(processes[0] or ()))
            edge.target_processes.update(dict.fromkeys(processes[1] or ()))
        replaced = self._replace(ctx, edges)
        self._write(ctx, edges)
        session.execute(DELETE_PARTS, {"import_id": data_import.id})
        resolved_edges = [(key[0], edge.target) for key, edge in edges.items() if edge.target]
        cycles = cycles_through(ctx, {key[0] for key in edges}, resolved_edges)
        unresolved = dict.fromkeys(e.target_ref for e in edges.values() if e.target is None)
        return {
            "rows": sum(summary["rows"] for summary in summaries),
            "edges": len(edges),
            "resolved": len(resolved_edges),
            "unresolved": len(edges) - len(resolved_edges),
            "unresolved_targets": list(unresolved)[:LISTED],
            "connections_without_source": len(without_source),
            "unresolved_sources": list(unresolved_sources)[:LISTED],
            "replaced": replaced,
            "cycles": len(cycles),
            "cycle_examples": cycles[:LISTED],
        }

    def discard(self, session: Session, data_import: DataImport) -> None:
        session.execute(DELETE_PARTS, {"import_id": data_import.id})
        # A phase run again after it succeeded once: its edges are the finish's to write.
        session.execute(DELETE_OWN, {"import_id": data_import.id})

    @staticmethod
    def _replace(ctx: WorkContext, edges: dict[tuple, _Edge]) -> int:
        """Delete this import's edges (a phase run again) and older observations of its
        connections; returns how many of the latter."""
        session, data_import = ctx.session, ctx.data_import
        session.execute(DELETE_OWN, {"import_id": data_import.id})
        sources = sorted({source for source, *_ in edges})
        if not sources:
            return 0
        older = [
            edge_id
            for edge_id, source, target, ref, port, protocol in session.execute(
                OBSERVED_BEFORE, {"sources": sources}
            )
            if (source, target or ref, port, protocol) in edges
        ]
        if older:
            session.execute(DELETE_IDS, {"ids": older})
        return len(older)

    def _write(self, ctx: WorkContext, edges: dict[tuple, _Edge]) -> None:
        conn = ImportTransactionManager.driver_connection(ctx.session)
        owner = (str(ctx.data_import.client_account_id), str(ctx.data_import.id))
        rows = [
            (
                *owner,
                source,
                edge.target_ref,
                edge.target,
                True,
                port,
                protocol,
                list(edge.source_processes) or None,
                list(edge.target_processes) or None,
            )
            for (source, _, port, protocol), edge in edges.items()
        ]
        for start in range(0, len(rows), self._chunk_size):
            with conn.cursor() as cursor, cursor.copy(COPY_EDGES) as copy:
                for row in rows[start : start + self._chunk_size]:
                    copy.write_row(row)
