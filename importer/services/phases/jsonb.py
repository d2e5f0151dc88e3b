"""Python values as jsonb text, for COPY."""

from __future__ import annotations

import json
from typing import Any

import orjson


def to_json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        # orjson stops at 64-bit integers; uploads may hold larger ones (JSON has no bound).
        return json.dumps(value, ensure_ascii=False)
