"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from importer.errors import ImporterError

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


class InvalidQuery(ImporterError):
    status = 400
    code = "invalid-query"


def encode_cursor(position: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError as exc:
        raise InvalidQuery("The cursor is not valid.", details={"cursor": cursor}) from exc
    if not isinstance(position, list):
        raise InvalidQuery("The cursor is not valid.", details={"cursor": cursor})
    return position


def page_by_id(
    session: Session, query: Select, id_column: Any, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """One page of ``query`` in the order of its UUID ``id_column``, after ``cursor``; and the
    cursor of the next page, if there is one."""
    position = decode_cursor(cursor)
    if position is not None:
        try:
            query = query.where(id_column > uuid.UUID(position[0]))
        except (IndexError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidQuery("The cursor is not valid.", details={"cursor": cursor}) from exc
    rows = session.scalars(query.order_by(id_column).limit(limit + 1)).all()
    page = list(rows[:limit])
    following = encode_cursor([str(page[-1].id)]) if len(rows) > limit else None
    return page, following
