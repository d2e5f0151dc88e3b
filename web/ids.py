"""Helpers every blueprint shares: the services, ids from the URL, live progress."""

from __future__ import annotations

import contextlib
import uuid

from flask import current_app, request

from importer.errors import NotFound
from importer.services.container import Services
from importer.services.pagination import InvalidQuery


def services() -> Services:
    return current_app.extensions["importer"].services


def live_progress(import_id: uuid.UUID, runs) -> dict[str, int]:
    """Redis's chunk progress, read only while a step that shows it runs. It refines what
    PostgreSQL says; with Redis down, PostgreSQL's coarser progress is still right."""
    if services().progress.shows_live_progress(runs):
        with contextlib.suppress(Exception):
            return current_app.extensions["importer"].runtime_state.progress(import_id)
    return {}


def parse_id(raw: str, kind: str = "import") -> uuid.UUID:
    """A malformed id is simply an id that does not exist: 404, like any other."""
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise NotFound(f"No such {kind}.", details={"id": raw}) from exc


def reject_nul_in_query() -> None:
    """PostgreSQL text cannot hold NUL: a query parameter with one is invalid (400), not a 500."""
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise InvalidQuery(
                "Query parameters cannot contain NUL characters.", details={"parameter": name}
            )
