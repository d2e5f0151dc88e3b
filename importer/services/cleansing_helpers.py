"""Processes that clean a share of an import's ranges while the cleansing phase cleans the rest.

Cleaning is Python, bound to one core, and the worker's process is one. A helper is a Python
process of its own (`python -m importer.services.cleansing_helpers`), started by the phase: it
reads its share of the ranges (every n-th) from the committed raw records and sends each one
back cleaned, as the bytes of a COPY, through a pipe. The phase writes them into its own COPY,
in its own transaction, in row order: what is stored, and when it becomes visible, is what the
phase alone would store. A cancel, a failure or a rollback of the phase is the same as ever;
the helpers are stopped with it.

A helper that cannot start, fails, stalls or sends what was not asked of it leaves its ranges to
the phase, which cleans them itself: a helper costs time when it goes wrong, never the import.
A helper exits when the phase closes its stdin, or when the phase's process dies (its end of
the pipe closes).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import queue
import struct
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

import orjson
from psycopg.copy import Copy, FileWriter

from importer.db import make_engine
from importer.services.phases.data_cleansing import VALID_ROWS, CleanRowWriter, CleansingJob
from importer.services.range_reader import RangeReader

log = logging.getLogger(__name__)

# A range's frame: its start, its rows, the length of its COPY data and of its outcome counts.
FRAME = struct.Struct(">qIII")
# Cleaned ranges a helper may have sent ahead of the phase: it waits on its pipe beyond that.
AHEAD = 2
# How often the phase, waiting for a helper's range, checks for a cancel.
WAIT_STEP = 0.5
# A helper that sends nothing for this long is given up: a range takes it well under a second.
STALL_AFTER = 120
# How long a helper may take to exit once told to, before it is killed.
EXIT_WAIT = 5
# A helper takes a second or so to start: smaller imports are cleaned by the phase alone.
MIN_RANGES = 8


@dataclass(frozen=True)
class CleanedRange:
    after: int
    rows: int
    copy_data: bytes
    counts: dict[str, dict[str, int]]


class Helper:
    """One helper process, and the thread that reads its ranges as they come."""

    def __init__(self, process: subprocess.Popen, stall_after: float) -> None:
        self.process = process
        self._stall_after = stall_after
        self._ranges: queue.Queue[CleanedRange | None] = queue.Queue(maxsize=AHEAD)
        self._failed = False
        self._reader = threading.Thread(target=self._read, name="cleansing-helper", daemon=True)
        self._reader.start()

    def take(self, after: int, waiting: Callable[[], None]) -> CleanedRange | None:
        """The range starting after ``after``; None when the helper cannot give it."""
        waited = 0.0
        while not self._failed:
            try:
                cleaned = self._ranges.get(timeout=WAIT_STEP)
            except queue.Empty:
                waiting()
                waited += WAIT_STEP
                if waited >= self._stall_after:
                    self._fail(f"sent nothing for {waited:.0f} s")
                continue
            if cleaned is not None and cleaned.after == after:
                return cleaned
            self._fail("stopped early" if cleaned is None else f"sent {cleaned.after}, not {after}")
        return None

    def _fail(self, why: str) -> None:
        log.warning(
            "cleansing helper %s %s; the phase cleans its ranges itself", self.process.pid, why
        )
        self._failed = True
        self.process.kill()

    def close(self) -> None:
        # Its stdin closed, a helper exits at once, whatever it was doing.
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=EXIT_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        # The reader may be waiting to hand over a range: take them until it is done.
        while self._reader.is_alive():
            with contextlib.suppress(queue.Empty):
                self._ranges.get(timeout=WAIT_STEP)
        self.process.stdout.close()

    def _read(self) -> None:
        stream = self.process.stdout
        try:
            while header := stream.read(FRAME.size):
                after, rows, size, counts_size = FRAME.unpack(_whole(header, FRAME.size))
                copy_data = _whole(stream.read(size), size)
                counts = orjson.loads(_whole(stream.read(counts_size), counts_size))
                self._ranges.put(CleanedRange(after, rows, copy_data, counts))
        except (OSError, ValueError):
            log.warning("cleansing helper %s sent a broken frame", self.process.pid, exc_info=True)
        finally:
            self._ranges.put(None)


def _whole(data: bytes, size: int) -> bytes:
    if len(data) != size:  # the helper died in the middle of a frame
        raise ValueError(f"{len(data)} bytes of a {size}-byte part")
    return data


class HelperRun:
    """The helpers of one run of the phase; range ``index`` is the phase's own when None."""

    def __init__(self, helpers: list[Helper]) -> None:
        self.helpers = helpers
        self.shares = len(helpers) + 1

    def owner(self, index: int) -> Helper | None:
        share = index % self.shares
        return None if share == 0 else self.helpers[share - 1]

    def close(self) -> None:
        for helper in self.helpers:
            helper.close()


class CleansingHelpers:
    def __init__(
        self,
        database_url: str,
        count: int,
        command: list[str] | None = None,
        stall_after: float = STALL_AFTER,
    ) -> None:
        self._database_url = database_url
        self._count = count
        self._command = command or [sys.executable, "-m", __name__]
        self._stall_after = stall_after

    def start(self, job: CleansingJob, last: int, chunk_size: int) -> HelperRun:
        """Helpers for this run, or none when the import is too small to be worth a process."""
        ranges = -(-last // chunk_size)
        if self._count <= 0 or ranges < MIN_RANGES:
            return HelperRun([])
        processes = []
        for _ in range(self._count):
            try:
                processes.append(
                    subprocess.Popen(self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                )
            except OSError:  # no process to be had: the phase does with fewer
                log.warning("could not start a cleansing helper", exc_info=True)
        shares = len(processes) + 1
        helpers = []
        for share, process in enumerate(processes, start=1):
            helpers.append(Helper(process, self._stall_after))
            order = {
                "database_url": self._database_url,
                "job": job.to_json(),
                "last": last,
                "chunk_size": chunk_size,
                "share": [share, shares],
            }
            # On stdin, not in argv: the database URL may hold a password. A helper that died
            # before reading it is found out by its reader, and its ranges left to the phase.
            with contextlib.suppress(OSError):
                process.stdin.write(orjson.dumps(order) + b"\n")
                process.stdin.flush()
        return HelperRun(helpers)


def serve(order: dict, out: IO[bytes]) -> None:
    """Clean every range of the order's share, in order, as frames on ``out``."""
    job = CleansingJob.from_json(order["job"])
    engine = make_engine(order["database_url"], pool_size=2)
    writer = CleanRowWriter(job)
    reader = RangeReader(engine, readers=1)
    share = tuple(order["share"])
    with engine.connect() as conn:
        # A cursor to format rows with, as the phase's COPY would: no statement runs on it.
        cursor = conn.connection.driver_connection.cursor()
        for after, _, rows in reader.ranges(
            VALID_ROWS, job.params, order["last"], order["chunk_size"], share=share
        ):
            buffer = io.BytesIO()
            counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            if rows:
                with Copy(cursor, writer=FileWriter(buffer)) as copy:
                    writer.write(copy, rows, counts)
            copy_data, tally = buffer.getvalue(), orjson.dumps(counts)
            out.write(FRAME.pack(after, len(rows), len(copy_data), len(tally)))
            out.write(copy_data)
            out.write(tally)
            out.flush()
    engine.dispose()


def _exit_with_the_phase() -> None:
    # Unbuffered: a thread blocked in a buffered read would abort the interpreter's exit.
    while os.read(sys.stdin.fileno(), 4096):
        pass  # the phase closed the pipe, or died
    os._exit(0)


def main() -> None:
    order = orjson.loads(sys.stdin.buffer.readline())
    threading.Thread(target=_exit_with_the_phase, daemon=True).start()
    # The frames get the pipe to themselves: whatever else writes to stdout goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        serve(order, out)
    except BrokenPipeError:  # the phase stopped reading: it is done with this helper
        os._exit(0)


if __name__ == "__main__":
    main()
