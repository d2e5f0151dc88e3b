"""The dashboard's blueprint and what its views share: the signed-in account, the services."""

from __future__ import annotations

from flask import Blueprint, current_app, g

from importer.services.api_keys import KeyHolder
from importer.services.container import Services

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


def services() -> Services:
    return current_app.extensions["importer"].services


def signed_in() -> KeyHolder:
    """The key holder the session belongs to, re-checked for this request."""
    return g.dashboard_holder
