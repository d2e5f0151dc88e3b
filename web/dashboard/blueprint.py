"""The dashboard's blueprint and what its views share: the signed-in account, the services."""

from __future__ import annotations

from flask import Blueprint, current_app, g

from importer.services.api_keys import KeyHolder
from importer.services.container import Services
from web.dashboard.queries import DashboardQueries

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
# Stateless: one for every request.
queries = DashboardQueries()


def services() -> Services:
    return current_app.extensions["importer"].services


def signed_in() -> KeyHolder:
    """The key holder the session belongs to, re-checked for this request."""
    return g.dashboard_holder


def live_progress(import_id) -> dict[str, int]:
    """Redis's chunk progress of a running step, which refines what PostgreSQL says."""
    try:
        return current_app.extensions["importer"].runtime_state.progress(import_id)
    except Exception:  # Redis down: PostgreSQL's coarser progress is still right.
        return {}
