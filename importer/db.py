"""Engine and session factory; one engine per process (re-created after a fork)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from importer import json_codec


def make_engine(database_url: str, **kwargs) -> Engine:
    # pool_pre_ping: a PostgreSQL restart must cost a reconnect, not a failed request.
    # json_deserializer: SQLAlchemy's psycopg dialect installs it as psycopg's jsonb loader, so
    # raw psycopg queries on the same connections decode with it too.
    kwargs.setdefault("json_deserializer", json_codec.loads)
    engine = create_engine(database_url, pool_pre_ping=True, future=True, **kwargs)
    event.listen(engine, "connect", _without_jit)
    return engine


def _without_jit(dbapi_connection, _record) -> None:
    # PostgreSQL compiles a statement whose estimated cost passes jit_above_cost, about 20 ms
    # each. Just after a bulk load, before any ANALYZE, the flow's per-range statements were
    # estimated that costly and compiled every time (1M rows: some 5 s of the inventory alone),
    # and none of this service's statements runs long enough to win the time back.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    dbapi_connection.commit()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
