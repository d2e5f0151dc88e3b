"""Undo: take a completed import back out of its account's inventory, as if it never ran.

The inventory is derived from its sources: the imports' cleaned rows (cleaned_records) and which
asset each row went to (asset_sources). Undoing an import recomputes only the assets it touched,
from the rows the account's other imports gave them, merged as the inventory phase merges them
(asset_inventory's Known, row_fields and merge_row; the precedence of its docstring).

Which rows: the phase's outcome for a row depends only on the assets that hold one of its key
values (by key: uuid, serial, record id, hostname key, IP) when it is matched, and those assets
hold only values of their own rows. So the account's rows fall into groups that never meet:
the rows linked by a shared key value or a shared asset, transitively. The groups holding the
import's assets are replayed, all of their other imports' rows from an empty inventory, import
by import in the order they were made (created_at, as the phase's precedence orders them) and
range by range as the phase reads them; every other asset is left as it is. The replay gives the
assets, each row's matched_on, and the merges waiting for review (a decided one keeps its
decision: approved lands the row on the asset it was paired with, split keeps it apart). A
replayed asset keeps the id of the asset its first row belonged to, so that the edges and merge
reviews of other imports that name it stay; assets no replayed row made are deleted.

Dependencies: the import's own edges go. An asset's declared edges are those of the last import
that described it (dependency_analysis replaces them): the replayed assets get the edges their
last remaining import's rows declare. Those, and the edges of other assets that named a replayed
asset, are resolved as their import's analysis found them: against the replayed assets as the
replay had them after that import, or another asset made by then. End-of-support flags are
written with the assets, from their resulting OS.

Transactions: the work transaction takes the account's inventory lock and holds it until the
undo ends (no inventory of the account changes meanwhile); it reads the key columns of the
account's committed rows once (a few columns a row) and groups them. The groups are then
replayed and written in batches of whole groups (about IMPORTER_CHUNK_SIZE assets), each in a
short transaction of its own that commits only while the undo run is running; progress and the
heartbeat between batches. A batch is whole: the import's rows of its groups lose their sources
in it. So a failure or a lost worker leaves the batches done and the import ``undoing``; undoing
it again (or a redelivered task, once the lost worker's locks are gone) recomputes the groups
from what is left and finishes the work. An ``undoing`` import cannot be cancelled.
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import exists, select, text
from sqlalchemy.orm import Session

from importer import json_codec
from importer.discovery.dependencies import parse_targets
from importer.discovery.match_confidence import fqdn
from importer.errors import Conflict, NotFound
from importer.models import (
    AssetSource,
    ClientAccount,
    DataImport,
    FlowPhase,
    ImportStatus,
    Run,
    RunKind,
    RunStatus,
)
from importer.pipeline import transitions
from importer.services.phases.asset_inventory import (
    COMPARED,
    COPY_ASSETS,
    COPY_MERGES,
    COPY_SOURCES,
    MATCHED_ON,
    ROW_KEYS,
    WRITTEN,
    AssetInventoryPhase,
    Known,
    Proposal,
    lock_inventory,
    ordered_id,
    review_key,
)
from importer.services.phases.dependency_analysis import target_keys
from importer.services.phases.tech_debt import end_of_support_table
from importer.services.step_runner import Fenced, RunUnit, WorkContext
from importer.services.transactions import ImportTransactionManager

# The account's imports whose inventory is in place: those with sources.
COMMITTED = (
    select(DataImport)
    .where(exists().where(AssetSource.import_id == DataImport.id))
    .order_by(DataImport.created_at, DataImport.id)
)
# An import's rows as the matching sees them: which asset each went to, and its keys. Two scans
# of primary keys, paired by row number in Python: no join for a planner to get wrong.
SOURCES_OF = text(
    "SELECT row_number, asset_id FROM asset_sources WHERE import_id = :import_id "
    "ORDER BY row_number"
)
KEYS_OF = text(
    f"SELECT row_number, {', '.join(ROW_KEYS)} FROM cleaned_records "
    "WHERE import_id = :import_id ORDER BY row_number"
)
# The replayed rows in full.
ROWS_OF = text(
    f"""
    SELECT row_number, data, {", ".join(ROW_KEYS)}, asset_type FROM cleaned_records
    WHERE import_id = :import_id AND row_number = ANY(CAST(:rows AS integer[]))
    """
)
MERGES_OF = text(
    """
    SELECT m.import_id, m.row_number, m.status FROM unnest(CAST(:ids AS uuid[])) AS k (id)
    CROSS JOIN LATERAL (
        SELECT import_id, row_number, status FROM asset_merges
        WHERE (asset_id = k.id OR proposed_asset_id = k.id) AND status <> 'pending' OFFSET 0
    ) m
    """
)
# The reviews of the replayed assets, the import's among them (its weak matches paired assets
# that hold its rows' keys), each found by its own index: the replay writes them again.
DELETE_MERGES = [
    text(
        f"""
        DELETE FROM asset_merges m USING unnest(CAST(:ids AS uuid[])) AS k (id)
        WHERE m.{column} = k.id
        """
    )
    for column in ("asset_id", "proposed_asset_id")
]
DELETE_ASSETS = text("DELETE FROM assets WHERE id = ANY(CAST(:ids AS uuid[]))")
DELETE_SOURCES = text(
    """
    DELETE FROM asset_sources s USING unnest(CAST(:ids AS uuid[])) AS k (id)
    WHERE s.asset_id = k.id
    """
)
DELETE_IMPORT_SOURCES = text("DELETE FROM asset_sources WHERE import_id = :import_id")
DELETE_IMPORT_EDGES = text("DELETE FROM asset_dependencies WHERE import_id = :import_id")
# Declared edges of the replayed assets: replaced by their last import's.
DELETE_DECLARED = text(
    """
    DELETE FROM asset_dependencies d USING unnest(CAST(:ids AS uuid[])) AS k (id)
    WHERE d.source_asset_id = k.id AND NOT d.observed
    """
)
# Edges pointing at assets about to be deleted, kept (their target cleared) to be resolved again.
UNTARGET = text(
    """
    UPDATE asset_dependencies d SET target_asset_id = NULL
    FROM unnest(CAST(:ids AS uuid[])) AS k (id)
    WHERE d.target_asset_id = k.id
    RETURNING d.id, d.target_ref, d.import_id
    """
)
RETARGET = text(
    """
    UPDATE asset_dependencies d SET target_asset_id = CAST(t.target AS uuid)
    FROM unnest(CAST(:ids AS integer[]), CAST(:targets AS text[])) AS t (id, target)
    WHERE d.id = t.id
    """
)
# The assets a target may name that the undo did not replay, with when they were first made.
OUTSIDE = text(
    """
    SELECT a.id::text, a.hostname_key, NULL, i.created_at
    FROM unnest(CAST(:keys AS text[])) AS k (value)
    CROSS JOIN LATERAL (
        SELECT id, hostname_key, first_import_id FROM assets
        WHERE client_account_id = :account AND hostname_key = k.value OFFSET 0
    ) a
    LEFT JOIN data_imports i ON i.id = a.first_import_id
    UNION ALL
    SELECT a.id::text, NULL, a.primary_ip, i.created_at
    FROM unnest(CAST(:ips AS text[])) AS k (value)
    CROSS JOIN LATERAL (
        SELECT id, primary_ip, first_import_id FROM assets
        WHERE client_account_id = :account AND primary_ip = k.value ORDER BY id OFFSET 0
    ) a
    LEFT JOIN data_imports i ON i.id = a.first_import_id
    """
)
COPY_EDGES = (
    "COPY asset_dependencies "
    "(client_account_id, import_id, source_asset_id, target_ref, target_asset_id) FROM STDIN"
)
# Hostname keys are unique within an account: the rewritten assets whose key changes give theirs
# up first.
RELEASE_NAMES = text(
    """
    UPDATE assets a SET hostname_key = NULL
    FROM unnest(CAST(:ids AS uuid[]), CAST(:keys AS text[])) AS x (id, key)
    WHERE a.id = ANY(CAST(:ids AS uuid[])) AND a.id = x.id
      AND a.hostname_key IS NOT NULL AND a.hostname_key IS DISTINCT FROM x.key
    """
)
# The rewritten assets go through a temporary table, as the phase's changes do, with their first
# import too; an asset the replay left as it was is not written again.
UNDO_CHANGES = text(
    f"""
    CREATE TEMP TABLE IF NOT EXISTS undo_changes ON COMMIT DROP AS
    SELECT id, first_import_id, {", ".join(WRITTEN)} FROM assets WITH NO DATA
    """
)
COPY_UNDO_CHANGES = f"COPY undo_changes (id, first_import_id, {', '.join(WRITTEN)}) FROM STDIN"
_REWRITTEN = ("first_import_id", *WRITTEN)
APPLY_CHANGES = f"""
    UPDATE assets a SET {", ".join(f"{c} = x.{c}" for c in _REWRITTEN)}, updated_at = now()
    FROM undo_changes x WHERE a.id = ANY(CAST(%(ids)s AS uuid[])) AND a.id = x.id
      AND ({", ".join(f"a.{c}" for c in _REWRITTEN)})
          IS DISTINCT FROM ({", ".join(f"x.{c}" for c in _REWRITTEN)})
"""
INVENTORY_RUNNING = (
    select(Run.import_id)
    .where(
        Run.kind == RunKind.PHASE,
        Run.name == FlowPhase.ASSET_INVENTORY,
        Run.status == RunStatus.RUNNING,
    )
    .limit(1)
)


class _Groups:
    """Union-find over the account's rows, their key values and their assets."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.ids: dict[Any, int] = {}

    def node(self, key: Any) -> int:
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.parent)
            self.parent.append(found)
        return found

    def find(self, node: int) -> int:
        parent = self.parent
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    def union(self, one: int, other: int) -> None:
        one, other = self.find(one), self.find(other)
        if one != other:
            self.parent[other] = one


@dataclass
class _Replay:
    """The replayed groups: their assets (by id) and what each of their rows became."""

    assets: dict[uuid.UUID, dict] = field(default_factory=dict)
    # (import id, row number, asset id, matched_on) of every replayed row, in replay order.
    sources: list[tuple[uuid.UUID, int, uuid.UUID, str]] = field(default_factory=list)
    # (import id, row number, own asset id, proposal, status) of each weak match.
    merges: list[tuple[uuid.UUID, int, uuid.UUID | None, Proposal, str]] = field(
        default_factory=list
    )
    # Each asset's last import (replay order) and its rows of it: where its declared edges are.
    last_rows: dict[uuid.UUID, tuple[uuid.UUID, list[dict]]] = field(default_factory=dict)
    # After each replayed import ((created_at, id)): the replayed assets by hostname key and by
    # IP (the oldest holding it), as a dependency target would have found them then.
    states: list[tuple[tuple[datetime, str], dict, dict]] = field(default_factory=list)
    # The assets the replay rewrites or deletes.
    touched: set[uuid.UUID] = field(default_factory=set)


class UndoService:
    """Plans an undo (in the request) and does it (in its task)."""

    def __init__(self, transactions: ImportTransactionManager, chunk_size: int) -> None:
        self._tx = transactions
        self._chunk_size = chunk_size

    # -- the request ----------------------------------------------------------------------------
    def plan(self, session: Session, import_id: uuid.UUID, client_account_id: uuid.UUID):
        """Validate and plan the undo of a completed import, or of one whose undo failed (its
        run pending, its task id stored), in the caller's transaction; the caller sends it after
        the commit."""
        data_import = self._tx.lock_import(session, import_id, client_account_id)
        if data_import is None:
            raise NotFound("No such import.", details={"id": str(import_id)})
        if data_import.status == ImportStatus.UNDONE:
            raise Conflict(
                "This import is already undone; commit it again to bring it back.",
                code="already-undone",
                details={"status": data_import.status},
            )
        if data_import.status not in (ImportStatus.COMPLETED, ImportStatus.UNDOING):
            raise Conflict(
                f"Only a completed import can be undone; this one is {data_import.status}.",
                code="not-completed",
                details={"status": data_import.status},
            )
        running = session.scalar(
            INVENTORY_RUNNING.where(Run.client_account_id == client_account_id)
        )
        if running is not None:
            raise Conflict(
                "An import of this account is building its inventory; undo once it is done.",
                code="inventory-busy",
                details={"import_id": str(running)},
            )
        try:
            # Undoing again after a failed undo finishes it; not beside one still at work.
            transitions.plan(session, data_import, RunKind.UNDO, ["undo"], again=True)
        except transitions.IllegalMove as exc:
            raise Conflict(
                "This import is being undone.",
                code="undo-in-progress",
                details={"status": data_import.status},
            ) from exc
        data_import.status = ImportStatus.UNDOING
        data_import.error = None
        return data_import

    # -- the task -------------------------------------------------------------------------------
    def undo(self, ctx: WorkContext) -> dict[str, Any]:
        session, data_import = ctx.session, ctx.data_import
        account = data_import.client_account_id
        # Held by the work transaction until the undo ends: no inventory of the account changes
        # while the batches below commit, each in a short transaction of its own.
        lock_inventory(session, account)
        imports = list(
            session.scalars(
                COMMITTED.where(
                    DataImport.client_account_id == account, DataImport.id != data_import.id
                )
            )
        )
        batches = self._batches(session, data_import, imports)
        ctx.checkpoint(1, len(batches) + 2)
        summary = {"removed": 0, "rebuilt": 0, "created": 0, "rows_replayed": 0, "edges": 0}
        for done, (touched, rows) in enumerate(batches, start=2):
            with self._tx.transaction() as batch_session:
                self._fence(batch_session, ctx.run_id)
                replay = self._replay(
                    batch_session,
                    data_import,
                    [i for i in imports if rows.get(i.id)],
                    rows,
                    touched,
                )
                for name, count in self._write(batch_session, account, touched, replay).items():
                    summary[name] += count
            ctx.checkpoint(done, len(batches) + 2)
        # What no batch reached: a dependencies import's edges (it has no assets).
        session.execute(DELETE_IMPORT_EDGES, {"import_id": data_import.id})
        session.execute(DELETE_IMPORT_SOURCES, {"import_id": data_import.id})
        return {
            "assets": {name: summary[name] for name in ("removed", "rebuilt", "created")},
            "rows_replayed": summary["rows_replayed"],
            "edges_restored": summary["edges"],
            "batches": len(batches),
        }

    @staticmethod
    def _fence(session: Session, run_id: uuid.UUID | None) -> None:
        """A batch commits only while its undo run is running (not failed by the watchdog)."""
        status = session.scalar(select(Run.status).where(Run.id == run_id).with_for_update())
        if status != RunStatus.RUNNING:
            raise Fenced

    def _batches(
        self, session: Session, data_import: DataImport, imports: list[DataImport]
    ) -> list[tuple[set[uuid.UUID], dict[uuid.UUID, list[tuple[int, uuid.UUID]]]]]:
        """The groups holding the import's assets, in batches of whole groups of about a chunk
        of assets: each batch's assets, and its other imports' rows (row, asset)."""
        groups = _Groups()
        own_assets = self._link(session, groups, data_import, own=True)
        rows_of = {other.id: self._link(session, groups, other, own=False) for other in imports}
        roots = {groups.find(groups.ids["a", asset_id]) for asset_id in own_assets}
        assets_of: dict[int, set[uuid.UUID]] = {root: set() for root in roots}
        for key, node in groups.ids.items():
            if key[0] == "a" and (root := groups.find(node)) in roots:
                assets_of[root].add(key[1])
        rows_in: dict[int, dict[uuid.UUID, list[tuple[int, uuid.UUID]]]] = {
            root: {} for root in roots
        }
        for import_id, pairs in rows_of.items():
            for row_number, asset_id in pairs:
                root = groups.find(groups.ids["a", asset_id])
                if root in roots:
                    rows_in[root].setdefault(import_id, []).append((row_number, asset_id))
        batches: list[tuple[set[uuid.UUID], dict[uuid.UUID, list[tuple[int, uuid.UUID]]]]] = []
        touched: set[uuid.UUID] = set()
        rows: dict[uuid.UUID, list[tuple[int, uuid.UUID]]] = {}
        for root in roots:
            touched |= assets_of[root]
            for import_id, pairs in rows_in[root].items():
                rows.setdefault(import_id, []).extend(pairs)
            if len(touched) >= self._chunk_size:
                batches.append((touched, rows))
                touched, rows = set(), {}
        if touched:
            batches.append((touched, rows))
        return batches

    def _link(
        self, session: Session, groups: _Groups, data_import: DataImport, *, own: bool
    ) -> list[tuple[int, uuid.UUID]]:
        """Link the import's rows with their keys and assets; (row, asset) of each, or (own) the
        import's assets."""
        params = {"import_id": data_import.id}
        assets = dict(session.execute(SOURCES_OF, params).all())
        node, union = groups.node, groups.union
        for row_number, *values in session.execute(KEYS_OF, params):
            asset_id = assets.get(row_number)
            if asset_id is None:
                continue
            row = node(("r", data_import.id, row_number))
            union(node(("a", asset_id)), row)
            for column, value in zip(ROW_KEYS, values, strict=True):
                if value:
                    union(node(("k", column, value)), row)
        if own:
            return list(set(assets.values()))
        return list(assets.items())

    def _replay(
        self,
        session: Session,
        undone: DataImport,
        imports: list[DataImport],
        rows: dict[uuid.UUID, list[tuple[int, uuid.UUID]]],
        touched: set[uuid.UUID],
    ) -> _Replay:
        """The groups' rows matched and merged from an empty inventory, as the phase would."""
        replay = _Replay(touched=touched)
        account = undone.client_account_id
        threshold = session.scalar(
            select(ClientAccount.merge_review_threshold).where(ClientAccount.id == account)
        )
        decided = {
            (import_id, row_number): status
            for import_id, row_number, status in session.execute(MERGES_OF, {"ids": _text(touched)})
            if import_id != undone.id
        }
        known = Known(threshold=threshold)
        claimed: set[uuid.UUID] = set()
        order: dict[uuid.UUID, int] = {}
        import_times: dict[uuid.UUID, datetime] = {i.id: i.created_at for i in imports}
        for data_import in imports:
            was = dict(rows[data_import.id])
            found = session.execute(ROWS_OF, {"import_id": data_import.id, "rows": list(was)}).all()
            in_range = None
            for row_number, data, *values, asset_type in sorted(found, key=lambda r: r[0]):
                current_range = (row_number - 1) // self._chunk_size
                if current_range != in_range:
                    # The phase reads its Known afresh for each range: oldest asset first.
                    in_range = current_range
                    known.released.clear()
                    for index in known.index.values():
                        for holders in index.values():
                            if len(holders) > 1:
                                holders.sort(key=lambda a: order[a["id"]])
                keys = dict(zip(ROW_KEYS, values, strict=True))
                asset, matched_on, proposal = known.match(keys, fqdn(data))
                status = "pending"
                if proposal is not None:
                    status = decided.get((data_import.id, row_number), "pending")
                    if status == "approved":
                        asset, matched_on = proposal.asset, proposal.matched_on
                fields = AssetInventoryPhase.row_fields(data_import, data, keys, asset_type)
                if asset is None:
                    previous = was[row_number]
                    asset_id = previous if previous not in claimed else ordered_id()
                    claimed.add(asset_id)
                    asset = {"id": asset_id, **fields, "first_import_id": data_import.id}
                    order[asset_id] = len(order)
                    if proposal is not None:
                        if proposal.matched_on == MATCHED_ON["hostname_key"]:
                            asset["hostname_key"] = None
                        known.reviewed[review_key(proposal.asset["id"], proposal.row_keys)] = asset
                        replay.merges.append(
                            (data_import.id, row_number, asset_id, proposal, status)
                        )
                    replay.assets[asset_id] = asset
                    known.add(asset)
                else:
                    if proposal is not None:
                        replay.merges.append((data_import.id, row_number, None, proposal, status))
                        known.reviewed[review_key(proposal.asset["id"], proposal.row_keys)] = asset
                    last = asset["last_import_id"]
                    newer = (
                        last is None
                        or last == data_import.id
                        or import_times[last] <= data_import.created_at
                    )
                    AssetInventoryPhase.merge_row(asset, fields, data, data_import, known, newer)
                replay.sources.append((data_import.id, row_number, asset["id"], matched_on))
                if data_import.import_type != "dependencies":
                    kept = replay.last_rows.get(asset["id"])
                    if kept is None or kept[0] != data_import.id:
                        kept = replay.last_rows[asset["id"]] = (data_import.id, [])
                    kept[1].append(data)
            names, addresses = {}, {}
            for asset in sorted(replay.assets.values(), key=lambda a: order[a["id"]]):
                if asset["hostname_key"]:
                    names[asset["hostname_key"]] = asset["id"]
                if asset["primary_ip"]:
                    addresses.setdefault(asset["primary_ip"], asset["id"])
            replay.states.append(((data_import.created_at, str(data_import.id)), names, addresses))
        return replay

    def _write(
        self, session: Session, account: uuid.UUID, touched: set[uuid.UUID], replay: _Replay
    ) -> dict[str, int]:
        """The batch's replayed assets, sources, reviews and edges in place of its touched
        assets'; the counts of what it did."""
        kept = [asset_id for asset_id in replay.assets if asset_id in touched]
        new = [asset_id for asset_id in replay.assets if asset_id not in touched]
        gone = list(touched - set(replay.assets))
        # Ids as text, cast in SQL: psycopg dumps a list of strings several times faster.
        touched_ids, kept_ids = _text(touched), _text(kept)
        for statement in DELETE_MERGES:
            session.execute(statement, {"ids": touched_ids})
        session.execute(DELETE_DECLARED, {"ids": kept_ids})
        # Edges of other assets that named a replayed asset: resolved again once written.
        orphans = session.execute(UNTARGET, {"ids": touched_ids}).all()
        # The import's own sources go with its assets' (deleted here, or by the assets' trigger).
        session.execute(DELETE_SOURCES, {"ids": kept_ids})
        session.execute(DELETE_ASSETS, {"ids": _text(gone)})
        session.execute(
            RELEASE_NAMES,
            {
                "ids": kept_ids,
                "keys": [replay.assets[asset_id]["hostname_key"] for asset_id in kept],
            },
        )
        today = datetime.now(UTC).date()
        conn = ImportTransactionManager.driver_connection(session)
        session.execute(UNDO_CHANGES)
        with conn.cursor() as cursor:
            if kept:
                cursor.execute("TRUNCATE undo_changes")
                with cursor.copy(COPY_UNDO_CHANGES) as copy:
                    for asset_id in kept:
                        asset = replay.assets[asset_id]
                        copy.write_row(
                            (asset_id, asset["first_import_id"], *_written(asset, today))
                        )
                cursor.execute(APPLY_CHANGES, {"ids": kept_ids})
            if new:
                with cursor.copy(COPY_ASSETS) as copy:
                    for asset_id in new:
                        asset = replay.assets[asset_id]
                        copy.write_row(
                            (asset_id, account, asset["first_import_id"]) + _written(asset, today)
                        )
        with conn.cursor() as cursor:
            with cursor.copy(COPY_SOURCES) as copy:
                for import_id, row_number, asset_id, matched_on in replay.sources:
                    copy.write_row((import_id, row_number, asset_id, account, matched_on))
            if replay.merges:
                with cursor.copy(COPY_MERGES) as copy:
                    for import_id, row_number, own, proposal, status in replay.merges:
                        copy.write_row(
                            (
                                ordered_id(),
                                account,
                                proposal.asset["id"],
                                own,
                                import_id,
                                row_number,
                                proposal.matched_on,
                                proposal.kind,
                                proposal.confidence,
                                json_codec.dumps(proposal.row_keys).decode(),
                                status,
                            )
                        )
        return {
            "removed": len(gone),
            "rebuilt": len(kept),
            "created": len(new),
            "rows_replayed": len(replay.sources),
            "edges": self._edges(session, account, replay, orphans),
        }

    def _edges(self, session: Session, account: uuid.UUID, replay: _Replay, orphans: list) -> int:
        """The replayed assets' declared edges, and the orphaned edges' targets, each resolved
        as its import's dependency analysis found it: against the replayed assets as they were
        after that import's inventory, and the other assets that existed then."""
        declared: list[tuple[uuid.UUID, uuid.UUID, str]] = []
        for asset_id, (import_id, datas) in replay.last_rows.items():
            refs: dict[str, None] = {}
            for data in datas:
                for name in ("dependencies", "hosts"):
                    if (value := data.get(name)) is not None:
                        refs.update(dict.fromkeys(parse_targets(value) or ()))
            declared.extend((import_id, asset_id, ref) for ref in refs)
        imports = {import_id for import_id, _, _ in declared}
        imports |= {import_id for _, _, import_id in orphans}
        made = {
            import_id: (created_at, import_type)
            for import_id, created_at, import_type in session.execute(
                select(DataImport.id, DataImport.created_at, DataImport.import_type).where(
                    DataImport.id.in_(imports)
                )
            )
        }
        resolver = _Resolver(session, account, replay, made)
        resolver.prefetch(
            [(ref, import_id) for import_id, _, ref in declared]
            + [(ref, import_id) for _, ref, import_id in orphans]
        )
        # Resolved before the COPY: the resolver reads on the same connection.
        edges = [
            (account, import_id, asset_id, ref, resolver(ref, import_id))
            for import_id, asset_id, ref in declared
        ]
        if edges:
            conn = ImportTransactionManager.driver_connection(session)
            with conn.cursor() as cursor, cursor.copy(COPY_EDGES) as copy:
                for edge in edges:
                    copy.write_row(edge)
        retargeted = [
            (edge_id, target)
            for edge_id, ref, import_id in orphans
            if (target := resolver(ref, import_id)) is not None
        ]
        if retargeted:
            session.execute(
                RETARGET,
                {
                    "ids": [edge_id for edge_id, _ in retargeted],
                    "targets": [str(target) for _, target in retargeted],
                },
            )
        return len(declared)


def _text(ids) -> list[str]:
    return [str(i) for i in ids]


def _written(asset: dict, today: date) -> tuple:
    """The WRITTEN columns of an asset, its end of support assessed from its OS, as the
    inventory phase writes them."""
    status = end_of_support_table().assess(asset["os_family"], asset["os_version"], today)
    return (
        *(asset[name] for name in COMPARED[:-1]),
        json_codec.dumps(asset["attributes"]).decode(),
        status.severity,
        status.end_of_support,
        status.source,
        asset["last_import_id"],
    )


class _Resolver:
    """A dependency target to the asset it named when its import's dependencies were analysed
    (dependency_analysis's resolution, by hostname key then IP): a replayed asset as the replay
    had it after the latest import made by then, or another asset (the replay never changed
    those) made by then."""

    def __init__(
        self,
        session: Session,
        account: uuid.UUID,
        replay: _Replay,
        made: dict[uuid.UUID, tuple[datetime, str]],
    ) -> None:
        self._replay = replay
        self._made = made
        self._times = [key for key, *_ in replay.states]
        self._keys: dict[str, tuple[str, datetime]] = {}
        self._ips: dict[str, tuple[str, datetime]] = {}
        self._session, self._account = session, account
        self._resolved: dict[tuple[str, uuid.UUID], str | None] = {}

    def prefetch(self, wanted: list[tuple[str, uuid.UUID]]) -> None:
        """Look up, in one statement, the other assets every (target, import) may name."""
        keys, ips = set(), set()
        for ref, import_id in wanted:
            found, ip = target_keys(ref, self._made[import_id][1] == "applications")
            keys.update(found)
            if ip:
                ips.add(ip)
        if not keys and not ips:
            return
        found = self._session.execute(
            OUTSIDE, {"account": self._account, "keys": list(keys), "ips": list(ips)}
        ).all()
        replayed, touched = self._replay.assets, self._replay.touched
        for asset_id, key, address, created_at in found:
            if uuid.UUID(asset_id) in replayed or uuid.UUID(asset_id) in touched:
                continue
            if key:
                self._keys[key] = (asset_id, created_at)
            if address:
                self._ips.setdefault(address, (asset_id, created_at))

    def __call__(self, ref: str, import_id: uuid.UUID) -> str | None:
        key = ref, import_id
        if key not in self._resolved:
            self._resolved[key] = self._resolve(ref, import_id)
        return self._resolved[key]

    def _resolve(self, ref: str, import_id: uuid.UUID) -> str | None:
        created_at, import_type = self._made[import_id]
        keys, ip = target_keys(ref, import_type == "applications")
        if not keys and not ip:
            return None
        at = bisect.bisect_right(self._times, (created_at, str(import_id))) - 1
        state = self._replay.states[at][1:] if at >= 0 else ({}, {})
        names, addresses = state
        if keys:
            for key in keys:
                if key in names:
                    return str(names[key])
                outside = self._keys.get(key)
                if outside is not None and outside[1] is not None and outside[1] <= created_at:
                    return outside[0]
            return None
        if ip in addresses:
            return str(addresses[ip])
        outside = self._ips.get(ip)
        if outside is not None and outside[1] is not None and outside[1] <= created_at:
            return outside[0]
        return None


class UndoUnit(RunUnit):
    """The undo run's unit: the import is ``undoing`` while it runs, ``undone`` after; after a
    failure it stays ``undoing`` until it is undone again."""

    kind = RunKind.UNDO
    import_statuses = frozenset({ImportStatus.UNDOING})

    def __init__(self, task_id: str, service: UndoService) -> None:
        super().__init__(task_id)
        self._service = service
        self.name = "undo"

    def begin(self, session: Session, data_import: DataImport, max_restarts: int) -> bool:
        return self._start(session, data_import, max_restarts) is not None

    def work(self, ctx: WorkContext) -> None:
        ctx.result = self._service.undo(ctx)

    def succeed(self, session: Session, data_import: DataImport, ctx: WorkContext) -> None:
        run = self._run(session, data_import)
        run.summary = ctx.result or {}
        transitions.move(run, RunStatus.SUCCEEDED)
        data_import.status = ImportStatus.UNDONE
        data_import.finished_at = transitions.now()

    def fail(self, session: Session, data_import: DataImport, error: str) -> None:
        fail_undo(session, data_import, self._run(session, data_import), error)

    def cancel(self, session: Session, data_import: DataImport) -> None:
        # Nothing cancels an undo (an undoing import is not cancellable); a revoked task ends
        # here, as a failure.
        fail_undo(session, data_import, self._run(session, data_import), "cancelled")


def fail_undo(session: Session, data_import: DataImport, run: Run | None, error: str) -> None:
    """The undo failed. The batches it committed stay (each is whole), so the import stays
    ``undoing``: undoing it again finishes the work from where it is."""
    if run is not None and run.status == RunStatus.RUNNING:
        transitions.move(run, RunStatus.FAILED, error=error)
    elif run is not None and run.status == RunStatus.PENDING:
        transitions.move(run, RunStatus.CANCELLED, error=error)
    if data_import.status == ImportStatus.UNDOING:
        data_import.error = f"The undo failed ({error}); undo the import again to finish it."
