"""``importer doctor``: is everything the importer needs there, and if not, what to do about it.

Each check answers ok or not with what it saw and, when not, a fix. A check whose prerequisite
failed (the revision without a database, the workers without a broker) is reported as failed
with the reason, so that the first red line is the one to act on.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from sqlalchemy import make_url, text

from importer import migrate
from importer.config import Settings
from importer.db import make_engine

CONNECT_TIMEOUT = 3


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def _error(exc: BaseException) -> str:
    exc = getattr(exc, "orig", None) or exc  # The driver's error, not SQLAlchemy's wrapper.
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _where(database_url: str) -> str:
    url = make_url(database_url)
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}"


def check_database(settings: Settings) -> tuple[Check, object | None]:
    """Connects; returns the check and the engine (None when it does not answer)."""
    engine = make_engine(settings.database_url, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    where = _where(settings.database_url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
    except Exception as exc:
        engine.dispose()
        detail = f"{where}: {_error(exc)}"
        if "does not exist" in str(exc):
            fix = "Create and migrate it: importer db upgrade"
        else:
            fix = (
                "Start PostgreSQL (docker compose up -d postgres) or correct "
                "IMPORTER_DATABASE_URL; then importer db upgrade"
            )
        return Check("database", False, detail, fix), None
    return Check("database", True, f"{where}, PostgreSQL {version}"), engine


def check_migrations(settings: Settings, engine) -> Check:
    if engine is None:
        return Check(
            "migrations", False, "not checked: the database does not answer", "Fix the database"
        )
    head = migrate.head_revision(settings.database_url)
    with engine.connect() as conn:
        current = migrate.current_revision(conn)
    if current == head:
        return Check("migrations", True, f"at head {head}")
    if current is None:
        return Check(
            "migrations",
            False,
            f"the database is not migrated (no Alembic revision); head is {head}",
            "Run: importer db upgrade",
        )
    known = _known_revisions(settings.database_url)
    if current not in known:
        return Check(
            "migrations",
            False,
            f"the database is at {current}, a revision this code does not know (head {head})",
            "Newer code migrated it: deploy the matching version of the importer",
        )
    return Check(
        "migrations",
        False,
        f"the database is at {current}, behind head {head}",
        "Run: importer db upgrade",
    )


def _known_revisions(database_url: str) -> set[str]:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config(database_url))
    return {script.revision for script in scripts.walk_revisions()}


def check_redis(settings: Settings) -> Check:
    import redis

    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT
    )
    try:
        client.ping()
        version = client.info("server").get("redis_version", "?")
    except Exception as exc:
        return Check(
            "redis",
            False,
            f"{_safe_url(settings.redis_url)} does not answer: {_error(exc)}",
            "Start Redis (docker compose up -d redis) or correct IMPORTER_REDIS_URL",
        )
    finally:
        client.close()
    return Check("redis", True, f"{_safe_url(settings.redis_url)}, Redis {version}")


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def check_broker(app) -> Check:
    conn = app.connection_for_write()
    where = conn.as_uri()  # The password masked.
    try:
        conn.ensure_connection(max_retries=1, interval_start=0.5, timeout=CONNECT_TIMEOUT * 2)
    except Exception as exc:
        return Check(
            "broker",
            False,
            f"{where} does not answer: {_error(exc)}",
            "Start the broker (Redis, or RabbitMQ for amqp:// URLs) or correct "
            "IMPORTER_BROKER_URL (empty means IMPORTER_REDIS_URL)",
        )
    finally:
        conn.release()
    return Check("broker", True, where)


def check_workers(app, settings: Settings, broker_ok: bool, timeout: float = 2.0) -> Check:
    queue = settings.task_queue
    if not broker_ok:
        return Check("workers", False, "not checked: the broker does not answer", "Fix the broker")
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    serving = sorted(
        host for host, queues in replies.items() if any(q.get("name") == queue for q in queues)
    )
    if serving:
        return Check("workers", True, f"{len(serving)} on queue {queue}: {', '.join(serving)}")
    if replies:
        others = sorted({q.get("name") for queues in replies.values() for q in queues})
        return Check(
            "workers",
            False,
            f"{len(replies)} worker(s) answered, none consumes queue {queue} "
            f"(they consume: {', '.join(others)})",
            f"Start a worker with IMPORTER_TASK_QUEUE={queue}: celery -A worker worker -E",
        )
    return Check(
        "workers",
        False,
        f"no worker answered within {timeout:g}s; imports would wait in queue {queue}",
        "Start one: celery -A worker worker -E --loglevel INFO (make up starts one)",
    )


def _timed(name: str, func, *args):
    """Runs a check, timing it; an unexpected error is that check failing, not the doctor."""
    started = time.perf_counter()
    try:
        result = func(*args)
    except Exception as exc:
        result = Check(
            name, False, _error(exc), "See the error; rerun with IMPORTER_LOG_LEVEL=DEBUG"
        )
    check = result[0] if isinstance(result, tuple) else result
    check.seconds = round(time.perf_counter() - started, 3)
    return result


def run_checks(settings: Settings, worker_timeout: float = 2.0) -> list[Check]:
    from importer.celery_app import create_celery

    checks: list[Check] = []
    result = _timed("database", check_database, settings)
    database, engine = result if isinstance(result, tuple) else (result, None)
    checks.append(database)
    try:
        checks.append(_timed("migrations", check_migrations, settings, engine))
    finally:
        if engine is not None:
            engine.dispose()
    checks.append(_timed("redis", check_redis, settings))
    app = create_celery(settings)
    try:
        broker = _timed("broker", check_broker, app)
        checks.append(broker)
        checks.append(_timed("workers", check_workers, app, settings, broker.ok, worker_timeout))
    finally:
        app.close()
    return checks
