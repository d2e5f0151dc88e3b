"""The units of chunked work (importer.pipeline.chunks): a chunk, the finish of a step or phase
once its chunks are done, and the discard of a cancelled one's output.

Each is a run of its own, found by its task id, locked by its own work lock and judged by its own
heartbeat, so that the chunks of one import run on many workers at once. A chunk commits only
while its run and its step or phase are running (the fence), under a share lock of the import
that a cancel takes exclusively; its commit counts its siblings in PostgreSQL for the progress,
and the send that follows it sends the finish once every chunk succeeded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from importer.models import DataImport, ImportStatus, Run, RunKind, RunStatus
from importer.pipeline import transitions
from importer.pipeline.chunks import CHUNKED, ChunkedWork, children, in_order
from importer.services.discovery_flow import fail_phase, show_flow_progress
from importer.services.import_state import fail_import
from importer.services.step_runner import RunUnit, Unit, WorkContext, show_progress


def locked_parent(session: Session, run: Run) -> Run:
    return session.scalars(
        select(Run)
        .where(Run.id == run.parent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def fail_run(session: Session, data_import: DataImport, run: Run, error: str) -> None:
    """A chunk or finish run failed, and with it its step or phase (a phase with its flow) and
    the import; a cancel wins over a failure."""
    if run.status == RunStatus.RUNNING and data_import.status != ImportStatus.CANCELLED:
        transitions.move(run, RunStatus.FAILED, error=error)
    parent = locked_parent(session, run)
    if parent.kind == RunKind.PHASE:
        fail_phase(
            session, data_import, parent if parent.status == RunStatus.RUNNING else None, error
        )
    else:
        fail_import(session, data_import, error)


class _ChunkedRunUnit(RunUnit):
    """A run of a chunked step or phase (its parent): one of its chunks, its finish, or the
    discard of its output."""

    resets_progress = False

    def __init__(self, task_id: str, works: Mapping[str, ChunkedWork]) -> None:
        super().__init__(task_id)
        self.name = str(self.kind)
        self._works = works

    def begin(self, session: Session, data_import: DataImport, max_restarts: int) -> bool:
        run = self._start(session, data_import, max_restarts)
        if run is None:
            return False
        parent = session.get(Run, run.parent_id)
        self._work, self._plan, self._parent_id = self._works[parent.name], parent.plan, parent.id
        self._began(session, run, parent)
        return True

    def _began(self, session: Session, run: Run, parent: Run) -> None:
        pass


class _ChildUnit(_ChunkedRunUnit):
    """A run that works for its step or phase while that one runs."""

    def _ready(self, session: Session, run: Run) -> bool:
        return locked_parent(session, run).status == RunStatus.RUNNING

    def current(self, session: Session, data_import: DataImport) -> bool:
        # Its parent locked too: the commits of its siblings are serialised on it, so that each
        # counts the others'.
        return super().current(session, data_import) and self._ready(
            session, self._run(session, data_import)
        )

    def fail(self, session: Session, data_import: DataImport, error: str) -> None:
        run = self._run(session, data_import)
        if run is not None:
            fail_run(session, data_import, run, error)


class ChunkUnit(_ChildUnit):
    """One range of rows of a chunked step or phase, in a transaction of its own."""

    kind = RunKind.CHUNK
    shares_import = True

    def __init__(self, task_id: str, row_from: int, works: Mapping[str, ChunkedWork]) -> None:
        super().__init__(task_id, works)
        self._row_from = row_from

    def _mine(self):
        # The message names its rows: another range's message does nothing.
        return (*super()._mine(), Run.row_from == self._row_from)

    def _ready(self, session: Session, run: Run) -> bool:
        if not super()._ready(session, run):
            return False
        if not in_order(self._works[run.name]):
            return True
        # In order: a message that came early (sent again by the watchdog) waits its turn.
        earlier = session.scalar(
            select(
                select(Run.id)
                .where(
                    children(run.parent_id, RunKind.CHUNK),
                    Run.row_from < run.row_from,
                    Run.status != RunStatus.SUCCEEDED,
                )
                .exists()
            )
        )
        return not earlier

    def _began(self, session: Session, run: Run, parent: Run) -> None:
        self._range = (run.row_from - 1, run.row_to)

    def work(self, ctx: WorkContext) -> None:
        after, upto = self._range
        ctx.result = self._work.chunk(ctx.session, ctx.data_import, self._plan, after, upto)

    def succeed(self, session: Session, data_import: DataImport, ctx: WorkContext) -> None:
        run = self._run(session, data_import)
        run.summary = ctx.result
        transitions.move(run, RunStatus.SUCCEEDED)
        session.flush()
        # The join: PostgreSQL's count of the parent's chunks, under the parent's lock.
        done, total = session.execute(
            select(func.count().filter(Run.status == RunStatus.SUCCEEDED), func.count()).where(
                children(self._parent_id, RunKind.CHUNK)
            )
        ).one()
        parent = session.get(Run, self._parent_id)
        # The finish's work is still to do.
        parent.progress = min(99, done * 100 // total)
        if parent.kind == RunKind.PHASE:
            show_flow_progress(session, data_import)
        show_progress(ctx.runtime_state, data_import.id, parent.name, parent.progress)


class FinishUnit(_ChildUnit):
    """A chunked step's or phase's whole-import work once every chunk succeeded; its success is
    its parent's."""

    kind = RunKind.FINISH

    def __init__(
        self,
        task_id: str,
        works: Mapping[str, ChunkedWork],
        unit_for: Callable[[Run], Unit],
    ) -> None:
        super().__init__(task_id, works)
        self._unit_for = unit_for

    def _ready(self, session: Session, run: Run) -> bool:
        unfinished = session.scalar(
            select(func.count()).where(
                children(run.parent_id, RunKind.CHUNK), Run.status != RunStatus.SUCCEEDED
            )
        )
        return super()._ready(session, run) and unfinished == 0

    def _began(self, session: Session, run: Run, parent: Run) -> None:
        self._parent = self._unit_for(parent)

    def work(self, ctx: WorkContext) -> None:
        summaries = ctx.session.scalars(
            select(Run.summary)
            .where(children(self._parent_id, RunKind.CHUNK))
            .order_by(Run.row_from)
        ).all()
        ctx.result = self._work.finish(ctx, self._plan, list(summaries))

    def succeed(self, session: Session, data_import: DataImport, ctx: WorkContext) -> None:
        transitions.move(self._run(session, data_import), RunStatus.SUCCEEDED)
        self._parent.succeed(session, data_import, ctx)


class DiscardUnit(_ChunkedRunUnit):
    """Removes what a cancelled step's or phase's committed chunks wrote, while the import stays
    cancelled: what remains is the state after the last step that succeeded."""

    kind = RunKind.DISCARD
    import_statuses = frozenset({ImportStatus.CANCELLED})

    def work(self, ctx: WorkContext) -> None:
        self._work.discard(ctx.session, ctx.data_import)

    def current(self, session: Session, data_import: DataImport) -> bool:
        # A retry since: the new attempt clears the output itself.
        return data_import.status == ImportStatus.CANCELLED and super().current(
            session, data_import
        )

    def succeed(self, session: Session, data_import: DataImport, ctx: WorkContext) -> None:
        transitions.move(self._run(session, data_import), RunStatus.SUCCEEDED)

    def fail(self, session: Session, data_import: DataImport, error: str) -> None:
        run = self._run(session, data_import)
        if run is not None and run.status == RunStatus.RUNNING:
            transitions.move(run, RunStatus.FAILED, error=error)


def cancel_chunks(session: Session, data_import: DataImport) -> list[str]:
    """A cancel of the import's chunked step or phase: its open chunks and finish are cancelled
    (their task ids returned, to be revoked), and so is it; a discard run is planned when some of
    its chunks committed. A chunk still at work is fenced out when it tries to commit."""
    parents = session.scalars(
        select(Run)
        .where(*transitions.of_import(data_import), Run.status == RunStatus.RUNNING, CHUNKED)
        .with_for_update()
    ).all()
    task_ids = transitions.move_all(
        session,
        RunStatus.CANCELLED,
        *transitions.of_import(data_import),
        Run.kind.in_((RunKind.CHUNK, RunKind.FINISH)),
    )
    for parent in parents:
        transitions.move(parent, RunStatus.CANCELLED)
        committed = session.scalar(
            select(
                select(Run.id)
                .where(children(parent.id, RunKind.CHUNK), Run.status == RunStatus.SUCCEEDED)
                .exists()
            )
        )
        if committed:
            transitions.plan(
                session, data_import, RunKind.DISCARD, [parent.name], parent_id=parent.id
            )
    return task_ids
