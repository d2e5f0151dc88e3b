"""Chunked steps and phases: chunk runs raced by two workers, delivered twice, fenced after a
cancel or a retry, a lost send healed by the watchdog, and a retry that redoes only the chunks
that did not succeed. Against real worker processes, or tasks run here through Celery's tracer
by their stored task ids, as a worker would run them."""

from __future__ import annotations

import re
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select, text

from importer.celery_app import create_celery
from importer.models import Run
from importer.resources import Resources
from importer.sample_export import messy_csv_bytes
from importer.services.background import task_message
from tests.fault_lab import FaultLab
from tests.helpers import wait_for
from tests.worker_process import celery_worker_process
from web import create_app

ISSUES = text(
    "SELECT row_number, code, field, message FROM import_validation_issues "
    "WHERE import_id = :id ORDER BY row_number, code, field, message"
)
# A worker's log line for a chunk task that succeeded.
SUCCEEDED_CHUNK = re.compile(r"importer\.run_chunk\[([0-9a-f-]+)\] succeeded")
CLEANED = text(
    "SELECT row_number, data::text, hostname_key, serial_number, primary_ip, asset_type "
    "FROM cleaned_records WHERE import_id = :id ORDER BY row_number"
)


@pytest.fixture()
def lab(fault_resources, make_account):
    """A lab with no worker: tests start theirs, or run the tasks here."""
    _, headers = make_account()
    client = create_app(fault_resources.settings, fault_resources).test_client()
    lab = FaultLab(fault_resources, client, headers)
    yield lab
    lab.stop_worker()
    fault_resources.celery.control.purge()


def runs_of(lab: FaultLab, import_id: str, **where) -> list[Run]:
    with lab.resources.session_factory() as session:
        return list(
            session.scalars(
                select(Run)
                .filter_by(import_id=import_id, **where)
                .order_by(Run.kind, Run.row_from, Run.attempt)
            )
        )


def deliver(lab: FaultLab, run: Run, app=None, args=None) -> str:
    """The run's task, run here once by its stored id as a worker would (with ``args`` instead
    of its own after the import and account, if given); its state."""
    app = app or lab.resources.celery
    app.loader.import_default_modules()
    name, task_id, own = task_message(run)
    account = str(run.client_account_id)
    args = (str(run.import_id), account, *(own if args is None else args))
    return app.tasks[name].apply(args=args, task_id=task_id).state


def outputs(lab: FaultLab, import_id: str) -> tuple[list, list]:
    with lab.resources.engine.connect() as conn:
        return (
            conn.execute(ISSUES, {"id": import_id}).all(),
            conn.execute(CLEANED, {"id": import_id}).all(),
        )


def planned_validation(lab: FaultLab, rows: int = 1000, seed: int = 3) -> tuple[str, Run]:
    """An upload whose validate step ran here: its chunks planned, none run; the step run."""
    import_id, _ = lab.upload(rows=rows, seed=seed)
    (step,) = runs_of(lab, import_id, kind="step", name="validate")
    assert deliver(lab, step) == "SUCCESS"
    (step,) = runs_of(lab, import_id, kind="step", name="validate")
    assert step.status == "running" and step.plan is not None
    return import_id, step


def test_two_workers_race_the_chunks_of_one_import(lab):
    content, stats = messy_csv_bytes(3000, 12)
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        logs = [folder / "a.log", folder / "b.log"]
        for log in logs:
            stack.enter_context(celery_worker_process(lab.resources.settings, log=log))
        raced = lab.upload_bytes(content)
        final = lab.wait_settled(raced, timeout=180)
        took = [set(SUCCEEDED_CHUNK.findall(log.read_text())) for log in logs]
    assert final["status"] == "completed", final
    chunks = {run.task_id for run in runs_of(lab, raced, kind="chunk")}
    # Both took chunks, and each chunk was done by one of them, once.
    assert all(took) and not took[0] & took[1]
    assert took[0] | took[1] == chunks
    assert {(r.status, r.attempt, r.restarts) for r in runs_of(lab, raced)} == {("succeeded", 1, 0)}
    # The same file through one worker stores the same rows.
    lab.start_worker()
    alone = lab.upload_bytes(content)
    assert lab.wait_settled(alone, timeout=180)["status"] == "completed"
    assert outputs(lab, raced) == outputs(lab, alone)
    issues, cleaned = outputs(lab, raced)
    assert (len(cleaned), final["valid_records"]) == (stats.valid_rows, stats.valid_rows)


def test_a_chunk_delivered_again_after_its_commit_does_nothing(lab):
    import_id, _ = planned_validation(lab)
    first, second = runs_of(lab, import_id, kind="chunk")[:2]
    assert deliver(lab, first) == "SUCCESS"
    done = runs_of(lab, import_id)
    stored = outputs(lab, import_id)
    assert deliver(lab, first) == "IGNORED"
    assert [(r.id, r.status, r.restarts, r.summary) for r in runs_of(lab, import_id)] == [
        (r.id, r.status, r.restarts, r.summary) for r in done
    ]
    assert outputs(lab, import_id) == stored
    # A message names its rows: one naming other rows than its run's does nothing.
    assert deliver(lab, second, args=(first.row_from, first.row_to)) == "IGNORED"
    assert runs_of(lab, import_id, id=second.id)[0].status == "pending"


def test_a_chunk_of_an_attempt_that_was_cancelled_and_retried_is_fenced_out(lab):
    import_id, step = planned_validation(lab)
    chunks = runs_of(lab, import_id, kind="chunk")
    outcome = {}
    with lab.hold("validate"):
        # Begun, then held at its first write, as a slow worker would be.
        worker = threading.Thread(target=lambda: outcome.update(state=deliver(lab, chunks[0])))
        worker.start()
        wait_for(lambda: runs_of(lab, import_id, id=chunks[0].id)[0].status == "running")
        assert lab.post(import_id, "cancel").status_code == 202
        assert lab.post(import_id, "retry").status_code == 202
    worker.join(timeout=60)
    # It did its range, then found its run ended at its commit: nothing of it is kept.
    assert outcome["state"] == "IGNORED"
    assert outputs(lab, import_id) == ([], [])
    assert runs_of(lab, import_id, id=chunks[0].id)[0].status == "cancelled"
    # A message of the old attempt arriving now does nothing either.
    assert deliver(lab, chunks[1]) == "IGNORED"
    assert runs_of(lab, import_id, id=chunks[1].id)[0].status == "cancelled"
    # The new attempt plans every chunk again and completes.
    lab.start_worker()
    final = lab.wait_settled(import_id, timeout=120)
    assert final["status"] == "completed", final
    new = [
        r for r in runs_of(lab, import_id, kind="chunk", name="validate") if r.parent_id != step.id
    ]
    assert [(r.row_from, r.attempt, r.status) for r in new] == [
        (c.row_from, 2, "succeeded") for c in chunks
    ]


def test_a_cancel_while_chunks_run_on_two_workers_removes_what_they_committed(lab):
    progress = lab.resources.runtime_state.progress
    with ExitStack() as stack:
        for _ in "ab":
            stack.enter_context(celery_worker_process(lab.resources.settings))
        import_id, _ = lab.upload(rows=20_000, seed=8)
        wait_for(lambda: progress(import_id).get("validate", 0) >= 10, timeout=90)
        assert lab.post(import_id, "cancel").status_code == 202
        final = lab.wait_settled(import_id, timeout=120)
    assert final["status"] == "cancelled"
    assert lab.latest_step(import_id, "validate")["status"] == "cancelled"
    chunks = runs_of(lab, import_id, kind="chunk")
    statuses = {r.status for r in chunks}
    assert (
        "succeeded" in statuses
        and "cancelled" in statuses
        and statuses
        <= {
            "succeeded",
            "cancelled",
        }
    )
    (discard,) = runs_of(lab, import_id, kind="discard")
    assert discard.status == "succeeded"
    assert lab.stored(import_id)["issues"] == 0


def test_a_send_lost_after_the_last_chunk_committed_is_made_by_the_watchdog(lab):
    import_id, step = planned_validation(lab, rows=300)
    *first, last = runs_of(lab, import_id, kind="chunk")
    for run in first:
        assert deliver(lab, run) == "SUCCESS"
    # The last chunk commits, and its send of the finish fails: the broker is away.
    settings = lab.resources.settings.model_copy(update={"broker_url": "redis://127.0.0.1:9/0"})
    no_broker = Resources(settings)
    try:
        assert deliver(lab, last, create_celery(settings, no_broker)) == "SUCCESS"
    finally:
        no_broker.engine.dispose()
    (finish,) = runs_of(lab, import_id, kind="finish")
    assert (finish.status, finish.sent_at) == ("pending", None)
    lab.start_worker()
    with lab.watchdog_running() as resent:
        wait_for(lambda: finish.task_id in resent, timeout=30)
        final = lab.wait_settled(import_id)
    assert final["status"] == "completed", final
    assert runs_of(lab, import_id, kind="step", name="validate")[0].status == "succeeded"


def test_a_retry_after_a_failed_chunk_redoes_only_the_chunks_that_did_not_succeed(
    lab, fault_resources
):
    import_id, step = planned_validation(lab)
    chunks = runs_of(lab, import_id, kind="chunk")
    for run in chunks[:3]:
        assert deliver(lab, run) == "SUCCESS"
    done = runs_of(lab, import_id, kind="chunk")[:3]
    issues_before = outputs(lab, import_id)[0]
    with psycopg.connect(fault_resources.settings.psycopg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE import_validation_issues RENAME TO issues_away")
        try:
            assert deliver(lab, chunks[3]) == "FAILURE"
        finally:
            conn.execute("ALTER TABLE issues_away RENAME TO import_validation_issues")
    failed = lab.detail(import_id)
    assert failed["status"] == "failed" and "issues" in failed["error"]
    assert {r.status for r in runs_of(lab, import_id, kind="chunk")} == {
        "succeeded",
        "failed",
        "cancelled",
    }
    assert lab.post(import_id, "retry").status_code == 202
    lab.start_worker()
    final = lab.wait_settled(import_id, timeout=120)
    assert final["status"] == "completed", final
    (_, again) = runs_of(lab, import_id, kind="step", name="validate")
    mine = runs_of(lab, import_id, kind="chunk", parent_id=again.id)
    # The chunks that succeeded are the new attempt's, not run again; only the others ran.
    kept = [(r.id, r.attempt, r.started_at) for r in mine if r.attempt == 1]
    assert kept == [(r.id, 1, r.started_at) for r in done]
    assert [r.row_from for r in mine if r.attempt == 2] == [r.row_from for r in chunks[3:]]
    assert {r.status for r in mine} == {"succeeded"}
    assert outputs(lab, import_id)[0][: len(issues_before)] == issues_before
