"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import json
from typing import Any

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
