"""Bearer API keys: each request to the API is made on behalf of one client account."""

from __future__ import annotations

import threading
import time
import uuid

from flask import current_app, g, request

from importer.errors import Unauthorized
from importer.services.api_keys import hash_key

# How long a key found valid is believed without asking PostgreSQL again: a revoked or expired
# key is refused by every API process within this many seconds.
KEY_CACHE_SECONDS = 5.0
_KEY_CACHE_ENTRIES = 10_000


class ApiKeyCache:
    """Keys recently found valid, by their SHA-256, with when that stops being believed.

    Only successes are kept: an unknown key always costs a lookup, so a key created a moment
    ago works at once and guessing keys gains nothing from the cache.
    """

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, uuid.UUID]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> uuid.UUID | None:
        entry = self._entries.get(digest)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, digest: str, account_id: uuid.UUID, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= _KEY_CACHE_ENTRIES:
                now = self._clock()
                self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
                if len(self._entries) >= _KEY_CACHE_ENTRIES:
                    self._entries.clear()
            self._entries[digest] = (self._clock() + seconds, account_id)


def key_cache() -> ApiKeyCache:
    cache = current_app.extensions.get("api_key_cache")
    if cache is None:
        cache = current_app.extensions.setdefault("api_key_cache", ApiKeyCache())
    return cache


def authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("An API key is required: Authorization: Bearer <key>.")
    cache = key_cache()
    digest = hash_key(key)
    account_id = cache.get(digest)
    if account_id is None:
        services = current_app.extensions["importer"].services
        account_id = services.api_keys.authenticate(key)
        if account_id is None:
            raise Unauthorized("The API key is not valid.", code="invalid-api-key")
        cache.put(
            digest, account_id, current_app.config.get("API_KEY_CACHE_SECONDS", KEY_CACHE_SECONDS)
        )
    g.client_account_id = account_id


def client_account_id() -> uuid.UUID:
    return g.client_account_id
