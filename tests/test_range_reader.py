"""RangeReader: ranges read ahead on connections of their own, handed out in order."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from importer.services.range_reader import RangeReader

NUMBERS = text(
    """
    SELECT g AS row_number, pg_backend_pid() AS pid FROM generate_series(1, :n) g
    WHERE g > :after AND g <= :upto ORDER BY g
    """
)


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("range-reader")]


def test_every_range_comes_once_in_order_with_its_rows(resources):
    reader = RangeReader(resources.engine, readers=2)
    ranges = list(reader.ranges(NUMBERS, {"n": 23}, last=23, chunk_size=5))
    assert [(after, upto) for after, upto, _ in ranges] == [
        (0, 5),
        (5, 10),
        (10, 15),
        (15, 20),
        (20, 25),
    ]
    assert [row.row_number for _, _, rows in ranges for row in rows] == list(range(1, 24))


def test_ranges_are_read_on_other_connections_than_the_callers(resources):
    reader = RangeReader(resources.engine, readers=2)
    with resources.engine.connect() as conn:
        own = conn.scalar(text("SELECT pg_backend_pid()"))
        pids = {
            row.pid
            for _, _, rows in reader.ranges(NUMBERS, {"n": 40}, last=40, chunk_size=4)
            for row in rows
        }
    assert own not in pids


def test_a_failed_read_raises_where_its_range_is_taken(resources):
    failing = text(
        "SELECT g AS row_number, 1 / (g - 7) AS x FROM generate_series(1, 20) g "
        "WHERE g > :after AND g <= :upto ORDER BY g"
    )
    reader = RangeReader(resources.engine, readers=2)
    taken = []
    with pytest.raises(DBAPIError, match="division by zero"):
        for after, _, _ in reader.ranges(failing, {}, last=20, chunk_size=5):
            taken.append(after)
    assert taken == [0]  # the range holding row 7 raised
    assert reader_threads() == []


def test_leaving_the_loop_early_stops_the_readers(resources):
    reader = RangeReader(resources.engine, readers=2)
    for after, _, _ in reader.ranges(NUMBERS, {"n": 10_000}, last=10_000, chunk_size=100):
        if after == 200:
            break
    assert reader_threads() == []


def test_an_error_in_the_callers_work_stops_the_readers(resources):
    # A cancel raises out of the caller's loop at a checkpoint.
    reader = RangeReader(resources.engine, readers=2)
    with pytest.raises(RuntimeError):
        for after, _, _ in reader.ranges(NUMBERS, {"n": 10_000}, last=10_000, chunk_size=100):
            if after == 300:
                raise RuntimeError("cancelled")
    assert reader_threads() == []
