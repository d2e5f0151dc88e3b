"""jsonb in and out: orjson's speed without its limits on integers beyond 64 bits."""

from __future__ import annotations

import json

import pytest

from importer.json_codec import dumps
from importer.json_codec import loads as json_loads


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": 123456789012345678901234567890}',
        b'{"a": [1, {"b": -99999999999999999999999}]}',
        b"18446744073709551616",
        b'{"big": 9223372036854775807, "small": -9223372036854775808}',
        b'{"f": 1.5, "e": 1e25, "s": "12345678901234567890123"}',
        b'{"deep": [[[{"x": 2e300}]]], "t": true, "n": null}',
    ],
)
def test_decodes_as_json_does(text: bytes) -> None:
    assert json_loads(text) == json.loads(text)
    assert json_loads(memoryview(text)) == json.loads(text)
    assert json_loads(text.decode()) == json.loads(text)


def test_integers_keep_every_digit() -> None:
    assert json_loads(b"[123456789012345678901234567890]")[0] == 123456789012345678901234567890


def test_numbers_beyond_a_double_read_as_json_reads_them() -> None:
    assert json_loads(b"[1e400]") == [float("inf")]


@pytest.mark.parametrize(
    "value",
    [{"a": 1, "b": [True, None, "é"]}, {"big": 2**70, "neg": -(2**80)}, [1.5, "x\ty\n"]],
)
def test_dumps_round_trips_what_orjson_cannot_hold_too(value):
    assert json.loads(dumps(value)) == value
    assert json_loads(dumps(value)) == value
