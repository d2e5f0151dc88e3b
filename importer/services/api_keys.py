"""API keys: random, shown once, stored as a SHA-256 hash, looked up by that hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from importer.models import ApiKey, ClientAccount
from importer.services.transactions import ImportTransactionManager

KEY_PREFIX = "imp_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    client_account_id: uuid.UUID
    key: str


@dataclass(frozen=True)
class KeyHolder:
    key_id: uuid.UUID
    client_account_id: uuid.UUID
    account_name: str


class ApiKeyService:
    def __init__(self, transactions: ImportTransactionManager) -> None:
        self._tx = transactions

    def create(self, account_name: str, expires_at: datetime | None = None) -> IssuedKey:
        """A new key for the named client account, created if it does not exist yet."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._tx.transaction() as session:
            account = session.scalars(
                select(ClientAccount).where(ClientAccount.name == account_name)
            ).one_or_none()
            if account is None:
                account = ClientAccount(name=account_name)
                session.add(account)
                session.flush()
            session.add(
                ApiKey(
                    client_account_id=account.id,
                    key_hash=hash_key(key),
                    prefix=key[:12],
                    expires_at=expires_at,
                )
            )
            return IssuedKey(account.id, key)

    def revoke(self, key: str) -> bool:
        """Revoke a key, given whole; False when no unrevoked key matches."""
        with self._tx.transaction() as session:
            found = session.scalars(
                select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
            ).one_or_none()
            if found is None:
                return False
            found.revoked_at = datetime.now(UTC)
            return True

    def authenticate(self, key: str) -> uuid.UUID | None:
        """The client account a valid, unrevoked, unexpired key belongs to; None otherwise."""
        holder = self.identify(key)
        return None if holder is None else holder.client_account_id

    def identify(self, key: str) -> KeyHolder | None:
        """The key's id and its account, when the key is valid, unrevoked and unexpired."""
        digest = hash_key(key)
        found = self._find(ApiKey.key_hash == digest)
        # The lookup is by hash; the comparison of hashes is constant-time all the same.
        if found is None or not hmac.compare_digest(found[0].key_hash, digest):
            return None
        return self._holder(*found)

    def holder(self, key_id: uuid.UUID) -> KeyHolder | None:
        """The same check by the key's id, for a session that keeps the id but never the key:
        a key revoked or expired since sign-in ends the session at its next request."""
        found = self._find(ApiKey.id == key_id)
        return None if found is None else self._holder(*found)

    def _find(self, condition):
        """(key, account name) of the one key that meets ``condition``, or None."""
        with self._tx.reading() as session:
            return session.execute(
                select(ApiKey, ClientAccount.name)
                .join(ClientAccount, ClientAccount.id == ApiKey.client_account_id)
                .where(condition)
            ).one_or_none()

    @staticmethod
    def _holder(key: ApiKey, account_name: str) -> KeyHolder | None:
        moment = datetime.now(UTC)
        if key.revoked_at is not None or (key.expires_at and key.expires_at <= moment):
            return None
        return KeyHolder(key.id, key.client_account_id, account_name)
