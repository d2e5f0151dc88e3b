"""The Flask app factory."""

from __future__ import annotations

from flask import Flask

from importer.celery_app import create_celery
from importer.config import Settings
from importer.logging_setup import configure_logging
from importer.resources import Resources
from web.rate_limits import install_rate_limits


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> Flask:
    settings = settings or Settings()
    resources = resources or Resources(settings)
    if resources.celery is None:
        create_celery(settings, resources)
    configure_logging()

    app = Flask(__name__)
    # Werkzeug refuses a larger body while reading it, before it is stored anywhere.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.json.sort_keys = False
    app.extensions["importer"] = resources

    from web import (
        account,
        assets,
        dashboard,
        errors,
        flows,
        health,
        imports,
        learned,
        merges,
        openapi,
    )

    errors.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(flows.bp)
    app.register_blueprint(assets.bp)
    app.register_blueprint(learned.bp)
    app.register_blueprint(merges.bp)
    app.register_blueprint(account.bp)
    openapi.register(app)
    dashboard.register(app, settings)
    app.extensions["limiter"] = install_rate_limits(app, settings)
    dashboard.limit_uploads(app, settings)
    # Observability: request id and import id in the log context, one line per request; /metrics.
    from web import metrics
    from web.request_log import install_request_logging

    install_request_logging(app)
    app.register_blueprint(metrics.bp)
    return app
