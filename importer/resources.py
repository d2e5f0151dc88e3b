"""The long-lived things a process needs (engine, Redis, Celery), made once and on first use."""

from __future__ import annotations

from functools import cached_property

import redis
from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from importer.config import Settings
from importer.db import make_engine, make_session_factory
from importer.runtime_state import RuntimeState


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Set by create_celery: the app this process sends (and maybe runs) tasks with.
        self.celery: Celery | None = None

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.settings.redis_url, socket_timeout=5, socket_connect_timeout=5
        )

    @cached_property
    def runtime_state(self) -> RuntimeState:
        return RuntimeState(self.redis, self.settings.redis_prefix)

    @cached_property
    def services(self):
        from importer.services.container import Services

        return Services(self)

    def after_fork(self) -> None:
        """A forked child must not share its parent's sockets."""
        if "engine" in self.__dict__:
            self.engine.dispose(close=False)
        for name in ("redis", "runtime_state", "services"):
            self.__dict__.pop(name, None)
