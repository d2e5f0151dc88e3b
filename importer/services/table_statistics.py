"""Planner statistics brought up to date after a phase has grown a table by a large import.

PostgreSQL plans from statistics that autovacuum refreshes a minute or more after a bulk write.
A flow's next phase starts at once, and a million rows its planner has never seen made it choose
a nested loop where a hash join takes a tenth of the time (the tech debt's OS pairs at 1M rows:
4.4 s against 0.57 s after ANALYZE). ANALYZE samples a fixed number of rows: a few hundred ms on
any table size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from psycopg.errors import LockNotAvailable
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# As autovacuum's default analyze_scale_factor: a table a tenth larger than its statistics say
# has outgrown them. Its size in pages, not in rows: the file's size is always current, where
# the row counters reach pg_stat a while after the commit.
STALE_GROWTH = 1.1
# Below this growth (8 MB), planning errors cost less than the ANALYZE itself.
MIN_NEW_PAGES = 1000
KNOWN_ROWS = text(
    "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = CAST(:table AS regclass)"
)
PAGES = text(
    """
    SELECT relpages, pg_relation_size(oid) / current_setting('block_size')::integer
    FROM pg_class WHERE oid = CAST(:table AS regclass)
    """
)


class TableStatistics:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def known_rows(self, session: Session, table: str) -> float:
        """How many rows the statistics of ``table`` count."""
        return session.scalar(KNOWN_ROWS, {"table": table})

    def refresh(self, table: str) -> bool:
        """ANALYZE ``table`` if it has outgrown its statistics; True if it did.

        On a connection of its own, outside the caller's transaction: ANALYZE holds its lock to
        the end of the transaction it runs in, and would hold off every other import's ANALYZE
        of the table for a whole phase. Where another ANALYZE (autovacuum's) holds the table,
        that one will do: this waits a second at most and goes on.
        """
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            known, pages = conn.execute(PAGES, {"table": table}).one()
            if pages - known < MIN_NEW_PAGES or pages < STALE_GROWTH * known:
                return False
            conn.execute(text("SET lock_timeout = '1s'"))
            return _unless_held(table, lambda: conn.execute(text(f"ANALYZE {table}")))

    def refresh_within(self, session: Session, table: str) -> bool:
        """ANALYZE ``table`` in the caller's transaction, whose own uncommitted rows it then counts.

        For a transaction that writes more rows into a table than its statistics know of, and
        plans later statements by them. Its lock is held to the transaction's end: other
        ANALYZEs of the table (autovacuum's, another import's) wait for that or skip it. If one
        holds the table, this goes on at once without it.
        """

        def analyze() -> None:
            with session.begin_nested():
                # ANALYZE's own lock, taken without waiting: no timeout to set and restore.
                session.execute(text(f"LOCK TABLE {table} IN SHARE UPDATE EXCLUSIVE MODE NOWAIT"))
                session.execute(text(f"ANALYZE {table}"))

        return _unless_held(table, analyze)


def _unless_held(table: str, analyze: Callable[[], object]) -> bool:
    """Run ``analyze``; False, and no harm done, when another ANALYZE holds the table."""
    try:
        analyze()
    except OperationalError as exc:
        if not isinstance(exc.orig, LockNotAvailable):
            raise
        log.info("ANALYZE %s skipped: another ANALYZE holds the table", table)
        return False
    return True
