"""Engine and session factory; one engine per process (re-created after a fork)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(database_url: str, **kwargs) -> Engine:
    # pool_pre_ping: a PostgreSQL restart must cost a reconnect, not a failed request.
    return create_engine(database_url, pool_pre_ping=True, future=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
