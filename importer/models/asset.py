"""The asset inventory: one row per asset per client account, across imports, and its edges."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, get_args
from uuid import UUID

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from importer.discovery.classify import AssetType
from importer.models.base import Base, check_in, created_at, updated_at, uuid_pk

# The types classify_asset gives, as the column's check constraint allows them.
ASSET_TYPES: tuple[str, ...] = get_args(AssetType)
SEVERITIES = ("critical", "high", "medium", "ok", "unknown")
# What a query over all of an account's assets states, to be allowed ix_assets_account_type.
ACCOUNT_SCAN = "asset_type IS NOT NULL"


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (
        CheckConstraint(check_in("asset_type", ASSET_TYPES), name="asset_type"),
        CheckConstraint(check_in("eos_severity", SEVERITIES), name="eos_severity"),
        # De-duplication keys (importer.services.phases.asset_inventory tries them in order:
        # uuid, serial number, source id, hostname, IP).
        Index(
            "uq_assets_hostname_key",
            "client_account_id",
            "hostname_key",
            unique=True,
            postgresql_where=text("hostname_key IS NOT NULL"),
        ),
        # Partial, like the hostname's: each key index serves look-ups by its own key only,
        # whatever the statistics say of the account (migration 0007).
        Index(
            "ix_assets_serial",
            "client_account_id",
            "serial_number",
            postgresql_where=text("serial_number IS NOT NULL"),
        ),
        Index(
            "ix_assets_ip",
            "client_account_id",
            "primary_ip",
            postgresql_where=text("primary_ip IS NOT NULL"),
        ),
        Index(
            "ix_assets_uuid",
            "client_account_id",
            "uuid",
            postgresql_where=text("uuid IS NOT NULL"),
        ),
        Index(
            "ix_assets_source_id",
            "client_account_id",
            "source_id",
            postgresql_where=text("source_id IS NOT NULL"),
        ),
        # The one index that starts with the account alone. Partial on a condition that is always
        # true (asset_type is never null), so that only a query that states it (ACCOUNT_SCAN: a
        # listing, a count, a walk of the account's assets) can take it. Otherwise a key look-up,
        # under statistics that predate the account's assets, took it at the same cost as its
        # key's index and filtered every asset of the account for each row (migration 0012).
        Index(
            "ix_assets_account_type",
            "client_account_id",
            "asset_type",
            "id",
            postgresql_where=text("asset_type IS NOT NULL"),
        ),
        # What deleting an import looks up: the assets whose import ids it clears (0006's trigger).
        Index("ix_assets_first_import_id", "first_import_id"),
        Index("ix_assets_last_import_id", "last_import_id"),
    )

    id: Mapped[UUID] = uuid_pk()
    # No foreign key: deleting the account deletes its assets by trigger (migration 0006),
    # instead of each asset written checking its account.
    client_account_id: Mapped[UUID] = mapped_column(Uuid)
    hostname_key: Mapped[str | None] = mapped_column(Text)
    serial_number: Mapped[str | None] = mapped_column(Text)
    primary_ip: Mapped[str | None] = mapped_column(Text)
    # The BIOS/VM UUID and the exporting tool's record id, as importer.discovery.identity keys them.
    uuid: Mapped[str | None] = mapped_column(Text)
    source_id: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    asset_type: Mapped[str] = mapped_column(String(30))
    os_family: Mapped[str | None] = mapped_column(Text)
    os_name: Mapped[str | None] = mapped_column(Text)
    os_version: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str | None] = mapped_column(Text)
    cpu_cores: Mapped[int | None] = mapped_column(Integer)
    memory_gb: Mapped[float | None] = mapped_column(Float)
    is_virtual: Mapped[bool | None] = mapped_column(Boolean)
    # Every clean field of the latest row that described this asset.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    eos_severity: Mapped[str] = mapped_column(String(10), default="unknown")
    end_of_support: Mapped[date | None] = mapped_column(Date)
    eos_source: Mapped[str | None] = mapped_column(Text)
    # Import ids without foreign keys: deleting an import clears them by trigger (migration
    # 0006), instead of each asset written checking its import.
    first_import_id: Mapped[UUID | None] = mapped_column(Uuid, nullable=True)
    last_import_id: Mapped[UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class AssetSource(Base):
    """Which cleaned row of which import described an asset.

    Its ids carry no foreign keys: deleting the import or the asset deletes the row by trigger
    (migration 0006), and a million rows are not each checked against them.
    """

    __tablename__ = "asset_sources"
    __table_args__ = (Index("ix_asset_sources_asset", "asset_id"),)

    import_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[UUID] = mapped_column(Uuid)
    # The import's and the asset's account, copied from them; no foreign key of its own (it
    # would be checked for every row of every import, and the import's and the asset's already
    # tie the row to the account and delete it with it).
    client_account_id: Mapped[UUID] = mapped_column(Uuid)
    # Why the row's asset is the one it describes: "created" (it made the asset) or the key it
    # was found by ("uuid", "serial", "source_id", "hostname", "ip"); NULL before migration 0010.
    matched_on: Mapped[str | None] = mapped_column(Text)


class AssetDependency(Base):
    """An edge from an asset to what it depends on; unresolved targets are kept, not dropped.

    Declared edges come from an inventory's dependency columns: a re-import of the inventory
    replaces its assets' declared edges. Observed edges come from a dependencies import (a flow
    or connection export): one per (source, target, port, protocol), with the processes seen
    at either end, replaced only by a later observation of the same connection.

    Like AssetSource, its ids carry no foreign keys: deleting the import, the source or the
    target deletes the edge by trigger (migration 0006).
    """

    __tablename__ = "asset_dependencies"
    __table_args__ = (
        Index("ix_asset_dependencies_source", "source_asset_id"),
        Index("ix_asset_dependencies_target", "target_asset_id"),
        # A range's declared edges (a chunk replaces them), and an import's edges.
        Index("ix_asset_dependencies_import_row", "import_id", "source_row"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Copied from the source asset; no foreign key of its own (see AssetSource).
    client_account_id: Mapped[UUID] = mapped_column(Uuid)
    import_id: Mapped[UUID] = mapped_column(Uuid)
    # The import's row that declared a declared edge (its first row that names the target):
    # the chunk of the range it is in writes and replaces the edge. NULL for observed edges.
    source_row: Mapped[int | None] = mapped_column(Integer)
    source_asset_id: Mapped[UUID] = mapped_column(Uuid)
    target_ref: Mapped[str] = mapped_column(Text)
    target_asset_id: Mapped[UUID | None] = mapped_column(Uuid, nullable=True)
    observed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    port: Mapped[int | None] = mapped_column(Integer)
    protocol: Mapped[str | None] = mapped_column(Text)
    source_processes: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    target_processes: Mapped[list[str] | None] = mapped_column(ARRAY(Text))


class LearnedMapping(Base):
    """A header a client account approved once maps the same way next time."""

    __tablename__ = "learned_field_mappings"
    __table_args__ = (
        Index(
            "uq_learned_field_mappings_header",
            "client_account_id",
            "import_type",
            "context",
            "header",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_account_id: Mapped[UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    import_type: Mapped[str] = mapped_column(String(50))
    # The tool profile the header was seen in, else "": a header means different things in
    # different layouts.
    context: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # The header as normalise_header sees it, so "Host Name" and "host_name" are one header.
    header: Mapped[str] = mapped_column(Text)
    target_field: Mapped[str | None] = mapped_column(String(100))
    ignored: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = updated_at()


MERGE_STATUSES = ("pending", "approved", "split")


class AssetMerge(Base):
    """A match too weak to merge by itself (importer.discovery.match_confidence), and its review.

    The row the inventory matched weakly made (or landed on) an asset of its own, the proposed
    asset; the merge pairs it with the asset the key found. Approving merges the proposed asset
    into that one; splitting keeps them apart. Either way the pair is remembered by the asset and
    the row's keys (row_keys), so a later import's row with those keys lands where the review
    put it instead of being proposed again.

    Few (a person decides each), so foreign keys: deleting either asset deletes the pair. The
    proposed asset of an approved merge is gone (merged): its id is cleared as it is.
    """

    __tablename__ = "asset_merges"
    __table_args__ = (
        CheckConstraint(check_in("status", MERGE_STATUSES), name="status"),
        # The pairs a range's matched assets have: looked up by the asset, one probe each.
        Index("uq_asset_merges_asset_row_keys", "asset_id", "row_keys", unique=True),
        Index("ix_asset_merges_proposed", "proposed_asset_id"),
        Index("ix_asset_merges_account_status", "client_account_id", "status", "id"),
    )

    id: Mapped[UUID] = uuid_pk()
    client_account_id: Mapped[UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    asset_id: Mapped[UUID] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    proposed_asset_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), nullable=True
    )
    # The row that was matched weakly, and how: the key (as asset_sources.matched_on names it),
    # the kind of match and its confidence, and the row's keys (with its FQDN) it is known by.
    import_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("data_imports.id", ondelete="SET NULL"), nullable=True
    )
    row_number: Mapped[int | None] = mapped_column(Integer)
    matched_on: Mapped[str] = mapped_column(Text)
    match_kind: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    row_keys: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    created_at: Mapped[datetime] = created_at()
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
