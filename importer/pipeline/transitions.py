"""Every status change of a run, and the only place one is made.

A run (a step, a phase, a chunk) moves along the same edges whatever its kind, and each move sets
the same timestamps for every kind. A run that ended without success is never moved back: a retry
plans a new attempt beside it (``plan``). A move this module does not allow raises IllegalMove;
the bulk form moves only the rows whose current status may make it, so that a row another
transaction already moved is left alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from importer.models import DataImport, Run, RunKind, RunStatus

PENDING = RunStatus.PENDING
RUNNING = RunStatus.RUNNING
WAITING = RunStatus.WAITING_FOR_APPROVAL
SUCCEEDED = RunStatus.SUCCEEDED
FAILED = RunStatus.FAILED
CANCELLED = RunStatus.CANCELLED

MOVES: frozenset[tuple[RunStatus, RunStatus]] = frozenset(
    {
        (PENDING, RUNNING),  # a worker took its task
        (RUNNING, RUNNING),  # taken again after its worker died or lost the database: a restart
        (RUNNING, SUCCEEDED),
        (RUNNING, FAILED),
        (RUNNING, CANCELLED),  # it saw the cancel at a checkpoint, or its task was killed
        (RUNNING, WAITING),  # it needs a person (mappings to approve)
        (WAITING, PENDING),  # approved: sent again, under a new task id
        (PENDING, CANCELLED),  # cancelled before it started, or not run after a failure
        (WAITING, CANCELLED),
    }
)
# The latest attempt of a step or phase may be followed by a new one (a retry) only from these.
RETRIED_FROM = frozenset({FAILED, CANCELLED})
# ... and also from a success when the work is done again on purpose: an undo after the import
# was committed again, the inventory phases of an undone import committed again.
REDONE_FROM = RETRIED_FROM | {SUCCEEDED}


class IllegalMove(Exception):
    """A status change the run's lifecycle does not allow."""


def now() -> datetime:
    return datetime.now(UTC)


def sources(to: RunStatus) -> frozenset[RunStatus]:
    """The statuses a run may move to ``to`` from (a restart aside)."""
    return frozenset(before for before, after in MOVES if after == to and before != to)


def _changes(to: RunStatus, error: str | None) -> dict[str, Any]:
    """The columns a move to ``to`` sets, the same for every kind of run."""
    moment = now()
    if to == RUNNING:
        return {"started_at": moment, "heartbeat_at": moment, "progress": 0, "error": None}
    if to == SUCCEEDED:
        return {"progress": 100, "finished_at": moment}
    if to in (FAILED, CANCELLED):
        return {"error": error, "finished_at": moment}
    if to == WAITING:
        return {"error": error}
    # Back to pending: the run is to be sent again, as new.
    return {
        "queued_at": moment,
        "sent_at": None,
        "progress": 0,
        "error": None,
        "started_at": None,
        "heartbeat_at": None,
        "finished_at": None,
    }


def move(run: Run, to: RunStatus, *, error: str | None = None) -> None:
    """Move one run (locked by the caller); raises IllegalMove when the move is not allowed."""
    if (run.status, to) not in MOVES:
        raise IllegalMove(f"A {run.kind} run that is {run.status} cannot become {to}.")
    if run.status == to:
        # A restart: the attempt goes on from the start of its work, its first start kept.
        run.restarts += 1
        run.heartbeat_at, run.progress, run.error = now(), 0, None
        return
    for column, value in _changes(to, error).items():
        setattr(run, column, value)
    if to == PENDING:
        run.task_id = str(uuid.uuid4())
    run.status = to


def move_all(
    session: Session, to: RunStatus, *where: ColumnElement[bool], error: str | None = None
) -> list[str]:
    """Move every run matching ``where`` whose status may move to ``to``; their task ids."""
    values = _changes(to, error)
    if to == PENDING:
        values["task_id"] = func.gen_random_uuid().cast(Run.task_id.type)
    return list(
        session.scalars(
            update(Run)
            .where(*where, Run.status.in_(sources(to)))
            .values(status=to, **values)
            .returning(Run.task_id)
            .execution_options(synchronize_session="fetch")
        )
    )


def of_import(data_import: DataImport) -> tuple[ColumnElement[bool], ...]:
    """The criteria of the import's runs, within its account."""
    return (
        Run.import_id == data_import.id,
        Run.client_account_id == data_import.client_account_id,
    )


def latest(session: Session, data_import: DataImport, kind: RunKind) -> dict[str, Run]:
    """The latest attempt of each of the import's steps or phases, by name."""
    runs = session.scalars(
        select(Run).where(*of_import(data_import), Run.kind == kind).order_by(Run.attempt)
    )
    return {run.name: run for run in runs}


def first_not_succeeded(runs: dict[str, Run], order: Iterable[str]) -> str | None:
    """The first name in ``order`` whose latest run (if any) did not succeed."""
    return next(
        (name for name in order if name not in runs or runs[name].status != SUCCEEDED), None
    )


def plan(
    session: Session,
    data_import: DataImport,
    kind: RunKind,
    names: Sequence[str],
    *,
    parent_id: uuid.UUID | None = None,
    again: bool = False,
) -> list[Run]:
    """New pending runs, each with its Celery task id, stored before anything is sent: the
    first attempt of each name, or the next one after an attempt that failed or was cancelled
    (``again``: or that succeeded, to do its work once more)."""
    previous = latest(session, data_import, kind)
    allowed = REDONE_FROM if again else RETRIED_FROM
    for name in names:
        if name in previous and previous[name].status not in allowed:
            raise IllegalMove(
                f"The {name} {kind} is {previous[name].status}: no new attempt of it can start."
            )
    runs = [
        Run(
            import_id=data_import.id,
            client_account_id=data_import.client_account_id,
            kind=kind,
            name=name,
            parent_id=parent_id,
            task_id=str(uuid.uuid4()),
            status=PENDING,
            attempt=previous[name].attempt + 1 if name in previous else 1,
            queued_at=now(),
        )
        for name in names
    ]
    session.add_all(runs)
    session.flush()
    return runs


def plan_chunks(
    session: Session, data_import: DataImport, parent: Run, ranges: Sequence[tuple[int, int]]
) -> list[Run]:
    """New pending chunk runs of ``parent``, one per range of rows (first, last), each with its
    Celery task id. A chunk's attempt is its parent's: a retried range is a new row beside the
    run of the attempt before."""
    runs = [
        Run(
            import_id=data_import.id,
            client_account_id=data_import.client_account_id,
            kind=RunKind.CHUNK,
            name=parent.name,
            parent_id=parent.id,
            row_from=first,
            row_to=last,
            task_id=str(uuid.uuid4()),
            status=PENDING,
            attempt=parent.attempt,
            queued_at=now(),
        )
        for first, last in ranges
    ]
    session.add_all(runs)
    session.flush()
    return runs
