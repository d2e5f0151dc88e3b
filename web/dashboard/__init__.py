"""The web dashboard: server-rendered pages over the same services as the API, signed in with
an API key kept as a session (cookie) and protected against CSRF."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Flask, redirect, url_for

from importer.config import Settings

# Imported for the routes they add to the blueprint.
from web.dashboard import (  # noqa: F401
    assets,
    import_page,
    imports_list,
    inventory,
    merges,
    security,
    session_auth,
)
from web.dashboard.blueprint import bp

log = logging.getLogger(__name__)


def register(app: Flask, settings: Settings) -> None:
    security.configure(app, settings)
    app.register_blueprint(bp)
    app.add_url_rule("/", "root", lambda: redirect(url_for("dashboard.home")))
    app.jinja_env.filters["age"] = age
    if not settings.secret_key:
        log.warning("the dashboard is off: set IMPORTER_SECRET_KEY to turn it on")


def limit_uploads(app: Flask, settings: Settings) -> None:
    """The dashboard's uploads count against the same limit as the API's, per account."""
    limiter = app.extensions["limiter"]
    endpoint = "dashboard.upload"
    app.view_functions[endpoint] = limiter.limit(
        settings.upload_rate_limit, key_func=imports_list.upload_rate_key, methods=["POST"]
    )(app.view_functions[endpoint])


def age(moment) -> str:
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"
