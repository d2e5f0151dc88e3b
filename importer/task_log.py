"""The Celery tasks' share of the log context: the task, its step (and phase), the import and
the account its arguments name, bound as structlog contextvars while the task runs, and the same
for Celery's own lines about a task."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Mapping
from contextvars import Token
from typing import Any

from structlog.contextvars import (
    bind_contextvars,
    clear_contextvars,
    get_contextvars,
    reset_contextvars,
)
from structlog.typing import EventDict

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
        if value is not None and is_uuid(value):
            fields[key] = value
    return fields


def _is_celery_task_data(data: object) -> bool:
    return isinstance(data, dict) and "id" in data and "name" in data


def add_celery_task_context(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """A structlog processor: Celery's lines about a task ("received", "succeeded") outside the
    task itself (in the worker's main process) carry the task in ``data``, their format
    arguments: the task's context comes from there."""
    data = event.get("data")
    if _is_celery_task_data(data):
        del event["data"]  # In the message already.
        if "task_id" not in get_contextvars():
            for key, value in _celery_data_fields(data).items():
                event.setdefault(key, value)
    return event


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
    fields = {"task_id": task_id, **task_fields(name, args, kwargs)}
    _task_tokens[task_id] = bind_contextvars(
        **{k: str(v) for k, v in fields.items() if v is not None}
    )


def _on_task_postrun(task_id=None, **_: Any) -> None:
    tokens = _task_tokens.pop(task_id, None) if task_id is not None else None
    if tokens is not None:
        try:
            reset_contextvars(**tokens)
        except ValueError:  # Bound in another context (a thread that ended, say): start afresh.
            clear_contextvars()


def _on_setup_logging(loglevel=None, logfile=None, **_: Any) -> None:
    # Connected at all, this receiver stops Celery configuring logging itself: its own loggers
    # ("celery.*", task loggers) then propagate to the root and its importer handler.
    from importer.logging_setup import configure_logging

    configure_logging(loglevel, logfile)


def install_celery_logging() -> None:
    """Connect the Celery signals once per process, however many apps are created."""
    from celery.signals import setup_logging, task_postrun, task_prerun

    setup_logging.connect(_on_setup_logging, weak=False, dispatch_uid="importer.logging.setup")
    task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="importer.logging.prerun")
    task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="importer.logging.postrun")


def is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
