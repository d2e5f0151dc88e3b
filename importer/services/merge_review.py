"""MergeReviewService: the merges the inventory found too weak to apply, and a person's review.

A pending merge (importer.services.phases.asset_inventory) pairs the asset a key found with the
asset the weakly matched row made of its own (the proposed asset). Approving merges the proposed
asset into the found one: its sources and dependencies move over, and its values are merged by
the inventory's own precedence (AssetInventoryPhase.merge_row, as if the proposed asset were a
row of the import that last described it). Splitting keeps them apart. The decided pair stays
(asset_merges), so that the next import's rows land where the review put them.

Reviews take the account's inventory lock, as an import's inventory chunks do: a review and an
import never change one account's assets at once. While an import holds the account's inventory
(its phase runs, or its cancel's discard is to run: InventoryLease), a review is refused (409
inventory-busy): a cancel of that import restores the assets it changed as they were before it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from importer.errors import Conflict, NotFound
from importer.models import Asset, AssetMerge, ClientAccount, DataImport
from importer.services.pagination import page_by_id
from importer.services.phases.asset_inventory import (
    CHANGES_TABLE,
    KNOWN_BY_KEYS,
    KNOWN_COLUMNS,
    ROW_KEY_VALUES,
    ROW_KEYS,
    AssetInventoryPhase,
    AssetWriter,
    InventoryLease,
    Known,
    lock_inventory,
)
from importer.services.transactions import ImportTransactionManager

MOVE_SOURCES = text("UPDATE asset_sources SET asset_id = :into WHERE asset_id = :merged")
MOVE_EDGES = (
    text("UPDATE asset_dependencies SET source_asset_id = :into WHERE source_asset_id = :merged"),
    text("UPDATE asset_dependencies SET target_asset_id = :into WHERE target_asset_id = :merged"),
    # An edge between the two is no dependency of one machine on another.
    text(
        "DELETE FROM asset_dependencies WHERE source_asset_id = :into AND target_asset_id = :into"
    ),
)
# Other pairs of the merged asset become the kept one's (one of each row's keys: the kept one's
# review of the same row wins); a pair of the two with each other is no pair any more.
MOVE_REVIEWS = (
    text(
        """
        DELETE FROM asset_merges m WHERE m.asset_id = :merged AND EXISTS (
            SELECT 1 FROM asset_merges k WHERE k.asset_id = :into AND k.row_keys = m.row_keys)
        """
    ),
    text("UPDATE asset_merges SET asset_id = :into WHERE asset_id = :merged"),
    text("DELETE FROM asset_merges WHERE asset_id = :into AND proposed_asset_id = :into"),
)


@dataclass(frozen=True)
class MergeView:
    """A merge with its two assets as they are (the proposed one is gone once approved)."""

    merge: AssetMerge
    asset: Asset | None
    proposed_asset: Asset | None


class MergeReviewService:
    def __init__(self, transactions: ImportTransactionManager, lease: InventoryLease) -> None:
        self._tx = transactions
        self._lease = lease

    # ---------------------------------------------------------------------------------- reading
    def merges(
        self,
        session: Session,
        client_account_id: uuid.UUID,
        status: str,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[MergeView], str | None]:
        """The account's merges in ``status``, oldest first (their ids grow with time)."""
        query = select(AssetMerge).where(
            AssetMerge.client_account_id == client_account_id, AssetMerge.status == status
        )
        page, following = page_by_id(session, query, AssetMerge.id, cursor, limit)
        return self._views(session, page), following

    @staticmethod
    def _views(session: Session, merges: list[AssetMerge]) -> list[MergeView]:
        ids = {m.asset_id for m in merges} | {m.proposed_asset_id for m in merges}
        ids.discard(None)
        assets = {a.id: a for a in session.scalars(select(Asset).where(Asset.id.in_(ids)))}
        return [
            MergeView(m, assets.get(m.asset_id), assets.get(m.proposed_asset_id)) for m in merges
        ]

    @staticmethod
    def _found(
        session: Session, merge_id: uuid.UUID, client_account_id: uuid.UUID, lock: bool = False
    ) -> AssetMerge:
        query = select(AssetMerge).where(
            AssetMerge.id == merge_id, AssetMerge.client_account_id == client_account_id
        )
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        merge = session.scalars(query).one_or_none()
        if merge is None:
            raise NotFound("No such merge.", details={"id": str(merge_id)})
        return merge

    # ---------------------------------------------------------------------------------- deciding
    def approve(self, merge_id: uuid.UUID, client_account_id: uuid.UUID) -> MergeView:
        """Merge the proposed asset into the one its row's key found."""
        with self._tx.transaction() as session:
            merge = self._pending(session, merge_id, client_account_id)
            kept = self._merged(session, merge)
            return MergeView(merge, kept, None)

    def split(self, merge_id: uuid.UUID, client_account_id: uuid.UUID) -> MergeView:
        """Keep the two assets apart, for this import and the next."""
        with self._tx.transaction() as session:
            merge = self._pending(session, merge_id, client_account_id)
            merge.status = "split"
            merge.decided_at = datetime.now(UTC)
            session.flush()
            return self._views(session, [merge])[0]

    def _pending(
        self, session: Session, merge_id: uuid.UUID, client_account_id: uuid.UUID
    ) -> AssetMerge:
        # Not found before anything else (another account's merge is not found); then the
        # account's inventory lock, under which the merge is read again as it now is.
        self._found(session, merge_id, client_account_id)
        lock_inventory(session, client_account_id)
        holder = self._lease.holder(session, client_account_id)
        if holder is not None:
            raise Conflict(
                "An import is merging into this account's inventory; review this merge once "
                "its asset_inventory phase has ended.",
                code="inventory-busy",
                details={"id": str(merge_id), "import_id": str(holder)},
            )
        merge = self._found(session, merge_id, client_account_id, lock=True)
        if merge.status != "pending":
            raise Conflict(
                f"This merge was already decided: {merge.status}.",
                code="merge-decided",
                details={"id": str(merge_id), "status": merge.status},
            )
        return merge

    @staticmethod
    def _merged(session: Session, merge: AssetMerge) -> Asset:
        """The proposed asset merged into the found one, by the inventory's precedence."""
        columns = ", ".join(c.key for c in KNOWN_COLUMNS)
        rows = {
            row["id"]: dict(row)
            for row in session.execute(
                text(f"SELECT {columns} FROM assets WHERE id IN (:kept, :merged) FOR UPDATE"),
                {"kept": merge.asset_id, "merged": merge.proposed_asset_id},
            ).mappings()
        }
        kept, merged = rows[merge.asset_id], rows[merge.proposed_asset_id]
        # As a row of the import that last described it: newer than the kept asset's last
        # import, its values win; older, they fill blanks.
        source = (
            session.get(DataImport, merged["last_import_id"]) if merged["last_import_id"] else None
        )
        last = session.get(DataImport, kept["last_import_id"]) if kept["last_import_id"] else None
        newer = source is not None and (last is None or last.created_at <= source.created_at)
        if source is None:
            # Its import deleted since: what it says only fills blanks, and changes no type.
            source = SimpleNamespace(
                id=None, client_account_id=merge.client_account_id, import_type="dependencies"
            )
        known = Known()
        known.add(kept)
        values = {
            name: [merged[column]] if merged[column] else []
            for column, name in zip(ROW_KEYS, ROW_KEY_VALUES, strict=True)
        }
        holders = session.execute(
            KNOWN_BY_KEYS, {**values, "account": merge.client_account_id}
        ).mappings()
        for holder in {h["id"]: h for h in holders}.values():
            if holder["id"] not in (kept["id"], merged["id"]):
                known.add(dict(holder))
        keys = {column: merged[column] for column in ROW_KEYS}
        data = merged["attributes"] or {}
        fields = AssetInventoryPhase.row_fields(source, data, keys, merged["asset_type"])
        AssetInventoryPhase.merge_row(kept, fields, data, source, known, newer)
        params = {"into": kept["id"], "merged": merged["id"]}
        for statement in (MOVE_SOURCES, *MOVE_EDGES, *MOVE_REVIEWS):
            session.execute(statement, params)
        merge.status = "approved"
        merge.proposed_asset_id = None
        merge.decided_at = datetime.now(UTC)
        session.flush()
        # Gone before the kept asset is written: it may take over the merged one's host name.
        session.execute(text("DELETE FROM assets WHERE id = :merged"), params)
        session.execute(CHANGES_TABLE)
        writer = AssetWriter(
            ImportTransactionManager.driver_connection(session), source, datetime.now(UTC).date()
        )
        writer.write([], [kept], [])
        session.execute(
            update(Asset)
            .where(Asset.id == kept["id"])
            .values(first_import_id=kept["first_import_id"] or merged["first_import_id"])
        )
        return session.get(Asset, kept["id"], populate_existing=True)

    # ---------------------------------------------------------------------------------- settings
    def threshold(self, session: Session, client_account_id: uuid.UUID) -> float:
        return session.scalar(
            select(ClientAccount.merge_review_threshold).where(
                ClientAccount.id == client_account_id
            )
        )

    def set_threshold(self, client_account_id: uuid.UUID, threshold: float) -> float:
        """Matches below ``threshold`` wait for review from the account's next import on."""
        with self._tx.transaction() as session:
            session.execute(
                update(ClientAccount)
                .where(ClientAccount.id == client_account_id)
                .values(merge_review_threshold=threshold)
            )
            return self.threshold(session, client_account_id)
