"""Runs change status only through importer.pipeline.transitions, along the moves it allows, with
the same timestamps for every kind; against the real PostgreSQL."""

from __future__ import annotations

import ast
import itertools
import uuid
import warnings
from pathlib import Path

import pytest
from sqlalchemy import select

from importer.models import ClientAccount, DataImport, Run, RunKind, RunStatus
from importer.pipeline import transitions
from importer.pipeline.transitions import IllegalMove

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {
    ("pending", "running"),
    ("running", "running"),
    ("running", "succeeded"),
    ("running", "failed"),
    ("running", "cancelled"),
    ("running", "waiting_for_approval"),
    ("waiting_for_approval", "pending"),
    ("pending", "cancelled"),
    ("waiting_for_approval", "cancelled"),
}


@pytest.fixture()
def session(resources):
    with resources.session_factory() as session:
        account = ClientAccount(name=f"transitions-{uuid.uuid4().hex[:8]}")
        session.add(account)
        session.flush()
        data_import = DataImport(
            client_account_id=account.id, engagement="e", import_type="servers", format="csv"
        )
        session.add(data_import)
        session.flush()
        session.info["import"] = data_import
        yield session
        session.rollback()


def run_in(session, status: str, kind: RunKind = RunKind.STEP, name: str = "validate") -> Run:
    """A run of the session's import brought to ``status`` by the allowed moves."""
    data_import = session.info["import"]
    (run,) = transitions.plan(session, data_import, kind, [name])
    path = {
        "pending": [],
        "running": ["running"],
        "waiting_for_approval": ["running", "waiting_for_approval"],
        "succeeded": ["running", "succeeded"],
        "failed": ["running", "failed"],
        "cancelled": ["cancelled"],
    }[status]
    for to in path:
        transitions.move(run, RunStatus(to))
    session.flush()
    return run


def test_the_allowed_moves_are_the_declared_ones():
    assert {(a.value, b.value) for a, b in transitions.MOVES} == ALLOWED
    assert {"failed", "cancelled"} == transitions.RETRIED_FROM


@pytest.mark.parametrize("before,after", list(itertools.product(RunStatus, RunStatus)))
def test_each_move_is_made_or_refused_as_declared(session, before, after):
    run = run_in(session, before, name=f"{before}-{after}"[:40])
    restarts, task_id = run.restarts, run.task_id
    if (before, after) not in ALLOWED:
        with pytest.raises(IllegalMove):
            transitions.move(run, after)
        assert run.status == before
        return
    transitions.move(run, after)
    session.flush()
    assert run.status == after
    if before == after:
        assert (run.restarts, run.progress, run.task_id) == (restarts + 1, 0, task_id)
    if after == "pending":
        # Resumed: sent again under a new task id, so that the old message does nothing.
        assert run.task_id != task_id and run.started_at is None
    if after == "running":
        assert run.started_at is not None and run.heartbeat_at is not None
    if after in ("succeeded", "failed", "cancelled"):
        assert run.finished_at is not None
    if after == "succeeded":
        assert run.progress == 100


@pytest.mark.parametrize("kind", [RunKind.STEP, RunKind.PHASE])
def test_a_restart_keeps_the_first_start_for_every_kind(session, kind):
    run = run_in(session, "running", kind=kind, name="data_cleansing")
    started = run.started_at
    transitions.move(run, RunStatus.RUNNING)
    assert (run.started_at, run.restarts) == (started, 1)


def test_a_bulk_move_moves_only_the_rows_that_may_make_it(session):
    data_import = session.info["import"]
    runs = {status: run_in(session, status, name=status) for status in RunStatus}
    moved = transitions.move_all(
        session, RunStatus.CANCELLED, *transitions.of_import(data_import), error="stop"
    )
    expected = {"pending", "running", "waiting_for_approval"}
    assert sorted(moved) == sorted(runs[s].task_id for s in expected)
    statuses = dict(
        session.execute(select(Run.name, Run.status).where(Run.import_id == data_import.id)).all()
    )
    assert statuses == {
        status: "cancelled" if status in expected else status for status in RunStatus
    }


def test_a_bulk_resume_gives_each_run_a_new_task_id(session):
    data_import = session.info["import"]
    waiting = run_in(session, "waiting_for_approval", kind=RunKind.PHASE, name="field_mapping")
    before = waiting.task_id
    (after,) = transitions.move_all(session, RunStatus.PENDING, *transitions.of_import(data_import))
    session.refresh(waiting)
    assert (waiting.status, waiting.task_id) == ("pending", after)
    assert after != before and uuid.UUID(after)


@pytest.mark.parametrize("status", list(RunStatus))
def test_a_new_attempt_follows_only_one_that_failed_or_was_cancelled(session, status):
    data_import = session.info["import"]
    run_in(session, status)
    if status in ("failed", "cancelled"):
        (again,) = transitions.plan(session, data_import, RunKind.STEP, ["validate"])
        assert (again.attempt, again.status) == (2, "pending")
    else:
        with pytest.raises(IllegalMove):
            transitions.plan(session, data_import, RunKind.STEP, ["validate"])


# -- no other module writes a run's status ------------------------------------------------------

# Status holders that are not runs: the import's own status, a mapping's, a merge review's, an
# error's HTTP status.
OTHER_STATUS_OWNERS = {"data_import", "mapping", "merge", "self"}
RUN_STATUS_VALUES = {status.value for status in RunStatus}


def mentions_run_status(node: ast.AST) -> bool:
    return any(
        (isinstance(n, ast.Name) and n.id == "RunStatus")
        or (isinstance(n, ast.Attribute) and n.attr == "RunStatus")
        or (isinstance(n, ast.Constant) and n.value in RUN_STATUS_VALUES)
        for n in ast.walk(node)
    )


def status_writes(source: str) -> list[int]:
    """Lines that assign a run's status: ``x.status = ...`` (x not an import, a mapping or an
    object's own), ``setattr(x, "status", ...)``, or ``status=`` given a run status."""
    lines = []
    with warnings.catch_warnings():  # a module's own odd escapes are not this test's concern
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        tree = ast.parse(source)
    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for t in target.elts if isinstance(target, ast.Tuple) else [target]:
                if (
                    isinstance(t, ast.Attribute)
                    and t.attr == "status"
                    and not (isinstance(t.value, ast.Name) and t.value.id in OTHER_STATUS_OWNERS)
                ):
                    lines.append(node.lineno)
        if isinstance(node, ast.Call):
            if (
                isinstance(node.func, ast.Name)
                and node.func.id == "setattr"
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == "status"
            ):
                lines.append(node.lineno)
            lines.extend(
                node.lineno
                for keyword in node.keywords
                if keyword.arg == "status" and mentions_run_status(keyword.value)
            )
    return lines


def test_the_check_finds_status_writes():
    source = (
        "run.status = RunStatus.FAILED\n"
        "run.status, run.error = 'cancelled', None\n"
        "session.execute(update(Run).values(status=RunStatus.CANCELLED))\n"
        "setattr(run, 'status', 'failed')\n"
        "data_import.status = ImportStatus.FAILED\n"
        "schemas.Health(status='ok')\n"
    )
    assert sorted(status_writes(source)) == [1, 2, 3, 4]


def test_only_the_transitions_module_writes_a_runs_status():
    owner = ROOT / "importer" / "pipeline" / "transitions.py"
    found = {
        f"{path.relative_to(ROOT)}:{line}"
        for folder in ("importer", "web", "bench", "tests", "migrations")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != owner and path != Path(__file__).resolve()
        for line in status_writes(path.read_text())
    }
    assert found == set()


@pytest.mark.parametrize("status", list(RunStatus))
def test_work_done_again_follows_an_attempt_that_ended(session, status):
    """An undo after a commit again, or an undone import's phases committed again: a new attempt
    after one that succeeded too, never beside one still open."""
    data_import = session.info["import"]
    run_in(session, status, kind=RunKind.UNDO, name="undo")
    if status in ("failed", "cancelled", "succeeded"):
        (again,) = transitions.plan(session, data_import, RunKind.UNDO, ["undo"], again=True)
        assert (again.attempt, again.status) == (2, "pending")
    else:
        with pytest.raises(IllegalMove):
            transitions.plan(session, data_import, RunKind.UNDO, ["undo"], again=True)
