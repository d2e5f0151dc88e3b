"""Can this machine reach the services the importer needs?"""

from __future__ import annotations

import psycopg
import redis
from sqlalchemy import make_url

from importer.config import Settings


def unreachable_services(settings: Settings) -> list[str]:
    """One line per service that does not answer."""
    problems = []
    url = make_url(settings.database_url)
    # The server, not the database: `make up` creates the database when it is missing.
    server = url.set(drivername="postgresql", database="postgres")
    try:
        psycopg.connect(server.render_as_string(hide_password=False), connect_timeout=3).close()
    except psycopg.Error:
        problems.append(f"PostgreSQL is not reachable at {url.host}:{url.port or 5432}.")
    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError:
        problems.append(f"Redis is not reachable at {settings.redis_url}.")
    return problems
