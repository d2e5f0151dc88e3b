"""The API's share of the log context: a request id per request (``X-Request-ID`` in and out),
the import id from the URL and the authenticated account, and one access line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flask import g, has_app_context, request

from importer.logging_setup import add_context_provider, bind, current_context, unbind
from importer.task_log import is_uuid

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
_IMPORT_LOCATION = re.compile(r"/api/v1/imports/([0-9a-fA-F-]{36})$")
request_log = logging.getLogger("importer.request")
QUIET_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


def _flask_account() -> Mapping[str, Any] | None:
    """The authenticated client account of the current request (set by web.auth on ``g``)."""
    if not has_app_context():
        return None
    account = g.get("client_account_id")
    return {"client_account_id": account} if account is not None else None


def install_request_logging(app) -> None:
    """A request id per request (``X-Request-ID`` in and out), the import id from the URL, and one
    access line per request with its status and duration."""
    add_context_provider(_flask_account)

    @app.before_request
    def _bind_request_context() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()
        import_id = (request.view_args or {}).get("import_id")
        g.log_token = bind(
            request_id=g.request_id,
            import_id=import_id if import_id and is_uuid(import_id) else None,
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
        if created and "import_id" not in current_context():
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
