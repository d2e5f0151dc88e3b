"""dependency_analysis (of inventories and of connection exports) and tech_debt_assessment as chunk
runs: several chunks give what one gives, a range done twice what it gives once, a cancel puts back
what the phase replaced, a retry keeps the chunks that succeeded, and no chunk's plan depends on
fresh statistics. Against the real PostgreSQL, Redis and Celery workers (in-process, a worker
subprocess, or tasks run here through Celery's tracer by their stored ids, as a worker runs
them)."""

from __future__ import annotations

import random
import uuid
from types import SimpleNamespace

import psycopg
import pytest
from sqlalchemy import text

from importer.models import DataImport
from importer.pipeline.chunks import ranges
from tests.fault_lab import FaultLab
from tests.helpers import csv_bytes, import_completed
from tests.plans import captured_plans
from tests.test_chunks import deliver, runs_of
from tests.test_dependencies import AZURE_MIGRATE_HEADER, SLOT_1, SLOT_2
from tests.test_plans_with_history import HISTORY_COPIES, clone_into_other_accounts, overworked
from web import create_app

ROWS = 1600
INVENTORY_HEADER = ["Host Name", "IP Addr", "Operating System", "Env", "RAM (GB)", "Depends On"]
# Operating systems past their end of support, and others that are not: a later inventory of the
# same hosts changes their flags.
OLD_SYSTEMS = ["Windows Server 2008 R2", "CentOS 6", "Ubuntu 16.04", "Windows Server 2012"]
NEW_SYSTEMS = ["Windows Server 2022", "Ubuntu 24.04", "Red Hat Enterprise Linux 9.2"]
# The rows at the end that describe again hosts of the first rows: their assets are in two
# ranges, and name some of the targets their first rows named.
REPEATED = 100

EDGES = text(
    "SELECT s.name, d.target_ref, t.name, d.observed, d.port, d.protocol, d.source_processes, "
    "d.target_processes, d.import_id, d.source_row FROM asset_dependencies d "
    "JOIN assets s ON s.id = d.source_asset_id LEFT JOIN assets t ON t.id = d.target_asset_id "
    "WHERE d.client_account_id = :account ORDER BY 1, 2, 5 NULLS FIRST, 9, 10"
)
ALL_EDGES = text("SELECT * FROM asset_dependencies WHERE client_account_id = :account ORDER BY id")
FLAGS = text(
    "SELECT id, eos_severity, end_of_support, eos_source FROM assets "
    "WHERE client_account_id = :account ORDER BY id"
)
STALE_FLAGS = text(
    "UPDATE assets SET eos_severity = 'unknown', end_of_support = NULL, eos_source = NULL "
    "WHERE client_account_id = :account AND name <= 'host-00800'"
)
DISPLACED = text(
    "SELECT phase, relation, data FROM displaced_rows WHERE import_id = :id ORDER BY id"
)
PARTS = text("SELECT * FROM connection_parts WHERE import_id = :id ORDER BY range_from, seq")


@pytest.fixture()
def lab(fault_resources, make_account):
    """A lab with no worker: tests start theirs, or run the tasks here."""
    _, headers = make_account()
    client = create_app(fault_resources.settings, fault_resources).test_client()
    lab = FaultLab(fault_resources, client, headers)
    yield lab
    lab.stop_worker()
    fault_resources.celery.control.purge()


@pytest.fixture()
def history(resources, client, make_account):
    """Other accounts' finished imports, analysed (as tests/test_plans_with_history.py's)."""
    account_id, headers = make_account()
    body = inventory(4, OLD_SYSTEMS)
    template = import_completed(client, headers, body, "history.csv", 180, engagement="history")
    clone_into_other_accounts(resources.engine, template["id"], HISTORY_COPIES)
    yield
    with resources.engine.begin() as conn:
        conn.execute(text("DELETE FROM client_accounts WHERE name LIKE 'history-%'"))
        conn.execute(text("DELETE FROM client_accounts WHERE id = :id"), {"id": account_id})


def host(number: int) -> str:
    return f"host-{number:05d}"


def ip_of(number: int) -> str:
    return f"10.2.{number // 256}.{number % 256}"


def targets(rng: random.Random, number: int) -> list[str]:
    """What host ``number`` depends on: other hosts by name or address, outsiders, a ring."""
    if number <= 3:
        return [host(number % 3 + 1)]  # host 1 -> 2 -> 3 -> 1: a cycle
    picks = []
    for _ in range(rng.randrange(4)):
        kind = rng.random()
        other = rng.randrange(1, ROWS - REPEATED)
        if kind < 0.6:
            picks.append(host(other))
        elif kind < 0.8:
            picks.append(ip_of(other))
        else:
            picks.append(f"ext-{rng.randrange(40):03d}")
    return list(dict.fromkeys(picks))


def inventory(seed: int, systems: list[str]) -> bytes:
    """ROWS servers, the last REPEATED of which describe hosts of the first rows again."""
    rng = random.Random(seed)
    rows, named = [], {}
    for number in range(1, ROWS + 1):
        if number > ROWS - REPEATED:
            again = (number - (ROWS - REPEATED)) * 3
            depends = named[again][:1] + [host(rng.randrange(1, 400)), f"ext-{number % 7:03d}"]
            rows.append(
                [host(again), ip_of(again), rows[again - 1][2], "prod", "8", ";".join(depends)]
            )
            continue
        named[number] = targets(rng, number)
        rows.append(
            [
                host(number),
                ip_of(number),
                rng.choice(systems),
                rng.choice(["prod", "test"]),
                rng.choice(["4", "16"]),
                ";".join(named[number]),
            ]
        )
    return csv_bytes(INVENTORY_HEADER, rows)


def connections(seed: int) -> bytes:
    """ROWS observed connections, each of 300 seen in rows of several ranges with other processes;
    some from hosts in no inventory, some to addresses in none, some named by address only."""
    rng = random.Random(seed)
    keys = []
    for k in range(300):
        source = f"laptop-{k}" if k % 23 == 0 else host(rng.randrange(1, 1400))
        target = None if k % 11 == 0 else rng.randrange(1, 1400)
        keys.append((source, target, rng.choice(["443", "1433", "8080"])))
    rows = []
    for number in range(ROWS):
        source, target, port = keys[number * 7 % len(keys)]
        by_address = source.startswith("host-") and rng.random() < 0.2
        source_ip = ip_of(int(source[5:])) if source.startswith("host-") else "10.9.9.9"
        rows.append(
            [
                rng.choice([SLOT_1, SLOT_2]),
                "" if by_address else source,
                source_ip,
                "",
                rng.choice(["w3wp.exe", "java.exe", "", "python.exe"]),
                "" if target is None else host(target),
                f"52.1.{number % 5}.9" if target is None else ip_of(target),
                "",
                rng.choice(["sqlservr.exe", "", "nginx"]),
                port,
            ]
        )
    return csv_bytes(AZURE_MIGRATE_HEADER, rows)


def imported(client, headers, body: bytes, import_type: str, engagement: str) -> dict:
    return import_completed(
        client,
        headers,
        body,
        f"{import_type}.csv",
        180,
        engagement=engagement,
        import_type=import_type,
    )


def summary_of(resources, final: dict, phase: str) -> dict:
    """The summary of the import's latest run of ``phase``, as stored."""
    with resources.session_factory() as session:
        return session.scalar(
            text(
                "SELECT summary FROM runs WHERE import_id = :id AND kind = 'phase' "
                "AND name = :phase ORDER BY attempt DESC LIMIT 1"
            ),
            {"id": final["id"], "phase": phase},
        )


def chunk_runs(session_factory, import_id: str, phase: str) -> list:
    with session_factory() as session:
        return session.execute(
            text(
                "SELECT c.status FROM runs c JOIN runs p ON p.id = c.parent_id "
                "WHERE c.import_id = :id AND c.kind = 'chunk' AND p.name = :phase"
            ),
            {"id": import_id, "phase": phase},
        ).all()


def redone(
    resources, import_id: str, phase: str, ranges_of, read, prepare=None
) -> tuple[dict, list, list, list]:
    """The phase's work done again here, in a transaction rolled back after: ``prepare`` done,
    the work's output cleared, the ranges ``ranges_of(last)`` done, then each a second time, then
    the finish. Returns the finish's summary, ``read(session)`` after the ranges and after their
    second time, and the account's edges after the finish."""
    work = resources.services.chunked[phase]
    with resources.session_factory() as session:
        data_import = session.get(DataImport, uuid.UUID(import_id))
        if prepare is not None:
            prepare(session)
        last, plan = work.plan(session, data_import)
        work.discard(session, data_import)
        summaries = [
            work.chunk(session, data_import, plan, after, upto) for after, upto in ranges_of(last)
        ]
        once = read(session)
        for after, upto in ranges_of(last):
            work.chunk(session, data_import, plan, after, upto)
        twice = read(session)
        ctx = SimpleNamespace(session=session, data_import=data_import)
        summary = work.finish(ctx, plan, summaries)
        edges = session.execute(EDGES, {"account": data_import.client_account_id}).all()
        session.rollback()
    return summary, once, twice, edges


def one_chunk(last: int):
    return [(0, last)]


def chunks_of_300(last: int):
    return list(ranges(last, 300))


@pytest.mark.usefixtures("celery_worker")
def test_each_phase_in_several_chunks_gives_what_one_chunk_gives(resources, client, account):
    account_id, headers = account
    engagement = uuid.uuid4().hex
    edges = lambda session: session.execute(EDGES, {"account": account_id}).all()  # noqa: E731
    flags = lambda session: session.execute(FLAGS, {"account": account_id}).all()  # noqa: E731
    imported(client, headers, inventory(1, OLD_SYSTEMS), "servers", engagement)
    # The same hosts again, with other dependencies and systems: it replaces the first's edges
    # and flags.
    again = imported(client, headers, inventory(2, NEW_SYSTEMS), "servers", engagement)
    for phase in ("dependency_analysis", "tech_debt_assessment"):
        statuses = chunk_runs(resources.session_factory, again["id"], phase)
        assert len(statuses) >= 3 and {s for (s,) in statuses} == {"succeeded"}, phase
    declared = summary_of(resources, again, "dependency_analysis")
    assert declared["cycles"] >= 1 and 0 < declared["resolved"] < declared["edges"]
    with resources.session_factory() as session:
        chunked_edges, chunked_flags = edges(session), flags(session)
    # One edge a target, however many rows of however many ranges name it.
    assert len({row[:3] for row in chunked_edges}) == len(chunked_edges) == declared["edges"]

    for ranges_of in (one_chunk, chunks_of_300):
        summary, once, twice, _ = redone(
            resources, again["id"], "dependency_analysis", ranges_of, edges
        )
        assert (summary, once, twice) == (declared, chunked_edges, chunked_edges)

    assessed = summary_of(resources, again, "tech_debt_assessment")

    def unassessed(session) -> None:
        # Flags as before an assessment, so that ranges write.
        session.execute(STALE_FLAGS, {"account": account_id})

    for ranges_of in (one_chunk, chunks_of_300):
        summary, once, twice, _ = redone(
            resources, again["id"], "tech_debt_assessment", ranges_of, flags, unassessed
        )
        assert (summary, once, twice) == (assessed, chunked_flags, chunked_flags)

    observed = imported(client, headers, connections(3), "dependencies", engagement)
    statuses = chunk_runs(resources.session_factory, observed["id"], "dependency_analysis")
    assert len(statuses) >= 3
    seen = summary_of(resources, observed, "dependency_analysis")
    assert seen["rows"] == observed["valid_records"] > ROWS // 2
    assert seen["connections_without_source"] > 0 and seen["unresolved"] > 0
    with resources.session_factory() as session:
        with_observed = edges(session)
    parts = lambda session: session.execute(PARTS, {"id": observed["id"]}).all()  # noqa: E731
    for ranges_of in (one_chunk, chunks_of_300):
        summary, once, twice, finished = redone(
            resources, observed["id"], "dependency_analysis", ranges_of, parts
        )
        assert (summary, finished) == (seen, with_observed)
        assert once == twice and once
    # One edge a connection, with the processes of all of its rows.
    assert len([e for e in with_observed if e[3]]) == seen["edges"]
    assert any(e[6] and len(e[6]) > 1 for e in with_observed)


def account_of(lab, import_id: str) -> uuid.UUID:
    with lab.resources.session_factory() as session:
        return session.get(DataImport, uuid.UUID(import_id)).client_account_id


def drive(lab, import_id: str, until, limit: int = 400) -> None:
    """The import's runs that were sent and are pending, delivered here one at a time (as the
    worker would take them) until ``until()`` holds."""
    for _ in range(limit):
        if until():
            return
        sent = [
            r for r in runs_of(lab, import_id) if r.status == "pending" and r.sent_at is not None
        ]
        assert sent, f"nothing left to deliver: {lab.detail(import_id)['status']}"
        deliver(lab, sent[0])
    raise AssertionError("never got there")


def succeeded_chunks(lab, import_id: str, phase: str) -> int:
    return sum(
        1
        for (status,) in chunk_runs(lab.resources.session_factory, import_id, phase)
        if status == "succeeded"
    )


def planned(lab, import_id: str, phase: str) -> bool:
    return bool(chunk_runs(lab.resources.session_factory, import_id, phase))


def upload(lab, body: bytes) -> str:
    return lab.upload_bytes(body)


def read(lab, statement, **params) -> list:
    with lab.resources.engine.connect() as conn:
        return conn.execute(statement, params).all()


def test_a_cancel_mid_phase_puts_back_what_the_phase_replaced(lab):
    lab.start_worker()
    first = upload(lab, inventory(1, OLD_SYSTEMS))
    assert lab.wait_settled(first, timeout=180)["status"] == "completed"
    lab.stop_worker()
    account = account_of(lab, first)
    edges_before = read(lab, ALL_EDGES, account=account)
    assert edges_before

    # dependency_analysis of the same hosts again, cancelled after three of its chunks.
    second = upload(lab, inventory(2, NEW_SYSTEMS))
    drive(lab, second, lambda: succeeded_chunks(lab, second, "dependency_analysis") >= 3)
    during = read(lab, ALL_EDGES, account=account)
    assert {e.import_id for e in during} == {uuid.UUID(first), uuid.UUID(second)}
    assert len([e for e in during if str(e.import_id) == first]) < len(edges_before)
    assert read(lab, DISPLACED, id=second)
    assert lab.post(second, "cancel").status_code == 202
    drive(lab, second, lambda: not [r for r in runs_of(lab, second) if r.status == "pending"])
    (discard,) = runs_of(lab, second, kind="discard")
    assert discard.status == "succeeded"
    assert read(lab, ALL_EDGES, account=account) == edges_before
    assert read(lab, DISPLACED, id=second) == []

    # tech_debt_assessment of other systems, cancelled after three of its chunks.
    third = upload(lab, inventory(3, NEW_SYSTEMS))
    drive(lab, third, lambda: planned(lab, third, "tech_debt_assessment"))
    # The inventory gave its assets their flags: as assessed on another day, or with another
    # table, they are older, and the phase changes them.
    with lab.resources.engine.begin() as conn:
        conn.execute(STALE_FLAGS, {"account": account})
    flags_before = read(lab, FLAGS, account=account)
    edges_before = read(lab, ALL_EDGES, account=account)
    drive(lab, third, lambda: succeeded_chunks(lab, third, "tech_debt_assessment") >= 3)
    assert read(lab, FLAGS, account=account) != flags_before
    assert lab.post(third, "cancel").status_code == 202
    drive(lab, third, lambda: not [r for r in runs_of(lab, third) if r.status == "pending"])
    assert lab.detail(third)["status"] == "cancelled"
    assert read(lab, FLAGS, account=account) == flags_before
    # The phase before it had succeeded: its edges stay.
    assert read(lab, ALL_EDGES, account=account) == edges_before
    assert read(lab, DISPLACED, id=third) == []


def test_a_retry_after_a_failed_chunk_keeps_the_chunks_that_succeeded(lab, fault_resources):
    lab.start_worker()
    first = upload(lab, inventory(1, OLD_SYSTEMS))
    assert lab.wait_settled(first, timeout=180)["status"] == "completed"
    lab.stop_worker()
    second = upload(lab, inventory(2, NEW_SYSTEMS))
    drive(lab, second, lambda: succeeded_chunks(lab, second, "dependency_analysis") >= 3)
    chunks = [r for r in runs_of(lab, second, kind="chunk", name="dependency_analysis")]
    done = [r for r in chunks if r.status == "succeeded"]
    failing = next(r for r in chunks if r.status == "pending")
    with psycopg.connect(fault_resources.settings.psycopg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE displaced_rows RENAME TO displaced_away")
        try:
            assert deliver(lab, failing) == "FAILURE"
        finally:
            conn.execute("ALTER TABLE displaced_away RENAME TO displaced_rows")
    assert lab.detail(second)["status"] == "failed"
    assert lab.post(second, "retry").status_code == 202
    lab.start_worker()
    final = lab.wait_settled(second, timeout=180)
    assert final["status"] == "completed", final
    phases = runs_of(lab, second, kind="phase", name="dependency_analysis")
    mine = runs_of(lab, second, kind="chunk", parent_id=phases[-1].id)
    # The chunks that succeeded are the new attempt's, not run again; only the others ran.
    assert [(r.id, r.attempt, r.started_at) for r in mine if r.attempt == 1] == [
        (r.id, 1, r.started_at) for r in done
    ]
    assert {r.row_from for r in mine if r.attempt == 2} == {
        r.row_from for r in chunks if r.status != "succeeded"
    }
    # What the kept chunks displaced was kept across the attempts, and the finish forgot it.
    assert read(lab, DISPLACED, id=second) == []
    account = account_of(lab, second)
    edges = lambda session: session.execute(EDGES, {"account": account}).all()  # noqa: E731
    summary, once, *_ = redone(lab.resources, second, "dependency_analysis", one_chunk, edges)
    with lab.resources.session_factory() as session:
        assert edges(session) == once
    assert summary_of(lab.resources, final, "dependency_analysis") == summary


@pytest.mark.usefixtures("history", "celery_worker")
def test_the_chunks_plan_in_proportion_to_their_rows_whatever_the_statistics(
    resources, client, make_account
):
    _, headers = make_account()
    engagement = uuid.uuid4().hex
    imported(client, headers, inventory(1, OLD_SYSTEMS), "servers", engagement)
    # The statistics predate the account; its second inventory replaces edges and flags, and
    # its connection export resolves against them.
    with captured_plans(resources.engine) as plans:
        imported(client, headers, inventory(2, NEW_SYSTEMS), "servers", engagement)
        imported(client, headers, connections(3), "dependencies", engagement)
    assert len(plans) > 50, "auto_explain caught no plans"
    assert not overworked(plans, ROWS), "\n\n".join(overworked(plans, ROWS))


@pytest.mark.usefixtures("celery_worker")
def test_a_deleted_imports_staging_goes_with_it(resources, client, account):
    _, headers = account
    row = [SLOT_1, "web-01", "10.1.0.1", "", "w3wp.exe", "db-01", "10.1.0.2", "", "", "1433"]
    body = csv_bytes(AZURE_MIGRATE_HEADER, [row])
    final = imported(client, headers, body, "dependencies", uuid.uuid4().hex)
    staged = {"id": final["id"]}
    with resources.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO displaced_rows (import_id, phase, relation, data) "
                "VALUES (:id, 'tech_debt_assessment', 'assets', '{}')"
            ),
            staged,
        )
        conn.execute(
            text(
                "INSERT INTO connection_parts (import_id, range_from, seq, identity, source_ref, "
                "target_ref) VALUES (:id, 1, 0, '[]', 'a', 'b')"
            ),
            staged,
        )
        conn.execute(text("DELETE FROM data_imports WHERE id = :id"), staged)
    assert read(SimpleNamespace(resources=resources), DISPLACED, **staged) == []
    assert read(SimpleNamespace(resources=resources), PARTS, **staged) == []
