"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from web import schemas
from web.openapi import document

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@document((200, schemas.Health), tags=["health"], authenticated=False)
def healthz():
    """The process is up"""
    return jsonify(schemas.Health(status="ok").dump())


@bp.get("/readyz")
@document(
    (200, schemas.Readiness),
    tags=["health"],
    authenticated=False,
    extra=[(503, (schemas.Readiness, "PostgreSQL or Redis does not answer."))],
)
def readyz():
    """PostgreSQL and Redis answer"""
    resources = current_app.extensions["importer"]
    checks = {}
    try:
        with resources.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["postgresql"] = "ok"
    except Exception as exc:
        checks["postgresql"] = f"error: {type(exc).__name__}"
    try:
        resources.runtime_state.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    body = schemas.Readiness(status="ready" if ready else "unavailable", checks=checks)
    return jsonify(body.dump()), (200 if ready else 503)
