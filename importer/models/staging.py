"""Import-scoped staging of chunked phases, cleared when the phase finishes (or is discarded).

No foreign keys: deleting the import deletes its rows by trigger (migration 0017), as with the
row tables of migration 0006.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Index, Integer, String, Text, Uuid
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from importer.models.base import Base


class DisplacedRow(Base):
    """A row a phase's chunk deleted or overwrote that was not its import's own (another
    import's edge it replaced, an asset's end-of-support flags it changed), as it was: a discard
    of the phase puts it back, its finish forgets it."""

    __tablename__ = "displaced_rows"
    __table_args__ = (Index("ix_displaced_rows_import", "import_id", "phase", "id"),)

    # In the order displaced: an asset's first displaced flags are those from before the phase.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    import_id: Mapped[UUID] = mapped_column(Uuid)
    phase: Mapped[str] = mapped_column(String(50))
    # The table the row is of, and the row (its key and what the phase changed), as JSON.
    relation: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ConnectionPart(Base):
    """A dependencies import's connections as one range of its rows saw them, one per edge
    identity (importer.services.phases.connections): the phase's finish merges the ranges'."""

    __tablename__ = "connection_parts"

    import_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    # The range's first row, and the order the range first saw each connection in.
    range_from: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    identity: Mapped[str] = mapped_column(Text)
    # NULL: the source is in no inventory (the connection is counted, not an edge).
    source_asset_id: Mapped[UUID | None] = mapped_column(Uuid)
    source_ref: Mapped[str] = mapped_column(Text)
    target_ref: Mapped[str] = mapped_column(Text)
    target_asset_id: Mapped[UUID | None] = mapped_column(Uuid)
    port: Mapped[int | None] = mapped_column(Integer)
    protocol: Mapped[str | None] = mapped_column(Text)
    source_processes: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    target_processes: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
