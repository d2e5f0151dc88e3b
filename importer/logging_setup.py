"""One log line per event, on stderr, for the API and the worker alike.

JSON when stderr is not a terminal (``time level logger message`` then ``key=value`` pairs when it
is); ``IMPORTER_LOG_FORMAT=json|text`` overrides, ``IMPORTER_LOG_LEVEL`` sets the level.

Every record is stamped with the log context: contextvars bound per Celery task (``task_id``,
``task``, ``step``, ``import_id``, ``client_account_id``) and per API request (``request_id``,
``import_id`` from the URL, ``client_account_id`` once authenticated), so that
``grep <import id>`` follows an import through the API and the workers. API keys never reach the
output: whatever looks like one is masked in the formatted line.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

log = logging.getLogger(__name__)

# -- the log context ------------------------------------------------------------------------------

# The fields, in the order the text format prints them.
CONTEXT_FIELDS = (
    "request_id",
    "import_id",
    "client_account_id",
    "step",
    "phase",
    "task_id",
    "task",
)

_EMPTY: Mapping[str, str] = MappingProxyType({})
_context: ContextVar[Mapping[str, str]] = ContextVar("importer_log_context", default=_EMPTY)
# Called for every record; each returns fields known only lazily (Flask's g after authentication).
_providers: list[Callable[[], Mapping[str, Any] | None]] = []


def bind(**fields: Any) -> Token:
    """Add fields (None values are left out) to the context; ``unbind(token)`` restores it."""
    merged = dict(_context.get())
    merged.update({k: str(v) for k, v in fields.items() if v is not None})
    return _context.set(MappingProxyType(merged))


def unbind(token: Token) -> None:
    try:
        _context.reset(token)
    except ValueError:  # Made in another context (a thread that ended, say): start afresh.
        _context.set(_EMPTY)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def current_context() -> dict[str, str]:
    return dict(_context.get())


def add_context_provider(provider: Callable[[], Mapping[str, Any] | None]) -> None:
    if provider not in _providers:
        _providers.append(provider)


class ContextFilter(logging.Filter):
    """Copies the log context onto each record; fields given with ``extra=`` win."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = dict(_context.get())
        # Celery's lines about a task ("received", "succeeded") outside the task itself (in the
        # worker's main process) carry the task in ``data``: its context comes from there.
        data = record.__dict__.get("data")
        if "task_id" not in fields and _is_celery_task_data(data):
            fields.update(_celery_data_fields(data))
        for provider in _providers:
            with contextlib.suppress(Exception):  # A provider must never cost a log line.
                fields.update({k: str(v) for k, v in (provider() or {}).items() if v is not None})
        for key, value in fields.items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


# -- formatting -----------------------------------------------------------------------------------

# API keys are "imp_" + 43 URL-safe characters; bearer credentials and authorization=... values
# of any shape go as well.
_SECRETS = [
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


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


_STANDARD_ATTRS = frozenset(RESERVED_ATTRS) | {"taskName", "message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """The record's own fields: the log context and ``extra=``, context fields first."""
    fields = {k: record.__dict__[k] for k in CONTEXT_FIELDS if k in record.__dict__}
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRS and key not in fields and not key.startswith("_"):
            fields[key] = value
    if _is_celery_task_data(fields.get("data")):
        del fields["data"]  # Celery's format arguments: in the message and the context already.
    return fields


def _iso_time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLineFormatter(JsonFormatter):
    """``{"time", "level", "logger", "message", <context>, <extra>, "exc_info"}`` on one line."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def add_fields(self, log_data, record, message_dict) -> None:
        super().add_fields(log_data, record, message_dict)
        # time, level, logger, message, the context fields, then the record's own extras.
        fields = dict(log_data)
        log_data.clear()
        log_data["time"] = _iso_time(record)
        for key in ("level", "logger", "message", *CONTEXT_FIELDS):
            if key in fields:
                log_data[key] = fields.pop(key)
        if _is_celery_task_data(fields.get("data")):
            del fields["data"]  # Celery's format arguments: in the message and the context already.
        log_data.update(fields)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...`` for a human at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        parts = [_iso_time(record), f"{record.levelname:<7}", record.name, message]
        for key, value in _extras(record).items():
            parts.append(f"{key}={_text_value(value)}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return redact(line)


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if not text or any(c.isspace() or c in "\"'=" for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


# -- setup ----------------------------------------------------------------------------------------

_HANDLER_NAME = "importer"


def _wants_json(stream) -> bool:
    choice = os.environ.get("IMPORTER_LOG_FORMAT", "").strip().lower()
    if choice in ("json", "text"):
        return choice == "json"
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


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
    """Route the root logger through the importer's handler; idempotent.

    The handler keeps the process's real stderr: Celery later replaces ``sys.stderr`` with a proxy
    that logs, and a handler writing into that proxy would loop. ``IMPORTER_LOG_LEVEL`` wins over
    ``level`` (a Celery worker passes its ``--loglevel``).
    """
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
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
        first = True
    else:
        first = False
    stream = getattr(handler, "stream", None)
    handler.setFormatter(JsonLineFormatter() if _wants_json(stream) else TextFormatter())
    # A later call (another app in the same process) leaves a level set since alone.
    if first or level or os.environ.get("IMPORTER_LOG_LEVEL"):
        root.setLevel(_level(level))
    # Warnings (Celery's, a library's deprecations) are events too: one line each, same format.
    logging.captureWarnings(True)
    # Chatter that is not an event: HTTP clients (the CLI polls the API), Alembic's plugin list.
    for name in ("httpx", "httpcore", "alembic.runtime.plugins"):
        logging.getLogger(name).setLevel(logging.WARNING)


# -- Celery ---------------------------------------------------------------------------------------

# Task name -> the pipeline step it runs, as the step runs and the API call them; another
# "importer.<name>" task is step <name>.
TASK_STEPS = {
    "importer.validate_import": "validate",
    "importer.persist_field_mappings": "mappings",
    "importer.trigger_discovery_flow": "discovery",
    "importer.run_discovery_flow": "discovery_flow",
    "importer.run_discovery_phase": "discovery_flow",
}
_task_tokens: dict[str, Token] = {}


def task_fields(name: str | None, args: Any, kwargs: Any) -> dict[str, Any]:
    """The log context of a task: its step (and phase), and the import its arguments name."""
    name = name or ""
    step = TASK_STEPS.get(name) or (name.removeprefix("importer.") if name else None)
    fields: dict[str, Any] = {"task": name or None, "step": step}
    args = list(args or ())
    kwargs = dict(kwargs or {})
    # A discovery phase task takes (import_id, client_account_id, phase).
    phase = kwargs.get("phase", args[2] if len(args) >= 3 else None)
    if isinstance(phase, str):
        fields["phase"] = phase
    import_id = args[0] if len(args) >= 1 else kwargs.get("import_id")
    account = args[1] if len(args) >= 2 else kwargs.get("client_account_id")
    for key, value in (("import_id", import_id), ("client_account_id", account)):
        if value is not None and _is_uuid(value):
            fields[key] = value
    return fields


def _is_celery_task_data(data: object) -> bool:
    return isinstance(data, dict) and "id" in data and "name" in data


def _celery_data_fields(data: dict) -> dict[str, str]:
    def literal(value: Any) -> Any:
        if isinstance(value, str):  # Celery's argsrepr / kwargsrepr.
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return None
        return value

    args, kwargs = literal(data.get("args")), literal(data.get("kwargs"))
    fields = task_fields(
        str(data["name"]),
        args if isinstance(args, list | tuple) else (),
        kwargs if isinstance(kwargs, dict) else {},
    )
    fields["task_id"] = data["id"]
    return {k: str(v) for k, v in fields.items() if v is not None}


def _on_task_prerun(task_id=None, task=None, args=None, kwargs=None, **_: Any) -> None:
    if task_id is None:
        return
    name = getattr(task, "name", None)
    _task_tokens[task_id] = bind(task_id=task_id, **task_fields(name, args, kwargs))


def _on_task_postrun(task_id=None, **_: Any) -> None:
    token = _task_tokens.pop(task_id, None) if task_id is not None else None
    if token is not None:
        unbind(token)


def _on_setup_logging(loglevel=None, logfile=None, **_: Any) -> None:
    # Connected at all, this receiver stops Celery configuring logging itself: its own loggers
    # ("celery.*", task loggers) then propagate to the root and its importer handler.
    configure_logging(loglevel, logfile)


def install_celery_logging() -> None:
    """Connect the Celery signals once per process, however many apps are created."""
    from celery.signals import setup_logging, task_postrun, task_prerun

    setup_logging.connect(_on_setup_logging, weak=False, dispatch_uid="importer.logging.setup")
    task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="importer.logging.prerun")
    task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="importer.logging.postrun")


# -- Flask ----------------------------------------------------------------------------------------

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
_IMPORT_LOCATION = re.compile(r"/api/v1/imports/([0-9a-fA-F-]{36})$")
request_log = logging.getLogger("importer.request")
QUIET_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _flask_account() -> Mapping[str, Any] | None:
    """The authenticated client account of the current request (set by web.auth on ``g``)."""
    flask = sys.modules.get("flask")
    if flask is None or not flask.has_app_context():
        return None
    account = flask.g.get("client_account_id")
    return {"client_account_id": account} if account is not None else None


def install_flask_logging(app) -> None:
    """A request id per request (``X-Request-ID`` in and out), the import id from the URL, and one
    access line per request with its status and duration."""
    from flask import g, request

    add_context_provider(_flask_account)

    @app.before_request
    def _bind_request_context() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()
        import_id = (request.view_args or {}).get("import_id")
        g.log_token = bind(
            request_id=g.request_id,
            import_id=import_id if import_id and _is_uuid(import_id) else None,
        )

    @app.after_request
    def _log_request(response):
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        started = g.get("request_started")
        extra: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
        }
        if started is not None:
            extra["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        # An upload's import id is known once it is stored: its Location names it.
        created = _IMPORT_LOCATION.search(response.headers.get("Location", ""))
        if created and "import_id" not in _context.get():
            extra["import_id"] = created.group(1)
        # Probes and scrapes come every few seconds: not events worth a line at INFO.
        level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
        request_log.log(
            level, "%s %s %s", request.method, request.path, response.status_code, extra=extra
        )
        return response

    @app.teardown_request
    def _unbind_request_context(_exc: BaseException | None) -> None:
        token = g.pop("log_token", None)
        if token is not None:
            unbind(token)


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
