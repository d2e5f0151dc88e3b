"""Cancel, retry, worker death and lost services, against a real `celery worker` subprocess."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest
from sqlalchemy import select

from importer.celery_app import create_celery
from importer.models import Run
from importer.resources import Resources
from importer.services.background import task_message
from tests.fault_lab import STALE_AFTER, STEP_TABLES, FaultLab
from tests.helpers import csv_bytes, wait_for
from web import create_app

STEPS = ["validate", "mappings", "discovery"]
# What exists once each step has succeeded (and nothing of the steps after it).
OUTPUTS_AFTER = {
    None: {"issues": False, "mappings": False, "cleaned": False},
    "validate": {"issues": True, "mappings": False, "cleaned": False},
    "mappings": {"issues": True, "mappings": True, "cleaned": False},
}


@pytest.fixture()
def lab(fault_resources, make_account):
    _, headers = make_account()
    client = create_app(fault_resources.settings, fault_resources).test_client()
    lab = FaultLab(fault_resources, client, headers)
    lab.start_worker()
    yield lab
    lab.stop_worker()


def previous_step(step: str) -> str | None:
    index = STEPS.index(step)
    return STEPS[index - 1] if index else None


def assert_outputs_of(lab: FaultLab, import_id: str, last_succeeded: str | None) -> None:
    stored = lab.stored(import_id)
    expected = OUTPUTS_AFTER[last_succeeded]
    assert {name: stored[name] > 0 for name in expected} == expected, stored


@pytest.mark.parametrize("step", STEPS)
def test_cancel_during_a_step_stops_it_and_discards_its_writes(lab, step):
    with lab.hold(step):
        import_id, _ = lab.upload()
        lab.wait_running(import_id, step)
        response = lab.post(import_id, "cancel")
        assert response.status_code == 202
        assert response.get_json()["status"] == "cancelled"
    final = lab.wait_settled(import_id)
    assert final["status"] == "cancelled"
    statuses = {s["name"]: s["status"] for s in final["steps"]}
    assert statuses[step] == "cancelled"
    for earlier in STEPS[: STEPS.index(step)]:
        assert statuses[earlier] == "succeeded"
    for later in STEPS[STEPS.index(step) + 1 :]:
        assert statuses[later] == "cancelled"
    if final["flow"] is not None:
        assert final["flow"]["status"] == "cancelled"
    assert_outputs_of(lab, import_id, previous_step(step))
    assert lab.post(import_id, "cancel").status_code == 409


@pytest.mark.parametrize("step", STEPS)
def test_retry_after_a_failure_resumes_from_the_failed_step(lab, fault_resources, step):
    table = STEP_TABLES[step]
    with psycopg.connect(fault_resources.settings.psycopg_url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
        try:
            import_id, stats = lab.upload(seed=4)
            failed = lab.wait_settled(import_id)
        finally:
            conn.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
    assert failed["status"] == "failed"
    assert step in failed["error"] or table in failed["error"]
    assert lab.latest_step(import_id, step)["status"] == "failed"
    issue_ids_before = [
        i["row_number"]
        for i in lab.client.get(
            f"/api/v1/imports/{import_id}/errors?limit=1000", headers=lab.headers
        ).get_json()["items"]
    ]

    assert lab.post(import_id, "retry").status_code == 202
    final = lab.wait_settled(import_id)
    assert final["status"] == "completed", final
    attempts = Counter(s["name"] for s in final["steps"])
    resumed = STEPS[STEPS.index(step) :]
    assert {name: attempts[name] for name in STEPS} == {
        name: 2 if name in resumed else 1 for name in STEPS
    }
    assert all(s["status"] == "succeeded" for s in final["steps"] if s["attempt"] == 2)
    assert final["valid_records"] == stats.valid_rows
    stored = lab.stored(import_id)
    assert stored["issues"] == stats.invalid_rows
    assert stored["cleaned"] == stats.valid_rows
    if step != "validate":
        after = [
            i["row_number"]
            for i in lab.client.get(
                f"/api/v1/imports/{import_id}/errors?limit=1000", headers=lab.headers
            ).get_json()["items"]
        ]
        assert after == issue_ids_before


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_mid_step_then_a_new_worker_completes_with_exact_rows(lab, step):
    with lab.hold(step):
        import_id, stats = lab.upload(seed=9)
        lab.wait_running(import_id, step)
        lab.kill_worker()
    lab.start_worker()
    final = lab.wait_settled(import_id)
    assert final["status"] == "completed", final
    assert [(s["name"], s["attempt"], s["status"]) for s in final["steps"]] == [
        (name, 1, "succeeded") for name in STEPS
    ]
    assert lab.stored(import_id) == {
        "issues": stats.invalid_rows,
        "mappings": 10,
        "cleaned": stats.valid_rows,
        "flows": 1,
    }
    restarted = {run.name: run.restarts for run in lab.step_runs(import_id)}
    assert restarted[step] == (0 if step == "discovery" else 1)


def test_double_cancel_ends_in_one_state(lab):
    with lab.hold("validate"):
        import_id, _ = lab.upload()
        lab.wait_running(import_id, "validate")
        barrier = threading.Barrier(2, timeout=60)
        codes = []

        def cancel(client):
            barrier.wait()
            codes.append(
                client.post(f"/api/v1/imports/{import_id}/cancel", headers=lab.headers).status_code
            )

        # The apps are made here: two threads building Flask apps at once can trip CPython
        # 3.11's AST compiler ("AST constructor recursion depth mismatch") in werkzeug's routing.
        clients = [create_app(lab.resources.settings, lab.resources).test_client() for _ in "ab"]
        threads = [threading.Thread(target=cancel, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(codes) == [202, 409]
    assert lab.wait_settled(import_id)["status"] == "cancelled"


def test_cancel_racing_completion_is_consistent(lab):
    rng = random.Random(5)
    outcomes = Counter()
    for _ in range(8):
        import_id, stats = lab.upload(rows=300, seed=rng.randrange(1000))
        time.sleep(rng.uniform(0, 0.6))
        response = lab.post(import_id, "cancel")
        final = lab.wait_settled(import_id)
        outcomes[final["status"]] += 1
        statuses = {s["name"]: s["status"] for s in final["steps"]}
        if response.status_code == 409:
            assert final["status"] == "completed"
            assert response.get_json()["error"]["details"]["status"] == "completed"
            continue
        assert response.status_code == 202 and final["status"] == "cancelled"
        succeeded = [n for n in STEPS if statuses[n] == "succeeded"]
        assert succeeded == STEPS[: len(succeeded)] and len(succeeded) < 3
        assert all(statuses[n] == "cancelled" for n in STEPS[len(succeeded) :])
        if final["flow"] is None:
            assert_outputs_of(lab, import_id, succeeded[-1] if succeeded else None)
            continue
        assert final["flow"]["status"] == "cancelled"
        # Within the flow, what the phases that succeeded wrote is kept: a retry resumes after them.
        phases = lab.client.get(f"/api/v1/flows/{final['flow']['id']}", headers=lab.headers)
        done = {p["name"] for p in phases.get_json()["phases"] if p["status"] == "succeeded"}
        assert (lab.stored(import_id)["cleaned"] > 0) == ("data_cleansing" in done)
    assert sum(outcomes.values()) == 8


def test_redis_flushed_mid_import_status_and_cancel_answer_from_postgresql(lab):
    with lab.hold("validate"):
        import_id, _ = lab.upload()
        lab.wait_running(import_id, "validate")
        lab.resources.redis.flushdb()
        body = lab.detail(import_id)
        assert body["status"] == "validating"
        assert lab.latest_step(import_id, "validate")["status"] == "running"
        assert lab.post(import_id, "cancel").status_code == 202
        lab.resources.redis.flushdb()  # The cancel flag is gone: PostgreSQL must still say so.
    final = lab.wait_settled(import_id)
    assert final["status"] == "cancelled"
    assert lab.latest_step(import_id, "validate")["status"] == "cancelled"
    assert_outputs_of(lab, import_id, None)


def test_redis_flushed_mid_step_the_import_still_completes(lab):
    with lab.hold("validate"):
        import_id, stats = lab.upload()
        lab.wait_running(import_id, "validate")
        lab.resources.redis.flushdb()
    final = lab.wait_settled(import_id)
    assert final["status"] == "completed"
    assert final["valid_records"] == stats.valid_rows


@pytest.mark.parametrize("step", ["mappings", "discovery"])
def test_a_step_whose_worker_vanished_is_failed_by_the_watchdog_and_retried(lab, step):
    with lab.hold(step):
        import_id, stats = lab.upload(seed=2)
        lab.wait_running(import_id, step)
        lab.kill_worker()
    # The broker would hand the task to a new worker; with none, only the watchdog can tell.
    watchdog = lab.resources.services.watchdog
    wait_for(lambda: watchdog.reap() == [uuid.UUID(import_id)], timeout=20)
    failed = lab.detail(import_id)
    assert failed["status"] == "failed"
    lost = "the data_cleansing phase" if step == "discovery" else "the mappings step"
    assert f"The worker running {lost} vanished" in failed["error"]
    assert lab.latest_step(import_id, step)["status"] == "failed"
    if step == "discovery":
        assert failed["flow"]["status"] == "failed"
    lab.resources.redis.flushdb()  # drop the dead worker's unacknowledged task
    lab.start_worker()
    assert lab.post(import_id, "retry").status_code == 202
    final = lab.wait_settled(import_id)
    assert final["status"] == "completed"
    assert lab.stored(import_id)["cleaned"] == stats.valid_rows


def pg_restart_available() -> bool:
    return shutil.which("pg_ctlcluster") is not None and os.geteuid() == 0


@pytest.mark.skipif(not pg_restart_available(), reason="needs pg_ctlcluster as root")
def test_postgresql_restarting_mid_step_is_retried_and_the_import_completes(lab):
    version = os.listdir("/etc/postgresql")[0]
    with lab.hold("validate"):
        import_id, stats = lab.upload(seed=6)
        lab.wait_running(import_id, "validate")
        subprocess.run(
            [
                "pg_ctlcluster",
                "--skip-systemctl-redirect",
                version,
                "main",
                "restart",
                "-m",
                "fast",
            ],
            check=True,
        )
    wait_for(lambda: subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0)
    final = lab.wait_settled(import_id, timeout=120)
    assert final["status"] == "completed", final
    assert final["valid_records"] == stats.valid_rows
    assert lab.stored(import_id)["issues"] == stats.invalid_rows


def test_cancel_while_validate_writes_its_chunks(lab):
    """A cancel must not wait behind the locks a step's writes take on the import's row."""
    import_id, _ = lab.upload(rows=20_000)
    progress = lab.resources.runtime_state.progress
    wait_for(lambda: progress(import_id).get("validate", 0) >= 5, timeout=60)
    assert lab.post(import_id, "cancel").status_code == 202
    final = lab.wait_settled(import_id)
    assert lab.latest_step(import_id, "validate")["status"] == "cancelled"
    assert final["status"] == "cancelled"
    assert progress(import_id)["validate"] < 100
    assert_outputs_of(lab, import_id, None)


def test_a_task_revoked_from_outside_cancels_its_import(lab):
    """What Flower's revoke does: the queued task never runs, and the import does not hang."""
    with lab.hold("validate"):
        import_id, _ = lab.upload()
        lab.wait_running(import_id, "validate")
        mappings_task = lab.latest_step(import_id, "mappings")["task_id"]
        lab.resources.celery.control.revoke(mappings_task)
        # The worker acts on the revoke when the task reaches it, once validate has succeeded.
    final = lab.wait_settled(import_id)
    assert final["status"] == "cancelled"
    assert {s["name"]: s["status"] for s in final["steps"]} == {
        "validate": "succeeded",
        "mappings": "cancelled",
        "discovery": "cancelled",
    }
    assert_outputs_of(lab, import_id, "validate")


def test_a_running_task_terminated_from_outside_leaves_nothing_running(lab):
    with lab.hold("validate"):
        import_id, _ = lab.upload()
        lab.wait_running(import_id, "validate")
        task_id = lab.latest_step(import_id, "validate")["task_id"]
        lab.resources.celery.control.revoke(task_id, terminate=True, signal="SIGKILL")
        final = lab.wait_settled(import_id)
    assert final["status"] == "cancelled"
    assert {s["status"] for s in final["steps"]} == {"cancelled"}
    assert_outputs_of(lab, import_id, None)


def assert_every_run_ran_once(lab: FaultLab, import_id: str) -> None:
    """One attempt of each step, phase, chunk and finish, none restarted: the copies of a task
    did nothing."""
    runs = lab.runs(import_id).values()
    assert {(attempt, status, restarts) for _, _, attempt, status, restarts, _ in runs} == {
        (1, "succeeded", 0)
    }, runs


def deliver_again(lab: FaultLab, import_id: str, task_ids) -> set[str]:
    """Each task run once more by its stored task id, as a duplicate delivery would run it (in
    this process, through Celery's tracer); returns the states they ended in."""
    app = lab.resources.celery
    app.loader.import_default_modules()  # the task modules, as a worker imports them
    account = str(lab.step_runs(import_id)[0].client_account_id)
    with lab.resources.session_factory() as session:
        messages = {
            run.task_id: task_message(run)
            for run in session.scalars(select(Run).where(Run.import_id == import_id))
        }
    states = set()
    for task_id in task_ids:
        name, _, args = messages[task_id]
        states.add(app.tasks[name].apply(args=(import_id, account, *args), task_id=task_id).state)
    return states


@pytest.mark.parametrize("message", ["queued", "lost"])
def test_an_import_waiting_for_a_worker_past_the_stale_limit_completes(lab, message):
    """No worker for longer than the stale limit: the import waits, it is not failed. A message
    lost between the commit and the send (purged from the broker here) is sent again."""
    lab.stop_worker()
    with lab.watchdog_running() as resent:
        import_id, stats = lab.upload(seed=3)
        if message == "lost":
            lab.resources.celery.control.purge()
        validate = lab.latest_step(import_id, "validate")["task_id"]
        wait_for(lambda: validate in resent, timeout=20)
        time.sleep(STALE_AFTER + 1)
        waiting = lab.detail(import_id)
        assert waiting["status"] == "stored", waiting
        assert {s["status"] for s in waiting["steps"]} == {"pending"}
        lab.start_worker()
        final = lab.wait_settled(import_id)
    assert final["status"] == "completed", final
    assert final["valid_records"] == stats.valid_rows
    assert lab.stored(import_id)["cleaned"] == stats.valid_rows
    assert_every_run_ran_once(lab, import_id)


@pytest.mark.parametrize("message", ["queued", "lost"])
def test_a_phase_waiting_for_a_worker_past_the_stale_limit_completes(lab, message):
    """While a phase's chunks wait in the queue the flow is running, no work lock is held and
    the phase's heartbeat ages: the chunks, waiting, are not lost (issue 15: 4 of 10 concurrent
    imports failed so between two phases). Messages lost after the planner committed are sent
    again."""
    with lab.watchdog_running() as resent:
        with lab.hold("discovery"):
            import_id, stats = lab.upload(seed=7)
            lab.wait_running(import_id, "discovery")
            lab.stop_worker_after_its_task()
        # data_cleansing plans its chunks and sends them, and no worker takes them.
        lab.stop_worker()
        runs = lab.runs(import_id)
        phases = {name: status for kind, name, _, status, _, _ in runs.values() if kind == "phase"}
        assert phases["data_cleansing"] == "running"
        queued = {
            task_id: status
            for task_id, (kind, name, _, status, _, _) in runs.items()
            if (kind, name) == ("chunk", "data_cleansing")
        }
        assert queued and set(queued.values()) == {"pending"}
        # Every task delivered so far, delivered again, does nothing: the discovery step and the
        # planner stay running while their children run, and must not plan them again.
        done = [task_id for task_id, (_, _, _, status, _, _) in runs.items() if status != "pending"]
        assert deliver_again(lab, import_id, done) == {"IGNORED"}
        assert lab.runs(import_id) == runs
        if message == "lost":
            lab.resources.celery.control.purge()
        resent.clear()
        wait_for(lambda: set(queued) <= set(resent), timeout=20)
        time.sleep(STALE_AFTER + 1)
        waiting = lab.detail(import_id)
        assert (waiting["status"], waiting["flow"]["status"]) == ("discovering", "running")
        lab.start_worker()
        final = lab.wait_settled(import_id)
    assert final["status"] == "completed", final
    assert lab.stored(import_id)["cleaned"] == stats.valid_rows
    assert_every_run_ran_once(lab, import_id)


def test_a_task_delivered_again_does_nothing(lab):
    rows = [[f"node-{n}", 8] for n in range(1, 11)]
    import_id = lab.upload_bytes(csv_bytes(["Srvr", "Memory"], rows))
    wait_for(lambda: lab.detail(import_id)["status"] == "waiting_for_approval", timeout=60)
    paused = lab.runs(import_id)
    # Above all the discovery step's, which must not resume a flow that waits for a person.
    assert deliver_again(lab, import_id, paused) == {"IGNORED"}
    assert lab.runs(import_id) == paused
    assert lab.detail(import_id)["status"] == "waiting_for_approval"

    approve = [
        {"source_column": "Srvr", "target_field": "hostname"},
        {"source_column": "Memory", "target_field": "memory_gb"},
    ]
    url = f"/api/v1/imports/{import_id}/mappings"
    assert lab.client.put(url, json={"mappings": approve}, headers=lab.headers).status_code == 200
    flow_id = lab.detail(import_id)["flow"]["id"]
    resumed = lab.client.post(f"/api/v1/flows/{flow_id}/resume", headers=lab.headers)
    assert resumed.status_code == 202
    final = lab.wait_settled(import_id)
    assert final["status"] == "completed", final

    done, stored = lab.runs(import_id), lab.stored(import_id)
    assets = lab.client.get("/api/v1/assets?limit=100", headers=lab.headers).get_json()["items"]
    assert deliver_again(lab, import_id, done) == {"IGNORED"}
    assert lab.runs(import_id) == done
    assert lab.stored(import_id) == stored
    again = lab.client.get("/api/v1/assets?limit=100", headers=lab.headers).get_json()["items"]
    assert again == assets
    assert lab.detail(import_id)["status"] == "completed"


def test_an_upload_while_the_broker_is_down_is_sent_once_it_answers(lab):
    """The commit is the upload's answer: its task, which could not be sent, is sent later."""
    settings = lab.resources.settings.model_copy(update={"broker_url": "redis://127.0.0.1:9/0"})
    no_broker = Resources(settings)
    create_celery(settings, no_broker)
    try:
        lab.client = create_app(settings, no_broker).test_client()
        import_id, stats = lab.upload(seed=5)
    finally:
        no_broker.engine.dispose()
    lab.client = create_app(lab.resources.settings, lab.resources).test_client()
    stored = lab.detail(import_id)
    assert stored["status"] == "stored"
    assert {s["status"] for s in stored["steps"]} == {"pending"}
    with lab.watchdog_running():
        final = lab.wait_settled(import_id)
    assert final["status"] == "completed", final
    assert final["valid_records"] == stats.valid_rows
    assert_every_run_ran_once(lab, import_id)
