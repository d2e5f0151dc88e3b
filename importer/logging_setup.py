"""Logging for the API, the worker and the CLI, through structlog: one line per event on stderr.

JSON when stderr is not a terminal, structlog's console renderer (``time level logger message``
then ``key=value`` pairs, coloured) when it is; ``IMPORTER_LOG_FORMAT=json|text`` overrides,
``IMPORTER_LOG_LEVEL`` sets the level. The standard library's records (Celery, gunicorn, werkzeug,
SQLAlchemy, ours) go through the same processors as structlog's own.

Every line carries the log context, structlog contextvars: per Celery task (``task_id``, ``task``,
``step``, ``phase``, ``import_id``, ``client_account_id``: importer.task_log) and per API request
(``request_id``, ``import_id``, ``client_account_id``: web.request_log), so that
``grep <import id>`` follows an import through the API and the workers. Secrets (API keys, bearer
credentials, authorization values, passwords in URLs) are masked before rendering.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import Token
from datetime import UTC, date, datetime
from typing import Any

import structlog
from structlog.contextvars import (
    bind_contextvars,
    bound_contextvars,
    clear_contextvars,
    get_contextvars,
    merge_contextvars,
    reset_contextvars,
)
from structlog.dev import Column, ConsoleRenderer, KeyValueColumnFormatter, plain_traceback
from structlog.processors import EventRenamer, JSONRenderer, format_exc_info
from structlog.stdlib import ProcessorFormatter, add_log_level, add_logger_name
from structlog.typing import EventDict

from importer.task_log import add_celery_task_context

log = logging.getLogger(__name__)

# -- the log context: thin wrappers over structlog.contextvars ------------------------------------

# Printed in this order, after time, level, logger and message.
CONTEXT_FIELDS = (
    "request_id",
    "import_id",
    "client_account_id",
    "step",
    "phase",
    "task_id",
    "task",
)
# Called for every record: fields known only lazily (Flask's g after authentication).
_providers: list[Callable[[], Mapping[str, Any] | None]] = []


def _strings(fields: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in fields.items() if v is not None}


def bind(**fields: Any) -> Mapping[str, Token]:
    """Add fields (None values are left out) to the context; ``unbind(tokens)`` restores it."""
    return bind_contextvars(**_strings(fields))


def unbind(tokens: Mapping[str, Token]) -> None:
    try:
        reset_contextvars(**tokens)
    except ValueError:  # Bound in another context (a thread that ended, say): start afresh.
        clear_contextvars()


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    with bound_contextvars(**_strings(fields)):
        yield


current_context = get_contextvars


def add_context_provider(provider: Callable[[], Mapping[str, Any] | None]) -> None:
    if provider not in _providers:
        _providers.append(provider)


# -- processors -----------------------------------------------------------------------------------

_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def add_record_extras(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """A standard library record's ``extra=`` fields (they win over the context)."""
    record = event.get("_record")
    for key, value in (record.__dict__ if record else {}).items():
        if key not in _RECORD_ATTRS and not key.startswith("_"):
            event.setdefault(key, value)
    return event


def add_provided_context(_logger: Any, _method: str, event: EventDict) -> EventDict:
    for provider in _providers:
        with contextlib.suppress(Exception):  # A provider must never cost a log line.
            for key, value in _strings(provider() or {}).items():
                event.setdefault(key, value)
    return event


def add_time_and_level(logger: Any, method: str, event: EventDict) -> EventDict:
    """``time`` (UTC, milliseconds, of the record when there is one) and ``level`` (INFO...)."""
    record = event.get("_record")
    moment = datetime.fromtimestamp(record.created if record else time.time(), tz=UTC)
    event["time"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event["level"] = record.levelname if record else add_log_level(logger, method, {})["level"]
    event["level"] = event["level"].upper()
    return event


# What every event goes through, structlog's own and the standard library's alike.
SHARED_PROCESSORS = [
    add_record_extras,
    add_provided_context,
    add_celery_task_context,
    merge_contextvars,
    add_time_and_level,
    add_logger_name,
    EventRenamer("message"),
]

_SECRETS = [  # API keys are "imp_" + 43 URL-safe characters.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^@\s/]+@"), r"\1[REDACTED]@"),
    (re.compile(r"imp_[A-Za-z0-9_\-]{8,}"), "imp_[REDACTED]"),
    (re.compile(r"(?i)\b(bearer)(\s+)[^\s\"',;}]+"), r"\1\2[REDACTED]"),
    (
        re.compile(
            r"(?i)(\"?(?:authorization|api[_-]?key)\"?\s*[:=]\s*\"?)(?!bearer\s)"
            r"[^\s\"',;}]+"
        ),
        r"\1[REDACTED]",
    ),
]
_SECRET_KEY = re.compile(r"(?i)(?:authorization|api[_-]?key)$")


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _redacted(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted("", v) for v in value]
    if _SECRET_KEY.search(key):  # api_key=..., "authorization": "..." as a line shows them.
        return redact(f"{key}={value}")[len(key) + 1 :]
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return value if redact(text) == text else redact(text)


def redact_secrets(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """Mask API keys, bearer credentials, authorization values and URL passwords anywhere."""
    return {key: _redacted(key, value) for key, value in event.items()}


def _finish(exception_key: str, stack_key: str) -> Callable[[Any, str, EventDict], EventDict]:
    """Order the fields: time, level, logger, message, the context, the extras, the exception."""
    head = ("time", "level", "logger", "message", *CONTEXT_FIELDS)

    def finish(_logger: Any, _method: str, event: EventDict) -> EventDict:
        ordered = {key: event.pop(key) for key in head if key in event}
        renames = (("exception", exception_key), ("stack_info", stack_key))
        tail = {new: event.pop(old) for old, new in renames if old in event}
        return {**ordered, **event, **tail}

    return finish


def _text_value(value: Any) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in "\"'=" for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


_PRE_RENDER = [ProcessorFormatter.remove_processors_meta, format_exc_info, redact_secrets]


class JsonLineFormatter(ProcessorFormatter):
    """``{"time", "level", "logger", "message", <context>, <extra>, "exc_info"}`` on one line."""

    def __init__(self) -> None:
        def default(value: object) -> str:
            return value.isoformat() if isinstance(value, date) else str(value)

        render = JSONRenderer(ensure_ascii=False, default=default)
        processors = [*_PRE_RENDER, _finish("exc_info", "stack_info"), render]
        super().__init__(foreign_pre_chain=SHARED_PROCESSORS, processors=processors)


_LEVEL_COLOURS = {"DEBUG": "\033[32m", "INFO": "\033[32m", "WARNING": "\033[33m"}
_RED, _BRIGHT, _DIM, _BLUE, _CYAN, _RESET = (f"\033[{n}m" for n in (31, 1, 2, 34, 36, 0))


class TextFormatter(ProcessorFormatter):
    """structlog's console renderer: ``time level logger message key=value ...``, the exception
    below; in colours at a terminal."""

    def __init__(self, colors: bool = False) -> None:
        def style(code: str) -> str:
            return code if colors else ""

        def plain(code: str) -> KeyValueColumnFormatter:
            return KeyValueColumnFormatter(None, style(code), style(_RESET), str)

        def level(_key: str, value: object) -> str:
            return f"{style(_LEVEL_COLOURS.get(str(value), _RED))}{value!s:<7}{style(_RESET)}"

        columns = [
            Column("", KeyValueColumnFormatter(style(_CYAN), "", style(_RESET), _text_value)),
            Column("time", plain(_DIM)),
            Column("level", level),
            Column("logger", plain(_BLUE)),
            Column("message", plain(_BRIGHT)),
        ]
        render = ConsoleRenderer(
            columns=columns, sort_keys=False, exception_formatter=plain_traceback
        )
        processors = [*_PRE_RENDER, _finish("exception", "stack"), render]
        super().__init__(foreign_pre_chain=SHARED_PROCESSORS, processors=processors)


# -- setup ----------------------------------------------------------------------------------------

_HANDLER_NAME = "importer"


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _wants_json(stream) -> bool:
    choice = os.environ.get("IMPORTER_LOG_FORMAT", "").strip().lower()
    if choice in ("json", "text"):
        return choice == "json"
    return not _is_terminal(stream)


def _level(level: int | str | None) -> int | str:
    explicit = os.environ.get("IMPORTER_LOG_LEVEL")
    if explicit:
        return explicit.strip().upper()
    if level in (None, "", 0):
        return "INFO"
    return level.upper() if isinstance(level, str) else level


def _writes_to(handler: logging.Handler, path: str) -> bool:
    return isinstance(handler, logging.FileHandler) and handler.baseFilename == os.path.abspath(
        path
    )


def configure_logging(level: int | str | None = None, logfile: str | None = None) -> None:
    """Route the root logger, and structlog's loggers through it, to the importer's handler;
    idempotent.

    The handler keeps the process's real stderr: Celery later replaces ``sys.stderr`` with a proxy
    that logs, and a handler writing into that proxy would loop. ``IMPORTER_LOG_LEVEL`` wins over
    ``level`` (a Celery worker passes its ``--loglevel``).
    """
    structlog.configure(
        processors=[*SHARED_PROCESSORS, ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if logfile and handler is not None and not _writes_to(handler, logfile):
        # ``celery worker --logfile``: the file instead of stderr.
        root.removeHandler(handler)
        handler.close()
        handler = None
    if handler is None:
        if logfile:
            handler = logging.FileHandler(logfile, encoding="utf-8")
        else:
            handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
        handler.set_name(_HANDLER_NAME)
        root.addHandler(handler)
        first = True
    else:
        first = False
    stream = getattr(handler, "stream", None)
    if _wants_json(stream):
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(TextFormatter(colors=_is_terminal(stream)))
    # A later call (another app in the same process) leaves a level set since alone.
    if first or level or os.environ.get("IMPORTER_LOG_LEVEL"):
        root.setLevel(_level(level))
    # Warnings (Celery's, a library's deprecations) are events too: one line each, same format.
    logging.captureWarnings(True)
    # Chatter that is not an event: HTTP clients (the CLI polls the API), Alembic's plugin list.
    for name in ("httpx", "httpcore", "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(logging.WARNING)


# -- gunicorn --------------------------------------------------------------------------------------

try:
    from gunicorn.glogging import Logger as _GunicornBaseLogger
except ImportError:  # pragma: no cover - gunicorn is a dependency, but not of every process.
    _GunicornBaseLogger = object


class GunicornLogger(_GunicornBaseLogger):  # type: ignore[misc, valid-type]
    """``gunicorn --logger-class importer.logging_setup.GunicornLogger``: the master's and the
    workers' own lines (booting, signals, timeouts) in the importer's format too."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        self._cfg = cfg
        configure_logging()
        for gunicorn_log in (self.error_log, self.access_log):
            for handler in list(gunicorn_log.handlers):
                gunicorn_log.removeHandler(handler)
            gunicorn_log.propagate = True

    def info(self, msg, *args, **kwargs) -> None:
        # With reuse_port each worker binds its own sockets and the master none, so gunicorn's
        # "Listening at: %s (%s)" names no address: the configured ones are those listened on.
        if msg.startswith("Listening at:") and args and not args[0]:
            args = (",".join(gunicorn_addresses(self._cfg)), *args[1:])
        super().info(msg, *args, **kwargs)


def gunicorn_addresses(cfg) -> list[str]:
    """The bind addresses as gunicorn writes a listener: ``http://host:port``, ``unix:path``."""
    scheme = "https" if cfg.is_ssl else "http"
    addresses = []
    for address in cfg.address:
        if isinstance(address, tuple):
            host, port = address[:2]
            host = f"[{host}]" if ":" in host else host
            addresses.append(f"{scheme}://{host}:{port}")
        else:
            addresses.append(f"unix:{address}")
    return addresses
