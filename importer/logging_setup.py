"""One log line per event, on stderr, for the API and the worker alike, through structlog.

JSON when stderr is not a terminal, structlog's console renderer (``time level logger message``
then ``key=value`` pairs, coloured) when it is; ``IMPORTER_LOG_FORMAT=json|text`` overrides,
``IMPORTER_LOG_LEVEL`` sets the level. The standard library's records (Celery, gunicorn, werkzeug,
SQLAlchemy, ours) go through the same processors as structlog's own.

Every line carries the log context: structlog contextvars bound per Celery task (``task_id``,
``task``, ``step``, ``phase``, ``import_id``, ``client_account_id``) and per API request
(``request_id``, ``import_id`` from the URL, ``client_account_id`` once authenticated), so that
``grep <import id>`` follows an import through the API and the workers. API keys never reach the
output: whatever looks like one is masked by the last processor before rendering.
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
from structlog.stdlib import ProcessorFormatter
from structlog.typing import EventDict

log = logging.getLogger(__name__)

# -- the log context: structlog's contextvars -----------------------------------------------------

# The fields, in the order both formats print them (after time, level, logger and message).
CONTEXT_FIELDS = (
    "request_id",
    "import_id",
    "client_account_id",
    "step",
    "phase",
    "task_id",
    "task",
)

# Called for every record; each returns fields known only lazily (Flask's g after authentication).
_providers: list[Callable[[], Mapping[str, Any] | None]] = []


def _strings(fields: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in fields.items() if v is not None}


def bind(**fields: Any) -> Mapping[str, Token]:
    """Add fields (None values are left out) to the context; ``unbind(tokens)`` restores it."""
    return bind_contextvars(**_strings(fields))


def unbind(tokens: Mapping[str, Token]) -> None:
    try:
        reset_contextvars(**tokens)
    except ValueError:  # Made in another context (a thread that ended, say): start afresh.
        clear_contextvars()


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    with bound_contextvars(**_strings(fields)):
        yield


def current_context() -> dict[str, str]:
    return get_contextvars()


def add_context_provider(provider: Callable[[], Mapping[str, Any] | None]) -> None:
    if provider not in _providers:
        _providers.append(provider)


# -- processors -----------------------------------------------------------------------------------

_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def add_record_extras(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """A standard library record's ``extra=`` fields; they win over the context."""
    record = event.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                event.setdefault(key, value)
    return event


def add_lazy_context(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """The providers' fields, and the context of the task a Celery line is about."""
    for provider in _providers:
        with contextlib.suppress(Exception):  # A provider must never cost a log line.
            for key, value in _strings(provider() or {}).items():
                event.setdefault(key, value)
    # Celery's lines about a task ("received", "succeeded") outside the task itself (in the
    # worker's main process) carry the task in ``data``, its format arguments: the context.
    data = event.get("data")
    if _is_celery_task_data(data):
        del event["data"]
        if "task_id" not in get_contextvars():
            for key, value in _celery_data_fields(data).items():
                event.setdefault(key, value)
    return event


def add_time(_logger: Any, _method: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    moment = datetime.fromtimestamp(record.created if record else time.time(), tz=UTC)
    event["time"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return event


def add_level(logger: Any, method: str, event: EventDict) -> EventDict:
    record = event.get("_record")
    if record is not None:
        event["level"] = record.levelname
    else:
        event["level"] = structlog.stdlib.add_log_level(logger, method, {})["level"].upper()
    return event


# What runs on every event, structlog's own and the standard library's alike.
SHARED_PROCESSORS = [
    add_record_extras,
    add_lazy_context,
    merge_contextvars,
    add_time,
    add_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.EventRenamer("message"),
]

# API keys are "imp_" + 43 URL-safe characters; bearer credentials, authorization=... values of
# any shape and passwords in URLs (a database's, a broker's) go as well.
_SECRETS = [
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
    if (value is None or isinstance(value, bool | int | float)) and not _SECRET_KEY.search(key):
        return value
    text = value if isinstance(value, str) else str(value)
    if _SECRET_KEY.search(key):  # api_key=..., "authorization": "..." as the line shows them.
        return redact(f"{key}={text}")[len(key) + 1 :]
    masked = redact(text)
    return value if masked == text else masked


def redact_secrets(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """Mask API keys, bearer credentials and authorization values in every field."""
    return {key: _redacted(key, value) for key, value in event.items()}


def _in_order(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """time, level, logger, message, the context fields, the record's own extras, exception."""
    head = ("time", "level", "logger", "message", *CONTEXT_FIELDS)
    ordered = {key: event.pop(key) for key in head if key in event}
    tail = {key: event.pop(key) for key in ("exc_info", "stack_info") if key in event}
    return {**ordered, **event, **tail}


def _rename(old: str, new: str) -> Callable[[Any, str, EventDict], EventDict]:
    def rename(_logger: Any, _method: str, event: EventDict) -> EventDict:
        if old in event:
            event[new] = event.pop(old)
        return event

    return rename


def _json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if not text or any(c.isspace() or c in "\"'=" for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


_FORMATTING = [
    ProcessorFormatter.remove_processors_meta,
    structlog.processors.format_exc_info,
]


class JsonLineFormatter(ProcessorFormatter):
    """``{"time", "level", "logger", "message", <context>, <extra>, "exc_info"}`` on one line."""

    def __init__(self) -> None:
        super().__init__(
            foreign_pre_chain=SHARED_PROCESSORS,
            processors=[
                *_FORMATTING,
                _rename("exception", "exc_info"),
                redact_secrets,
                _in_order,
                structlog.processors.JSONRenderer(ensure_ascii=False, default=_json_default),
            ],
        )


_LEVEL_COLOURS = {"DEBUG": "\033[32m", "INFO": "\033[32m", "WARNING": "\033[33m"}
_RED, _BRIGHT, _DIM, _BLUE, _CYAN, _RESET = (f"\033[{n}m" for n in (31, 1, 2, 34, 36, 0))


class TextFormatter(ProcessorFormatter):
    """``time level logger message key=value ...`` for a human, in colours at a terminal."""

    def __init__(self, colors: bool = False) -> None:
        def style(code: str) -> str:
            return code if colors else ""

        def plain(code: str = "") -> KeyValueColumnFormatter:
            return KeyValueColumnFormatter(None, style(code), style(_RESET), str)

        def level(_key: str, value: object) -> str:
            colour = style(_LEVEL_COLOURS.get(str(value), _RED))
            return f"{colour}{value!s:<7}{style(_RESET)}"

        pairs = KeyValueColumnFormatter(style(_CYAN), "", style(_RESET), _text_value)
        renderer = ConsoleRenderer(
            columns=[
                Column("", pairs),
                Column("time", plain(_DIM)),
                Column("level", level),
                Column("logger", plain(_BLUE)),
                Column("message", plain(_BRIGHT)),
            ],
            sort_keys=False,
            exception_formatter=plain_traceback,
        )
        super().__init__(
            foreign_pre_chain=SHARED_PROCESSORS,
            processors=[
                *_FORMATTING,
                _rename("stack_info", "stack"),
                redact_secrets,
                _in_order,
                renderer,
            ],
        )


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
_task_tokens: dict[str, Mapping[str, Token]] = {}


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
        if created and "import_id" not in get_contextvars():
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
