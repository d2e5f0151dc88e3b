"""JSON in and out of PostgreSQL's jsonb: orjson's speed, exact for integers of any size.

orjson reads and writes only 64-bit integers, and uploads may hold larger ones (JSON sets no
bound); both directions fall back to the standard json module for what orjson cannot do exactly.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# orjson turns integers beyond 64 bits into floats without a word. Such a float is at least this
# large; a float literal that large is rare and decodes the same by json.
_ROUNDED = 2.0**63


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    try:
        value = orjson.loads(data)
        if not _maybe_rounded(value):
            return value
    except orjson.JSONDecodeError:
        pass  # numbers beyond a double's range, which json reads as inf
    return json.loads(bytes(data) if isinstance(data, memoryview) else data)


def dumps(value: Any) -> bytes:
    """UTF-8 JSON text of ``value``."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        # What orjson refuses: integers beyond 64 bits, lone surrogates (escaped here, so that
        # PostgreSQL refuses them as unstorable), keys that are not strings.
        return json.dumps(value).encode("ascii")


def _maybe_rounded(value: Any) -> bool:
    if type(value) is dict:
        values = value.values()
    elif type(value) is list:
        values = value
    else:
        return type(value) is float and not -_ROUNDED < value < _ROUNDED
    for item in values:
        kind = type(item)
        if kind is str:
            continue
        if kind is float:
            if not -_ROUNDED < item < _ROUNDED:
                return True
        elif (kind is dict or kind is list) and _maybe_rounded(item):
            return True
    return False
