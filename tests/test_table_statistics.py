"""TableStatistics: ANALYZE a table a phase has outgrown, once, and never wait on another."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from importer.services.table_statistics import MIN_NEW_PAGES, TableStatistics

TABLE = "statistics_probe"


@pytest.fixture
def probe(resources):
    with resources.engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {TABLE} (id integer, pad text)"))
    yield resources.engine
    with resources.engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {TABLE}"))


def grow(engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(f"INSERT INTO {TABLE} SELECT g, repeat('x', 60) FROM generate_series(1, :n) g"),
            {"n": rows},
        )


def known_pages(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text(f"SELECT relpages FROM pg_class WHERE relname = '{TABLE}'"))


def test_a_grown_table_is_analysed_once(probe):
    grow(probe, 200_000)
    statistics = TableStatistics(probe)
    assert known_pages(probe) == 0
    assert statistics.refresh(TABLE) is True
    assert known_pages(probe) > MIN_NEW_PAGES
    assert statistics.refresh(TABLE) is False


def test_a_little_growth_is_left_to_autovacuum(probe):
    grow(probe, 1_000)
    assert TableStatistics(probe).refresh(TABLE) is False
    assert known_pages(probe) == 0


def test_a_table_another_analyze_holds_is_left_to_it(probe):
    grow(probe, 200_000)
    with probe.connect() as holder:
        # ANALYZE's own lock, as autovacuum's ANALYZE would hold it.
        holder.execute(text(f"LOCK TABLE {TABLE} IN SHARE UPDATE EXCLUSIVE MODE"))
        started = time.monotonic()
        assert TableStatistics(probe).refresh(TABLE) is False
        assert time.monotonic() - started < 5
        holder.rollback()
    assert known_pages(probe) == 0


def test_within_a_transaction_its_own_rows_are_counted(probe, resources):
    grow(probe, 1_000)
    with resources.session_factory() as session:
        session.execute(text(f"INSERT INTO {TABLE} SELECT g, 'y' FROM generate_series(1, 50000) g"))
        assert TableStatistics(probe).refresh_within(session, TABLE) is True
        known = TableStatistics(probe).known_rows(session, TABLE)
        assert known > 40_000
        session.rollback()


def test_within_a_transaction_a_held_table_is_skipped_and_the_transaction_goes_on(probe, resources):
    with probe.connect() as holder, resources.session_factory() as session:
        holder.execute(text(f"LOCK TABLE {TABLE} IN SHARE UPDATE EXCLUSIVE MODE"))
        session.execute(text(f"INSERT INTO {TABLE} VALUES (1, 'z')"))
        started = time.monotonic()
        assert TableStatistics(probe).refresh_within(session, TABLE) is False
        assert time.monotonic() - started < 5
        assert session.scalar(text(f"SELECT count(*) FROM {TABLE}")) == 1
        session.rollback()
        holder.rollback()
