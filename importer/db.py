"""Engine and session factory; one engine per process (re-created after a fork)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

# orjson turns integers beyond 64 bits into floats without a word; uploads may hold them. Such
# a float is at least this large; a float literal that large is rare and decodes the same by json.
_ROUNDED = 2.0**63


def json_loads(data: bytes | bytearray | memoryview | str) -> Any:
    """jsonb from PostgreSQL: orjson (several times faster than json), exact for any integer."""
    try:
        value = orjson.loads(data)
        if not _maybe_rounded(value):
            return value
    except orjson.JSONDecodeError:
        pass  # numbers beyond a double's range, which json reads as inf
    return json.loads(bytes(data) if isinstance(data, memoryview) else data)


def _maybe_rounded(value: Any) -> bool:
    if type(value) is dict:
        values = value.values()
    elif type(value) is list:
        values = value
    else:
        return type(value) is float and not -_ROUNDED < value < _ROUNDED
    for item in values:
        kind = type(item)
        if kind is str:
            continue
        if kind is float:
            if not -_ROUNDED < item < _ROUNDED:
                return True
        elif (kind is dict or kind is list) and _maybe_rounded(item):
            return True
    return False


def make_engine(database_url: str, **kwargs) -> Engine:
    # pool_pre_ping: a PostgreSQL restart must cost a reconnect, not a failed request.
    # json_deserializer: SQLAlchemy's psycopg dialect installs it as psycopg's jsonb loader, so
    # raw psycopg queries on the same connections decode with it too.
    kwargs.setdefault("json_deserializer", json_loads)
    return create_engine(database_url, pool_pre_ping=True, future=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
