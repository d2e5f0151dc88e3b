"""Reading an import range by range on connections of their own, ahead of the caller.

A phase reads a range of rows, works on it in Python and writes the result in its transaction,
one range after the other: PostgreSQL reads while Python waits, and Python works while the
reading backend idles, on a machine whose other core has nothing to do. Readers that run the
next ranges' query meanwhile, each on its own connection, keep both busy.

Only for what the caller's transaction has not written: the readers see committed rows only, as
of each statement. The flow's phases read what earlier steps committed (the upload's records,
the validation's issues, the cleansing's rows), which no one changes while the import's unit
holds it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, Row
from sqlalchemy.sql.elements import TextClause


class RangeReader:
    def __init__(self, engine: Engine, readers: int = 2) -> None:
        self._engine = engine
        self._readers = readers

    def ranges(
        self,
        statement: TextClause,
        params: dict[str, Any],
        last: int,
        chunk_size: int,
    ) -> Iterator[tuple[int, int, Sequence[Row]]]:
        """(after, upto, rows) for each range of row numbers up to ``last``, in order.

        ``statement`` reads the rows with ``after < row_number <= upto``. At most ``readers``
        ranges are read ahead of the one the caller works on. Leaving the loop early (a cancel
        raises out of it) stops the readers before this returns.
        """
        bounds = iter(range(0, last, chunk_size))
        pool = ThreadPoolExecutor(self._readers, thread_name_prefix="range-reader")
        pending: deque[tuple[int, Future]] = deque()

        def submit() -> None:
            after = next(bounds, None)
            if after is not None:
                bounds_params = {**params, "after": after, "upto": after + chunk_size}
                pending.append((after, pool.submit(self._read, statement, bounds_params)))

        try:
            for _ in range(self._readers):
                submit()
            while pending:
                after, future = pending.popleft()
                rows = future.result()
                submit()
                yield after, after + chunk_size, rows
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _read(self, statement: TextClause, params: dict[str, Any]) -> Sequence[Row]:
        with self._engine.connect() as conn:
            return conn.execute(statement, params).all()
