"""Work over an import's rows done in chunk runs: planned once, done per range in parallel by any
worker, and finished once.

A step or phase whose work is a ChunkedWork is a planner: its own task prepares the plan, stores
it on its run, and writes one pending chunk run per range of ``chunk_size`` row numbers and a
pending finish run, all children of its run, which stays running meanwhile. Every chunk does its
range in a short transaction of its own; the finish does the whole-import work once PostgreSQL
counts every chunk succeeded. The runs are sent by BackgroundExecutionService.send_next.

A retry after a failed attempt whose plan is the same keeps that attempt's succeeded chunks (they
are given to the new attempt) and plans only the others; otherwise the output is cleared first.

A work whose ranges depend on each other (``in_order``: the inventory, where a later row merges
into what an earlier one made) has its chunks sent one at a time, lowest first, each once the one
before it committed; a chunk of it begins only when every chunk before it succeeded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import orjson
from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session, aliased

from importer.models import DataImport, Run, RunKind, RunStatus
from importer.pipeline import transitions

Plan = dict[str, Any]

_child = aliased(Run)
# A step or phase run whose own work is done and whose children (chunks and their finish, or
# the flow's phases) are what runs: judged by its children, not by its own heartbeat.
HANDED_OVER: ColumnElement[bool] = select(_child.id).where(_child.parent_id == Run.id).exists()
# A step or phase run that planned chunks.
CHUNKED: ColumnElement[bool] = (
    select(_child.id)
    .where(_child.parent_id == Run.id, _child.kind.in_((RunKind.CHUNK, RunKind.FINISH)))
    .exists()
)


class ChunkedWork(Protocol):
    """Optional beside these: ``in_order = True`` (see the module's docstring), and
    ``prepare(session, data_import)``, the plan's staging that every chunk reads, written once
    the planner kept or discarded the previous attempt's output (see ``prepare``)."""

    def plan(self, session: Session, data_import: DataImport) -> tuple[int, Plan]:
        """The import's last row number, and the whole-import preparation every chunk reads
        (JSON-able)."""

    def chunk(
        self, session: Session, data_import: DataImport, plan: Plan, after: int, upto: int
    ) -> dict[str, Any]:
        """The rows numbered after ``after`` up to ``upto``: their output replaced (removed,
        then written), so that doing a range twice leaves what doing it once does. Returns the
        range's counts, kept as the chunk run's summary."""

    def finish(self, ctx, plan: Plan, summaries: list[dict[str, Any]]) -> dict[str, Any]:
        """The whole-import work once every range is done (``ctx`` a step_runner.WorkContext:
        it may set ``rejection`` or ``paused``); the unit's result."""

    def discard(self, session: Session, data_import: DataImport) -> None:
        """Remove all of the unit's output for the import."""


def ranges(last: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    """(after, upto) for each range of row numbers up to ``last``."""
    for after in range(0, last, chunk_size):
        yield after, min(after + chunk_size, last)


def delete_output(
    session: Session, model: type, data_import: DataImport, *where: ColumnElement[bool]
) -> None:
    """Remove the import's rows of ``model`` (an output table keyed by import and account)
    that match ``where``: a range's, or all."""
    session.execute(
        delete(model).where(
            model.import_id == data_import.id,
            model.client_account_id == data_import.client_account_id,
            *where,
        )
    )


def children(parent_id, kind: RunKind) -> ColumnElement[bool]:
    return (Run.parent_id == parent_id) & (Run.kind == kind)


def in_order(work: ChunkedWork) -> bool:
    """Whether the work's chunks must run one after the other, in the order of their rows."""
    return getattr(work, "in_order", False)


def prepare(session: Session, data_import: DataImport, work: ChunkedWork) -> None:
    """The work's staging for its chunks (tables of the import's, which its discard clears:
    written after the discard of a previous attempt's output, not in ``plan``)."""
    prepare_staging = getattr(work, "prepare", None)
    if prepare_staging is not None:
        prepare_staging(session, data_import)


class ChunkPlanner:
    def __init__(self, chunk_size: int) -> None:
        self._chunk_size = chunk_size

    def plan(self, ctx, work: ChunkedWork) -> None:
        """Plan the chunks and the finish of the unit running as ``ctx.run_id``; it is handed
        over to them."""
        session, data_import = ctx.session, ctx.data_import
        parent = session.get(Run, ctx.run_id)
        last, plan = work.plan(session, data_import)
        # As stored (JSON), so that it compares equal to a stored one.
        parent.plan = plan = orjson.loads(orjson.dumps(plan))
        todo = list(ranges(last, self._chunk_size))
        kept = self._kept(session, data_import, parent, todo)
        if kept is None:
            work.discard(session, data_import)
        else:
            todo = [(after, upto) for after, upto in todo if after + 1 not in kept]
        prepare(session, data_import, work)
        transitions.plan_chunks(
            session, data_import, parent, [(after + 1, upto) for after, upto in todo]
        )
        # The finish of a new attempt of its parent, whose own planning judged whether the work
        # may be done again (a retry, or an undone import committed again).
        transitions.plan(
            session, data_import, RunKind.FINISH, [parent.name], parent_id=parent.id, again=True
        )
        ctx.handed_over = True

    @staticmethod
    def _kept(
        session: Session, data_import: DataImport, parent: Run, todo: list[tuple[int, int]]
    ) -> set[int] | None:
        """The first rows of the previous attempt's succeeded chunks, now the new attempt's,
        when that attempt failed with the same plan and ranges; None when nothing is kept."""
        previous = session.scalars(
            select(Run).where(
                *transitions.of_import(data_import),
                Run.kind == parent.kind,
                Run.name == parent.name,
                Run.attempt == parent.attempt - 1,
            )
        ).one_or_none()
        # A cancelled attempt's output was discarded: nothing of it is left to keep.
        if previous is None or previous.status != RunStatus.FAILED or previous.plan != parent.plan:
            return None
        done = session.execute(
            select(Run.id, Run.row_from, Run.row_to).where(
                children(previous.id, RunKind.CHUNK), Run.status == RunStatus.SUCCEEDED
            )
        ).all()
        planned = {(after + 1, upto) for after, upto in todo}
        if not done or any((first, last) not in planned for _, first, last in done):
            return None
        session.execute(
            update(Run).where(Run.id.in_([id_ for id_, _, _ in done])).values(parent_id=parent.id)
        )
        return {first for _, first, _ in done}

    def run_inline(self, ctx, work: ChunkedWork) -> dict[str, Any]:
        """The whole work in the caller's transaction, range after range (a phase that
        validates again after a review)."""
        session, data_import = ctx.session, ctx.data_import
        last, plan = work.plan(session, data_import)
        plan = orjson.loads(orjson.dumps(plan))
        work.discard(session, data_import)
        prepare(session, data_import, work)
        summaries = []
        for after, upto in ranges(last, self._chunk_size):
            summaries.append(work.chunk(session, data_import, plan, after, upto))
            ctx.checkpoint(upto, last)
        return work.finish(ctx, plan, summaries)
