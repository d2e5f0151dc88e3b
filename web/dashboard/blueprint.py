"""The dashboard's blueprint and what its views share: the signed-in account, the queries."""

from __future__ import annotations

from flask import Blueprint, g

from importer.services.api_keys import KeyHolder
from web.dashboard.queries import DashboardQueries

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
# Stateless: one for every request.
queries = DashboardQueries()


def signed_in() -> KeyHolder:
    """The key holder the session belongs to, re-checked for this request."""
    return g.dashboard_holder
