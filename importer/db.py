"""Engine and session factory; one engine per process (re-created after a fork)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from importer import json_codec


def make_engine(database_url: str, **kwargs) -> Engine:
    # pool_pre_ping: a PostgreSQL restart must cost a reconnect, not a failed request.
    # json_deserializer: SQLAlchemy's psycopg dialect installs it as psycopg's jsonb loader, so
    # raw psycopg queries on the same connections decode with it too.
    kwargs.setdefault("json_deserializer", json_codec.loads)
    return create_engine(database_url, pool_pre_ping=True, future=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
