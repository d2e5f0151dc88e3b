"""An import: the uploaded file's metadata, its raw records and what the steps derive from them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from importer.models.base import Base, check_in, created_at, updated_at, uuid_pk


class ImportStatus(enum.StrEnum):
    STORED = "stored"
    VALIDATING = "validating"
    MAPPING = "mapping"
    DISCOVERING = "discovering"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # A completed import being taken back out of the inventory (importer.services.undo), and
    # once it is; an undone import can be committed again.
    UNDOING = "undoing"
    UNDONE = "undone"


FINAL_IMPORT_STATUSES = frozenset(
    {ImportStatus.COMPLETED, ImportStatus.FAILED, ImportStatus.CANCELLED, ImportStatus.UNDONE}
)
# An import whose work goes on without a person: only its tasks are sent, and only they run.
WORKING_IMPORT_STATUSES = frozenset(
    {
        ImportStatus.STORED,
        ImportStatus.VALIDATING,
        ImportStatus.MAPPING,
        ImportStatus.DISCOVERING,
        ImportStatus.UNDOING,
    }
)


class DataImport(Base):
    __tablename__ = "data_imports"
    __table_args__ = (
        CheckConstraint(check_in("status", tuple(ImportStatus)), name="status"),
        # One import per idempotency key and client account; a retried upload finds the first.
        Index(
            "uq_data_imports_idempotency",
            "client_account_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index("ix_data_imports_account_created", "client_account_id", "created_at", "id"),
        Index("ix_data_imports_account_engagement", "client_account_id", "engagement"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    client_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    engagement: Mapped[str] = mapped_column(String(200))
    import_type: Mapped[str] = mapped_column(String(50))
    filename: Mapped[str | None] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(20))
    encoding: Mapped[str | None] = mapped_column(String(40))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    # The source columns in file order: jsonb records do not keep key order.
    columns: Mapped[list[str]] = mapped_column(JSONB, default=list)
    # The worksheet an XLSX upload was read from, and the tool layout its header was recognised as.
    sheet: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(30), default=ImportStatus.STORED)
    records_stored: Mapped[int] = mapped_column(Integer, default=0)
    valid_records: Mapped[int | None] = mapped_column(Integer)
    invalid_records: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_IMPORT_STATUSES


class RawImportRecord(Base):
    """One uploaded row, exactly as it came; written by COPY, never row by row."""

    __tablename__ = "raw_import_records"

    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("data_imports.id", ondelete="CASCADE"), primary_key=True
    )
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The import's account: its import's foreign key ties the row to it (migration 0004).
    client_account_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    record: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # CSV cells beyond the header, kept so that nothing uploaded is lost.
    extra_values: Mapped[list[str] | None] = mapped_column(JSONB)


class ValidationIssue(Base):
    __tablename__ = "import_validation_issues"
    __table_args__ = (
        CheckConstraint(check_in("severity", ("error", "warning")), name="severity"),
        Index("ix_import_validation_issues_import_row", "import_id", "row_number"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_imports.id", ondelete="CASCADE"))
    client_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    row_number: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    field: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(10))


class MappingStatus(enum.StrEnum):
    SUGGESTED = "suggested"
    APPROVED = "approved"
    IGNORED = "ignored"


class ImportFieldMapping(Base):
    __tablename__ = "import_field_mappings"
    __table_args__ = (
        UniqueConstraint("import_id", "source_column", name="uq_import_field_mappings_column"),
        CheckConstraint(check_in("status", tuple(MappingStatus)), name="status"),
        CheckConstraint(
            check_in(
                "match_type",
                ("exact", "synonym", "fuzzy", "value", "unmapped", "learned", "manual", "profile"),
            ),
            name="match_type",
        ),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_imports.id", ondelete="CASCADE"))
    client_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    source_column: Mapped[str] = mapped_column(Text)
    target_field: Mapped[str | None] = mapped_column(String(100))
    confidence: Mapped[float] = mapped_column(Float)
    match_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=MappingStatus.SUGGESTED)
    # The unit a size column's values are in ("MiB", "GB"), or the column that says it per row.
    unit: Mapped[str | None] = mapped_column(String(20))
    unit_column: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
