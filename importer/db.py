"""Engine and session factory; one engine per process (re-created after a fork)."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

# orjson turns integers beyond 64 bits into floats without a word; uploads may hold them.
_LONG_DIGITS = re.compile(rb"\d{19}")


def json_loads(data: bytes | bytearray | memoryview | str) -> Any:
    """jsonb from PostgreSQL: orjson (several times faster than json), exact for any integer."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if _LONG_DIGITS.search(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # numbers beyond a double's range, which json reads as inf
    return json.loads(raw)


def make_engine(database_url: str, **kwargs) -> Engine:
    # pool_pre_ping: a PostgreSQL restart must cost a reconnect, not a failed request.
    # json_deserializer: SQLAlchemy's psycopg dialect installs it as psycopg's jsonb loader, so
    # raw psycopg queries on the same connections decode with it too.
    kwargs.setdefault("json_deserializer", json_loads)
    return create_engine(database_url, pool_pre_ping=True, future=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
