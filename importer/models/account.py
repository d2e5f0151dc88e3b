"""Client accounts (tenants) and the API keys that authenticate them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from importer.models.base import Base, created_at, uuid_pk

# A match whose confidence (importer/discovery/data/match_confidence.toml) is below the
# account's threshold waits for review instead of merging: by default an IP alone (0.4) waits,
# a host name (0.9, or 0.6 under another DNS domain) and the stronger keys merge.
DEFAULT_MERGE_REVIEW_THRESHOLD = 0.5


class ClientAccount(Base):
    __tablename__ = "client_accounts"
    __table_args__ = (
        CheckConstraint(
            "merge_review_threshold BETWEEN 0 AND 1", name="merge_review_threshold_range"
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = created_at()
    merge_review_threshold: Mapped[float] = mapped_column(
        Float,
        default=DEFAULT_MERGE_REVIEW_THRESHOLD,
        server_default=text(str(DEFAULT_MERGE_REVIEW_THRESHOLD)),
    )

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="client_account")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = uuid_pk()
    client_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client_accounts.id", ondelete="CASCADE"), index=True
    )
    # Only a SHA-256 of the key is kept; the key itself is shown once, when it is created.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    client_account: Mapped[ClientAccount] = relationship(back_populates="api_keys")
