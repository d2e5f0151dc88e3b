"""Fast, disposable state in Redis: per-import progress and cancel flags.

PostgreSQL stays the truth; everything here may vanish (a FLUSHALL, a Redis restart) and readers
fall back to the database.
"""

from __future__ import annotations

import redis

# Flags outlive any import's run by far, and expire so that Redis does not fill up with them.
_TTL_SECONDS = 7 * 24 * 3600


class RuntimeState:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, import_id: object, kind: str) -> str:
        return f"{self._prefix}:import:{import_id}:{kind}"

    def request_cancel(self, import_id: object) -> None:
        self._redis.set(self._key(import_id, "cancel"), "1", ex=_TTL_SECONDS)

    def clear_cancel(self, import_id: object) -> None:
        self._redis.delete(self._key(import_id, "cancel"))

    def is_cancel_requested(self, import_id: object) -> bool:
        return bool(self._redis.exists(self._key(import_id, "cancel")))

    def set_progress(self, import_id: object, step: str, percent: int) -> None:
        key = self._key(import_id, "progress")
        pipe = self._redis.pipeline()
        pipe.hset(key, step, int(percent))
        pipe.expire(key, _TTL_SECONDS)
        pipe.execute()

    def progress(self, import_id: object) -> dict[str, int]:
        raw = self._redis.hgetall(self._key(import_id, "progress"))
        return {k.decode(): int(v) for k, v in raw.items()}

    def ping(self) -> bool:
        return bool(self._redis.ping())
