"""Helpers every API blueprint shares: the services, and ids from the URL."""

from __future__ import annotations

import uuid

from flask import current_app

from importer.errors import NotFound
from importer.services.container import Services


def services() -> Services:
    return current_app.extensions["importer"].services


def parse_id(raw: str, kind: str = "import") -> uuid.UUID:
    """A malformed id is simply an id that does not exist: 404, like any other."""
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise NotFound(f"No such {kind}.", details={"id": raw}) from exc
