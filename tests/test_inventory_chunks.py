"""The asset_inventory phase in chunk runs: in row order, one chunk at a time, each its own
transaction; what its chunks did equals the whole import merged at once; a chunk whose worker
died before its commit is done again to the same inventory; a cancel restores the account's
inventory as it was before the import; a retry resumes at the first chunk not done; and one
import at a time holds an account's inventory (another's phase waits, pending; a review is
refused). Tasks run here through Celery's tracer by their stored task ids (as a worker would run
them), or on a real worker process."""

from __future__ import annotations

import csv
import io
import time
import uuid
from types import SimpleNamespace

import psycopg
import pytest
from sqlalchemy import text

from importer.celery_app import create_celery
from importer.models import DataImport, Run
from importer.pipeline.chunks import ChunkPlanner
from importer.resources import Resources
from importer.sample_export import messy_csv_bytes
from importer.services.phases.asset_inventory import AssetInventoryPhase
from tests.fault_lab import FaultLab
from tests.helpers import wait_for
from tests.plans import captured_plans
from tests.test_chunks import deliver, runs_of
from web import create_app

ROWS = 600
PHASE = "asset_inventory"
# The asset's own values, compared between accounts (ids, accounts and times aside).
VALUES = (
    "hostname_key",
    "serial_number",
    "primary_ip",
    "uuid",
    "source_id",
    "name",
    "asset_type",
    "os_family",
    "os_name",
    "os_version",
    "environment",
    "cpu_cores",
    "memory_gb",
    "is_virtual",
    "attributes",
    "eos_severity",
    "end_of_support",
    "eos_source",
)


@pytest.fixture()
def lab(fault_resources, make_account):
    """A lab with no worker (chunk_size 100): tests start one, or run the tasks here."""
    _, headers = make_account()
    client = create_app(fault_resources.settings, fault_resources).test_client()
    lab = FaultLab(fault_resources, client, headers)
    yield lab
    lab.stop_worker()
    fault_resources.celery.control.purge()


def exports() -> list[bytes]:
    """An export, then the same hosts again with other values (and keys shared within each)."""
    return [messy_csv_bytes(ROWS, seed)[0] for seed in (21, 22)]


def next_runs(lab: FaultLab, import_id: str) -> list[Run]:
    """The runs the import's send would send next (as BackgroundExecutionService reads them)."""
    services = lab.resources.services
    with services.transactions.transaction() as session:
        data_import = session.get(DataImport, uuid.UUID(import_id))
        runs = services.background._next_pending(
            session, data_import.id, data_import.client_account_id
        )
        session.expunge_all()
    return runs


def drive(lab: FaultLab, import_id: str, stop=lambda run: False) -> Run | None:
    """Run the import's next runs here, one after the other, until ``stop`` says so of the
    next one (returned) or none is left."""
    while runs := next_runs(lab, import_id):
        for run in runs:
            if stop(run):
                return run
            assert deliver(lab, run) == "SUCCESS", (run.kind, run.name, run.row_from)
    return None


def inventory_chunk(number: int):
    """Stops before the inventory's chunk ``number`` (1 the first)."""
    return lambda run: (
        run.kind == "chunk" and run.name == PHASE and run.row_from > (number - 1) * 100
    )


def account_of(lab: FaultLab, import_id: str) -> uuid.UUID:
    with lab.resources.engine.connect() as conn:
        return conn.scalar(
            text("SELECT client_account_id FROM data_imports WHERE id = :i"), {"i": import_id}
        )


def exact(lab: FaultLab, account: uuid.UUID) -> dict[str, list]:
    """The account's inventory as stored, every column of it."""
    with lab.resources.engine.connect() as conn:
        return {
            table: conn.scalars(
                text(
                    f"SELECT to_jsonb(t) FROM {table} t WHERE client_account_id = :a "
                    f"ORDER BY {order}"
                ),
                {"a": account},
            ).all()
            for table, order in (
                ("assets", "id"),
                ("asset_sources", "import_id, row_number"),
                ("asset_merges", "id"),
            )
        }


def canonical(lab: FaultLab, imports: list[str]) -> dict[str, list]:
    """The inventory the imports (of one account, in order) made, comparable across accounts:
    each asset known by the rows it was made of."""
    account = account_of(lab, imports[0])
    ordinal = {uuid.UUID(i): n for n, i in enumerate(imports)}
    ordinal[None] = None
    with lab.resources.engine.connect() as conn:
        params = {"a": account}
        assets = conn.execute(
            text(
                f"SELECT id, first_import_id, last_import_id, {', '.join(VALUES)} FROM assets "
                "WHERE client_account_id = :a"
            ),
            params,
        ).all()
        sources = conn.execute(
            text(
                "SELECT import_id, row_number, asset_id, matched_on FROM asset_sources "
                "WHERE client_account_id = :a"
            ),
            params,
        ).all()
        merges = conn.execute(
            text(
                "SELECT asset_id, proposed_asset_id, import_id, row_number, matched_on, "
                "match_kind, confidence, row_keys::text, status FROM asset_merges "
                "WHERE client_account_id = :a"
            ),
            params,
        ).all()
    made_of: dict = {}
    for import_id, row_number, asset_id, _ in sources:
        made_of.setdefault(asset_id, []).append((ordinal[import_id], row_number))
    key = {asset_id: tuple(sorted(rows)) for asset_id, rows in made_of.items()}
    key[None] = None
    return {
        "assets": sorted(
            (key[a.id], ordinal[a.first_import_id], ordinal[a.last_import_id], *map(repr, a[3:]))
            for a in assets
        ),
        "sources": sorted((ordinal[i], n, key[a], how) for i, n, a, how in sources),
        "merges": sorted((key[m[0]], key[m[1]], ordinal[m[2]], *m[3:]) for m in merges),
    }


def upload(lab: FaultLab, content: bytes) -> str:
    return lab.upload_bytes(content)


def completed(lab: FaultLab, import_id: str) -> dict:
    final = lab.wait_settled(import_id, timeout=180)
    assert final["status"] == "completed", final
    return final


def in_one_chunk(lab: FaultLab, make_account, contents: list[bytes]) -> tuple[dict, dict]:
    """The same imports into a new account, their inventory then made again, each import's
    rows in one range in one transaction: its canonical inventory, and the last import's
    inventory summary."""
    _, headers = make_account()
    other = FaultLab(lab.resources, lab.client, headers)
    imports = []
    for content in contents:
        imports.append(upload(other, content))
        completed(other, imports[-1])
    account = account_of(lab, imports[0])
    with lab.resources.engine.begin() as conn:
        conn.execute(text("DELETE FROM assets WHERE client_account_id = :a"), {"a": account})
    services = lab.resources.services
    for import_id in imports:
        with services.transactions.transaction() as session:
            ctx = SimpleNamespace(
                session=session,
                data_import=session.get(DataImport, uuid.UUID(import_id)),
                checkpoint=lambda done, total: None,
            )
            summary = ChunkPlanner(10**9).run_inline(ctx, AssetInventoryPhase())
    return canonical(lab, imports), summary


def phase_run(lab: FaultLab, import_id: str) -> Run:
    return runs_of(lab, import_id, kind="phase", name=PHASE)[-1]


def test_the_chunks_of_an_import_make_what_one_range_makes(lab, make_account):
    contents = exports()
    lab.start_worker()
    first = upload(lab, contents[0])
    completed(lab, first)
    second = upload(lab, contents[1])
    completed(lab, second)
    chunks = runs_of(lab, second, kind="chunk", name=PHASE)
    assert len(chunks) == ROWS // 100 and {c.status for c in chunks} == {"succeeded"}
    # One after the other, in row order.
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert after.row_from == before.row_to + 1
        assert after.started_at >= before.finished_at
    summary = phase_run(lab, second).summary
    assert summary["assets"]["updated"], summary
    reference, reference_summary = in_one_chunk(lab, make_account, contents)
    assert canonical(lab, [first, second]) == reference
    assert summary == reference_summary


def test_a_chunk_whose_worker_died_before_its_commit_is_done_again_to_the_same_inventory(
    lab, make_account
):
    contents = exports()
    lab.start_worker()
    first = upload(lab, contents[0])
    completed(lab, first)
    lab.stop_worker()
    second = upload(lab, contents[1])
    third = drive(lab, second, inventory_chunk(3))
    assert third is not None
    url = lab.resources.settings.psycopg_url
    # Its flow's row held: the chunk does its range, then waits at its commit for the row.
    with psycopg.connect(url) as hold, psycopg.connect(url, autocommit=True) as watch:
        hold.execute("SELECT 1 FROM discovery_flows WHERE import_id = %s FOR UPDATE", (second,))
        lab.start_worker()
        wait_for(
            lambda: watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'UPDATE discovery_flows%%'"
            ).fetchone()[0],
            timeout=60,
        )
        lab.kill_worker()
        hold.rollback()
    (killed,) = runs_of(lab, second, id=third.id)
    assert killed.status == "running"
    lab.start_worker()
    completed(lab, second)
    # Done again by the next worker, once: the other chunks ran once.
    chunks = runs_of(lab, second, kind="chunk", name=PHASE)
    assert [(c.row_from, c.restarts) for c in chunks if c.restarts] == [(third.row_from, 1)]
    assert {(c.status, c.attempt) for c in chunks} == {("succeeded", 1)}
    reference, _ = in_one_chunk(lab, make_account, contents)
    assert canonical(lab, [first, second]) == reference


def test_a_cancel_mid_phase_restores_the_accounts_inventory(lab):
    contents = exports()
    lab.start_worker()
    first = upload(lab, contents[0])
    completed(lab, first)
    lab.stop_worker()
    account = account_of(lab, first)
    before = exact(lab, account)
    second = upload(lab, contents[1])
    assert drive(lab, second, inventory_chunk(4)) is not None
    done = [c for c in runs_of(lab, second, kind="chunk", name=PHASE) if c.status == "succeeded"]
    assert len(done) == 3
    middle = exact(lab, account)
    # The committed chunks changed assets of the first import, and made some of their own.
    assert middle["assets"] != before["assets"]
    assert len(middle["assets"]) > len(before["assets"])
    assert lab.post(second, "cancel").status_code == 202
    assert drive(lab, second) is None
    (discard,) = runs_of(lab, second, kind="discard")
    assert discard.status == "succeeded"
    assert exact(lab, account) == before
    with lab.resources.engine.connect() as conn:
        for table in ("inventory_displaced", "inventory_shared_keys"):
            left = conn.scalar(
                text(f"SELECT count(*) FROM {table} WHERE import_id = :i"), {"i": second}
            )
            assert left == 0, table


def test_a_retry_after_a_failed_chunk_resumes_at_it(lab, make_account):
    contents = exports()
    lab.start_worker()
    first = upload(lab, contents[0])
    completed(lab, first)
    lab.stop_worker()
    second = upload(lab, contents[1])
    third = drive(lab, second, inventory_chunk(3))
    done = [c for c in runs_of(lab, second, kind="chunk", name=PHASE) if c.status == "succeeded"]
    assert len(done) == 2
    with psycopg.connect(lab.resources.settings.psycopg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE asset_sources RENAME TO sources_away")
        try:
            assert deliver(lab, third) == "FAILURE"
        finally:
            conn.execute("ALTER TABLE sources_away RENAME TO asset_sources")
    assert lab.detail(second)["status"] == "failed"
    assert lab.post(second, "retry").status_code == 202
    lab.start_worker()
    completed(lab, second)
    again = phase_run(lab, second)
    assert again.attempt == 2
    mine = runs_of(lab, second, kind="chunk", parent_id=again.id)
    # The chunks that succeeded are the new attempt's, not run again; the others ran.
    assert [(c.id, c.attempt, c.started_at) for c in mine if c.attempt == 1] == [
        (c.id, 1, c.started_at) for c in done
    ]
    assert [c.row_from for c in mine if c.attempt == 2] == list(range(201, ROWS, 100))
    assert {c.status for c in mine} == {"succeeded"}
    reference, _ = in_one_chunk(lab, make_account, contents)
    assert canonical(lab, [first, second]) == reference


def pending_merge(lab: FaultLab, account: uuid.UUID) -> str:
    """A merge waiting for review between two assets no export of these tests names."""
    with lab.resources.engine.begin() as conn:
        ids = [uuid.uuid4(), uuid.uuid4(), uuid.uuid4()]
        conn.execute(
            text(
                "INSERT INTO assets (id, client_account_id, hostname_key, primary_ip, name, "
                "asset_type, attributes, eos_severity) VALUES "
                "(:a, :account, 'review-a', '203.0.113.9', 'review-a', 'server', '{}', 'unknown'),"
                "(:b, :account, 'review-b', '203.0.113.9', 'review-b', 'server', '{}', 'unknown')"
            ),
            {"a": ids[0], "b": ids[1], "account": account},
        )
        conn.execute(
            text(
                "INSERT INTO asset_merges (id, client_account_id, asset_id, proposed_asset_id, "
                "matched_on, match_kind, confidence, row_keys, status) VALUES "
                "(:id, :account, :a, :b, 'ip', 'ip', 0.4, '{\"primary_ip\": \"203.0.113.9\"}', "
                "'pending')"
            ),
            {"id": ids[2], "a": ids[0], "b": ids[1], "account": account},
        )
    return str(ids[2])


def test_one_import_at_a_time_holds_an_accounts_inventory(lab):
    content = exports()[0]
    first = upload(lab, content)
    account = account_of(lab, first)
    merge = pending_merge(lab, account)
    second = upload(lab, content)
    # The first import's phase started: it holds the inventory until its finish.
    assert drive(lab, first, inventory_chunk(1)) is not None
    waiting = drive(lab, second, lambda run: run.kind == "phase" and run.name == PHASE)
    assert waiting is not None
    assert deliver(lab, waiting) == "IGNORED"
    (waiting,) = runs_of(lab, second, id=waiting.id)
    assert (waiting.status, waiting.error, waiting.attempt) == ("pending", None, 1)
    assert lab.detail(second)["status"] not in ("failed", "cancelled")
    for action in ("approve", "split"):
        refused = lab.client.post(f"/api/v1/merges/{merge}/{action}", headers=lab.headers)
        assert refused.status_code == 409, refused.get_json()
        error = refused.get_json()["error"]
        assert error["code"] == "inventory-busy"
        assert error["details"]["import_id"] == first
    sent = waiting.sent_at
    time.sleep(0.01)
    assert drive(lab, first) is None
    assert lab.detail(first)["status"] == "completed"
    # The first one's finish sent the waiting phase again.
    (woken,) = runs_of(lab, second, id=waiting.id)
    assert woken.status == "pending" and woken.sent_at > sent
    assert drive(lab, second) is None
    assert lab.detail(second)["status"] == "completed"
    (ran,) = runs_of(lab, second, kind="phase", name=PHASE)
    assert (ran.status, ran.attempt, ran.restarts) == ("succeeded", 1, 0)
    assert ran.started_at >= phase_run(lab, first).finished_at
    # The same export twice: the second import found every asset the first made.
    assert ran.summary["assets"]["created"] == {}
    with lab.resources.engine.connect() as conn:
        made = conn.scalar(
            text("SELECT count(*) FROM assets WHERE first_import_id = :i"), {"i": first}
        )
        assets = conn.scalar(
            text("SELECT count(*) FROM assets WHERE client_account_id = :a"), {"a": account}
        )
    assert assets == made + 2
    split = lab.client.post(f"/api/v1/merges/{merge}/split", headers=lab.headers)
    assert split.status_code == 200, split.get_json()


def test_a_phase_whose_wake_was_lost_is_sent_again_by_the_watchdog(lab):
    content = exports()[0]
    first, second = upload(lab, content), upload(lab, content)
    assert drive(lab, first, inventory_chunk(1)) is not None
    waiting = drive(lab, second, lambda run: run.kind == "phase" and run.name == PHASE)
    assert deliver(lab, waiting) == "IGNORED"
    (waiting,) = runs_of(lab, second, id=waiting.id)
    finish = drive(lab, first, lambda run: run.kind == "finish")
    # The holder's finish commits, and its send (the wake with it) fails: the broker is away.
    settings = lab.resources.settings.model_copy(update={"broker_url": "redis://127.0.0.1:9/0"})
    no_broker = Resources(settings)
    try:
        assert deliver(lab, finish, create_celery(settings, no_broker)) == "SUCCESS"
    finally:
        no_broker.engine.dispose()
    (still,) = runs_of(lab, second, id=waiting.id)
    assert (still.status, still.sent_at) == ("pending", waiting.sent_at)
    # Its first message is gone too: only the watchdog can send it now.
    lab.resources.celery.control.purge()
    lab.start_worker()
    with lab.watchdog_running() as resent:
        wait_for(lambda: waiting.task_id in resent, timeout=30)
        completed(lab, second)
    assert phase_run(lab, second).summary["assets"]["created"] == {}


def test_two_imports_of_one_account_started_together_take_turns(lab):
    content = exports()[0]
    lab.start_worker()
    imports = [upload(lab, content), upload(lab, content)]
    for import_id in imports:
        completed(lab, import_id)
    phases = sorted((phase_run(lab, i) for i in imports), key=lambda run: run.started_at)
    assert {(p.status, p.attempt) for p in phases} == {("succeeded", 1)}
    assert phases[1].started_at >= phases[0].finished_at
    account = account_of(lab, imports[0])
    with lab.resources.engine.connect() as conn:
        duplicated = conn.scalar(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM assets WHERE client_account_id = :a "
                "GROUP BY coalesce(hostname_key, id::text) HAVING count(*) > 1) d"
            ),
            {"a": account},
        )
    assert duplicated == 0
    assert phases[1].summary["assets"]["created"] == {}


def test_the_inventorys_chunks_go_one_at_a_time_in_row_order(lab):
    import_id = upload(lab, exports()[0])
    first = drive(lab, import_id, inventory_chunk(1))
    assert [run.id for run in next_runs(lab, import_id)] == [first.id]
    second = runs_of(lab, import_id, kind="chunk", name=PHASE)[1]
    # A message of a later chunk that came early does nothing: its run waits its turn.
    assert deliver(lab, second) == "IGNORED"
    assert runs_of(lab, import_id, id=second.id)[0].status == "pending"
    assert deliver(lab, first) == "SUCCESS"
    assert [run.id for run in next_runs(lab, import_id)] == [second.id]


def every_row_twice(rows: int, seed: int) -> bytes:
    """An export whose every row's keys another row shares: every row is merged in Python."""
    header, *records = csv.reader(io.StringIO(messy_csv_bytes(rows, seed)[0].decode()))
    out = io.StringIO()
    # Another note: an identical row would be a duplicate, not a second description.
    again = [[*record[:-1], f"{record[-1]} (again)"] for record in records]
    csv.writer(out).writerows([header, *records, *again])
    return out.getvalue().encode()


def test_the_inventorys_chunks_plan_in_proportion_to_their_range_without_fresh_statistics(lab):
    """No ANALYZE before the phase: the import's cleaned rows, its shared keys and the assets
    its chunks make are unknown to the statistics, taken before it, and each chunk's plans
    still do work in proportion to its range, not to the import."""
    with lab.resources.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("cleaned_records", "assets", "asset_sources", "inventory_shared_keys"):
            conn.execute(text(f"ANALYZE {table}"))
    import_id = upload(lab, every_row_twice(1500, 31))
    assert drive(lab, import_id, inventory_chunk(1)) is not None
    with captured_plans(lab.resources.engine) as plans:
        finish = drive(lab, import_id, lambda run: run.kind == "finish")
    assert finish is not None and finish.name == PHASE
    chunks = runs_of(lab, import_id, kind="chunk", name=PHASE)
    assert len(chunks) == 30 and {c.status for c in chunks} == {"succeeded"}
    assert len(plans) > 30 * 5, "auto_explain caught no plans"
    limit = 200 + 20 * 100
    overworked = [
        f"{plan.work} rows, most in {plan.heaviest_node()}:\n{plan.query.strip()}"
        for plan in plans
        if plan.work > limit
    ]
    assert not overworked, "\n\n".join(overworked)
