"""Session cookie and CSRF settings, and the pages every dashboard error becomes.

CSRF is checked by the dashboard's blueprint only: the API authenticates with a Bearer header,
which a browser never adds on its own, so a forged cross-site request cannot use it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from importer.config import Settings
from importer.errors import ImporterError
from web.dashboard.blueprint import bp
from web.errors import error_response, http_error_code

log = logging.getLogger(__name__)
csrf = CSRFProtect()
MIN_SECRET_KEY_LENGTH = 32


class WeakSecretKey(RuntimeError):
    pass


def configure(app: Flask, settings: Settings) -> None:
    if settings.secret_key and len(settings.secret_key) < MIN_SECRET_KEY_LENGTH:
        # Said without the value: start-up errors end up in logs.
        raise WeakSecretKey(
            f"IMPORTER_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters "
            "(e.g. `openssl rand -hex 32`)."
        )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_lifetime_hours),
        # Checked where the dashboard asks (its blueprint), never on the API.
        WTF_CSRF_CHECK_DEFAULT=False,
        # A token lives as long as its session: a page left open still submits.
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)
    app.after_request(security_headers)


def wants_json() -> bool:
    """The dashboard's scripts ask for JSON; a page or a form post gets HTML."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > 0


def error_page(status: int, code: str, message: str):
    if wants_json():
        return error_response(status, code, message)
    return render_template("dashboard/error.html", status=status, message=message), status


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError):
    return error_page(
        400, "csrf-failed", f"The form could not be accepted ({exc.description}). Reload the page."
    )


@bp.errorhandler(ImporterError)
def importer_error(exc: ImporterError):
    if wants_json():
        return jsonify(exc.to_dict()), exc.status
    return error_page(exc.status, exc.code, exc.message)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    return error_page(exc.code or 500, http_error_code(exc), exc.description or exc.name)


@bp.errorhandler(Exception)
def unexpected(exc: Exception):
    log.exception("unhandled error")
    return error_page(500, "internal-error", "An unexpected error occurred.")


# The dashboard serves its own scripts and styles only, and no page of it may be framed: an
# injected tag or a clickjacking frame then finds nothing to run. The API's docs page (Swagger
# UI, an inline script) is not the dashboard's and keeps its own.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def security_headers(response):
    # By path, not blueprint: a URL under the dashboard that matches no view (a 404) is the
    # dashboard's answer too, though Flask runs no blueprint hook for it.
    if not request.path.startswith(bp.url_prefix):
        return response
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
