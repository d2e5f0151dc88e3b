"""Scale-out benchmark: the goals of chunk-sized tasks (issue 15), each beside its baseline.

Against a real gunicorn and real `celery worker` processes (started as bench/pipeline.py starts
them, on a database, Redis prefix and queue of the run's own), with N rows of the seeded messy
CMDB export (1,000,000 by default, 50,000 with --quick), one figure at a time:

  * end to end: N rows, upload -> completed, with the worker `make up` starts (a process per
    core, the cleansing helpers on), beside the write floor (psql \\copy of the rows the import
    wrote, table by table, as bench/pipeline.py measures it) and pgloader's plain load of the file
    when pgloader is installed. Goal: at most 1.3x the floor.
  * transactions: pg_stat_activity sampled every 100 ms during that import (now() - xact_start
    of the bench database's backends that are not idle, the sampler left out); the longest,
    goal at most 5 s.
  * status reads: GET /api/v1/imports/<id> p99 with 10 concurrent pollers while an N-row import
    runs, beside the same load once it has finished. Goal: at most 1.5x.
  * scale-out: the discovery flow of an N-row import (first phase started -> last phase
    finished) with one worker of one process, then with two (as two one-core machines would run
    it), the cleansing helpers off so that each worker is one core. Goal: a speed-up of 1.7.
  * redelivery: the worker SIGKILLed at 90% of the longest phase of the end-to-end import; a new
    worker finishes the import when the broker hands the task over again (the visibility timeout
    set to twice that phase). The rows processed twice are those the killed worker had done (the
    phase's progress at the kill times its rows) less those whose results survived it: the
    phase's rows in PostgreSQL at the end that a transaction committed before the kill wrote
    (xmin below the first transaction id after it). A phase that is one transaction loses all
    it did; chunk-sized tasks lose only the chunks in flight.
  * load: --accounts (12) new accounts upload the same --load-rows (60,000; 5,000 with --quick)
    at once with IMPORTER_STALE_AFTER_SECONDS=10 and the watchdog (celery beat) every 2 s; each
    must complete with the counts of the same file imported alone (tests/outcomes.py), and the
    wall time prints beside that import's time times the accounts.

    python bench/scale_out.py [--quick] [--rows 1000000] [--accounts 12] [--load-rows 60000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from pipeline import (  # noqa: E402
    FINAL,
    FLOW_TABLES,
    BenchRun,
    baseline_pgloader,
    bench_run,
    csv_file,
    fmt,
    print_table,
    run_import,
    seconds_between,
    start_gunicorn,
    start_worker,
    write_floor,
)

from tests.outcomes import counts_line, import_outcome  # noqa: E402
from tests.processes import Process, celery_command, free_port, logged  # noqa: E402

CORES = os.cpu_count() or 1
POLLERS = 10
# The table that holds one row per row a phase handled, and the column naming the import.
PHASE_ROWS = {
    "data_cleansing": "cleaned_records",
    "asset_inventory": "asset_sources",
    "dependency_analysis": "asset_dependencies",
    "tech_debt_assessment": "assets",
}
IMPORT_COLUMN = dict(FLOW_TABLES)
KILL_AT = 90
STALE_AFTER = 10
WATCHDOG_INTERVAL = 2

OPEN_TRANSACTIONS = """
SELECT pid, xact_start, extract(epoch FROM now() - xact_start), state,
       coalesce(nullif(application_name, ''), backend_type), left(query, 70)
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
  AND xact_start IS NOT NULL
"""


class TransactionSampler(threading.Thread):
    """The age of every open transaction in the database, every 100 ms: the oldest each one
    reached, by backend and start."""

    def __init__(self, db_url: str):
        super().__init__(daemon=True)
        self.db_url = db_url
        self.seen: dict[tuple, tuple[float, str]] = {}
        self.samples = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True, application_name="sampler") as conn:
            while not self.stop_event.wait(0.1):
                for pid, started, age, state, who, query in conn.execute(OPEN_TRANSACTIONS):
                    key = (pid, started)
                    if age > self.seen.get(key, (0.0, ""))[0]:
                        self.seen[key] = (float(age), f"{who}, {state}: {query!r}")
                self.samples += 1

    def finish(self) -> list[tuple[float, str]]:
        """The transactions seen, longest first."""
        self.stop_event.set()
        self.join()
        return sorted(self.seen.values(), reverse=True)


def discovery_seconds(result: dict) -> float:
    """First phase started -> last phase finished."""
    phases = [(started, finished) for _, started, finished, _ in result["phases"]]
    return seconds_between(min(s for s, _ in phases), max(f for _, f in phases))


def phase_durations(result: dict) -> dict[str, float]:
    return {name: seconds_between(a, b) for name, a, b, _ in result["phases"]}


def workers(bench: BenchRun, name: str, count: int, concurrency: int, **env: str) -> list[Process]:
    """``count`` workers, each a node of its own, with ``env`` over the run's environment."""
    started = [
        start_worker(
            {**bench.env, **env},
            bench.logs / f"worker_{name}_{index}.log",
            concurrency,
            "--hostname",
            f"{name}{index}-{bench.run}@%h",
        )
        for index in range(count)
    ]
    bench.procs.extend(started)
    return started


def stop(bench: BenchRun, processes: list[Process]) -> None:
    for process in processes:
        process.stop()
        bench.procs.remove(process)


def new_account(bench: BenchRun, name: str):
    return bench.resources.services.api_keys.create(f"bench-{bench.run}-{name}")


def import_context(bench: BenchRun, name: str, worker: Process, key: str) -> dict:
    """What run_import of bench/pipeline.py needs: an account's key, and logs of their own."""
    logs = bench.logs / name
    logs.mkdir()
    return {
        "env": bench.env,
        "worker": worker,
        "logs": logs,
        "procs": bench.procs,
        "new_key": lambda _rows: key,
    }


def import_with(bench: BenchRun, name: str, rows: int, path: Path, worker: Process, **ctx) -> dict:
    """run_import into a new account, to completion."""
    context = {**import_context(bench, name, worker, new_account(bench, name).key), **ctx}
    result = run_import(context, rows, path, load_seconds=context.pop("load", 0), profile=False)
    if result["status"] != "completed":
        raise SystemExit(f"{name}: the import ended {result['status']}")
    return result


# ----------------------------------------------------------------------------- the figures


def end_to_end(bench: BenchRun, rows: int, path: Path) -> dict:
    """The import with make up's worker, sampled for transactions; then the status reads with
    10 pollers during a second import (the first one's time sets the load's length)."""
    worker = workers(bench, "cores", 1, CORES)[0]
    try:
        sampler = TransactionSampler(bench.settings.psycopg_url)
        sampler.start()
        result = import_with(bench, "end-to-end", rows, path, worker)
        result["transactions"] = sampler.finish()
        result["samples"] = sampler.samples
        print(f"end to end {rows:,}: {result['pipeline_s']:.1f} s", flush=True)
        seconds = max(5, min(60, int(result["pipeline_s"] * 0.6) - 2))
        reads = import_with(
            bench, "status-reads", rows, path, worker, load=seconds, load_connections=POLLERS
        )
        result["reads"] = reads["load"], reads["idle_load"]
    finally:
        stop(bench, [worker])
    result["floor"] = write_floor(bench.settings.psycopg_url, result["import_id"], bench.logs)
    result["pgloader"] = baseline_pgloader(bench.settings.psycopg_url, path, bench.logs)
    return result


def scale_out(bench: BenchRun, rows: int, path: Path) -> dict[int, float]:
    seconds = {}
    for count in (1, 2):
        started = workers(bench, f"w{count}-", count, 1)
        try:
            result = import_with(bench, f"scale-{count}", rows, path, started[0])
        finally:
            stop(bench, started)
        seconds[count] = discovery_seconds(result)
        print(f"discovery {rows:,}, {count} worker(s) x 1 process: {seconds[count]:.1f} s")
    return seconds


def redelivery(bench: BenchRun, rows: int, path: Path, phase: str, phase_s: float) -> dict:
    visibility = max(10, math.ceil(2 * phase_s))
    env = {"IMPORTER_BROKER_VISIBILITY_TIMEOUT": str(visibility)}
    account = new_account(bench, "redelivery")
    first = workers(bench, "killed", 1, CORES, **env)[0]
    context = import_context(bench, "redelivery", first, account.key)
    resources = bench.resources
    with (
        concurrent.futures.ThreadPoolExecutor(1) as pool,
        psycopg.connect(bench.settings.psycopg_url, autocommit=True) as conn,
    ):
        running = pool.submit(run_import, context, rows, path, load_seconds=0, profile=False)
        import_id = None
        while not running.done():
            if import_id is None:
                import_id = conn.execute(
                    "SELECT id FROM data_imports WHERE client_account_id = %s",
                    (account.client_account_id,),
                ).fetchone()
            elif resources.runtime_state.progress(import_id[0]).get(phase, 0) >= KILL_AT:
                break
            time.sleep(0.01)
        else:
            raise SystemExit(f"the import ended before {phase} reached {KILL_AT}%")
        os.killpg(first.pid, signal.SIGKILL)
        first.popen.wait()
        killed_at = time.perf_counter()
        bench.procs.remove(first)
        # Every transaction that committed before the kill has an id below this one.
        (after_kill,) = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
        progress = resources.runtime_state.progress(import_id[0]).get(phase, 0)
        second = workers(bench, "new", 1, CORES, **env)[0]
        result = running.result()
        result["recovery_s"] = time.perf_counter() - killed_at
        stop(bench, [second])
        # field_mapping writes no row per row: its rows are those the flow goes on to clean.
        table = PHASE_ROWS.get(phase, "cleaned_records")
        column = IMPORT_COLUMN[table]
        total, kept = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE xmin::text::bigint < %s)"
            f" FROM {table} WHERE {column} = %s",
            (after_kill % 2**32, import_id[0]),
        ).fetchone()
        (restarts,) = conn.execute(
            # The phase's runs, its chunks' among them (a chunk is named after its phase).
            "SELECT coalesce(sum(restarts), 0) FROM runs WHERE import_id = %s AND name = %s",
            (import_id[0], phase),
        ).fetchone()
    done = round(total * progress / 100)
    result.update(
        phase=phase,
        visibility=visibility,
        table=table,
        progress=progress,
        total=total,
        done=done,
        kept=kept,
        twice=max(0, done - kept),
        restarts=restarts,
    )
    return result


def load(bench: BenchRun, accounts: int, rows: int) -> dict:
    env = {
        "IMPORTER_STALE_AFTER_SECONDS": str(STALE_AFTER),
        "IMPORTER_WATCHDOG_INTERVAL_SECONDS": str(WATCHDOG_INTERVAL),
    }
    path = csv_file(rows)
    worker = workers(bench, "load", 1, CORES, **env)[0]
    schedule = bench.logs / "celerybeat-schedule"
    beat = Process(
        celery_command("beat", "--schedule", str(schedule), "--loglevel", "INFO"),
        {**bench.env, **env},
        bench.logs / "beat.log",
    ).wait_until(logged("Sending due task watchdog"), "celery beat")
    bench.procs.append(beat)
    port = free_port()
    gunicorn = start_gunicorn({**bench.env, **env}, port, bench.logs / "gunicorn_load.log")
    bench.procs.append(gunicorn)
    base = f"http://127.0.0.1:{port}/api/v1/imports"

    def one(name: str) -> tuple[str, float]:
        """Upload into a new account; the import id and seconds to a final status."""
        headers = {"Authorization": f"Bearer {new_account(bench, name).key}"}
        started = time.perf_counter()
        with httpx.Client(headers=headers, timeout=600) as client, path.open("rb") as stream:
            response = client.post(
                base, files={"file": (path.name, stream, "text/csv")}, data={"engagement": name}
            )
            if response.status_code != 202:
                raise RuntimeError(f"{name}: upload answered {response.status_code}")
            import_id = response.json()["id"]
            while client.get(f"{base}/{import_id}").json()["status"] not in FINAL:
                time.sleep(0.5)
        return import_id, time.perf_counter() - started

    try:
        alone_id, alone_s = one("alone")
        expected = import_outcome(bench.resources, alone_id)
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(accounts) as pool:
            done = list(pool.map(one, [f"account-{n}" for n in range(1, accounts + 1)]))
        wall = time.perf_counter() - started
    finally:
        stop(bench, [gunicorn, beat, worker])
    outcomes = [(seconds, import_outcome(bench.resources, i)) for i, seconds in done]
    return {
        "rows": rows,
        "alone": (alone_s, expected),
        "outcomes": outcomes,
        "wall": wall,
        "same": all(o == expected and o["status"] == "completed" for _, o in outcomes),
    }


# ----------------------------------------------------------------------------- report


def report(rows: int, e2e: dict, scale: dict[int, float], again: dict, loaded: dict, chunk: int):
    floor = sum(e2e["floor"].values())
    longest = max((seconds for seconds, _ in e2e["transactions"]), default=0.0)
    busy, idle = (reads["p99"] for reads in e2e["reads"])
    speedup = scale[1] / scale[2]
    in_flight = chunk * CORES
    alone_s = loaded["alone"][0]
    table = [
        (
            f"discovery {rows:,}: 1 -> 2 workers (s)",
            scale[2],
            scale[1],
            speedup,
            "speed-up (ratio) >= 1.7",
            speedup >= 1.7,
        ),
        (
            f"upload -> completed {rows:,} (s)",
            e2e["pipeline_s"],
            floor,
            e2e["pipeline_s"] / floor,
            "<= 1.3x the write floor",
            e2e["pipeline_s"] <= 1.3 * floor,
        ),
        (
            f"rows done twice, SIGKILL at {again['progress']}% {again['phase']}",
            again["twice"],
            again["total"],
            again["twice"] / again["total"],
            f"<= chunks in flight ({in_flight:,})",
            again["twice"] <= in_flight,
        ),
        (
            f"longest transaction, {rows:,} import (s)",
            longest,
            None,
            None,
            "<= 5 s",
            longest <= 5,
        ),
        (
            f"load: {len(loaded['outcomes'])} x {loaded['rows']:,} at once, wall (s)",
            loaded["wall"],
            alone_s * len(loaded["outcomes"]),
            loaded["wall"] / (alone_s * len(loaded["outcomes"])),
            "all complete, counts = alone",
            loaded["same"],
        ),
        (
            f"GET import p99, {POLLERS} pollers, {rows:,} running (ms)",
            busy,
            idle,
            busy / idle,
            "<= 1.5x idle",
            busy <= 1.5 * idle,
        ),
    ]
    if e2e["pgloader"]:
        table.insert(
            2,
            (
                f"upload -> completed {rows:,} vs pgloader (s)",
                e2e["pipeline_s"],
                e2e["pgloader"],
                e2e["pipeline_s"] / e2e["pgloader"],
                "(pgloader: plain load)",
                None,
            ),
        )
    print_table(table)
    print(
        "baselines: discovery = the same import with 1 worker (ratio = speed-up); end to end ="
        " the write floor; rows done twice = the phase's rows; load = the same file alone, times"
        " the accounts (one after the other); GET p99 = the same load with no import running."
    )
    print(f"\nscale-out, discovery of {rows:,} rows: workers -> seconds")
    for count, seconds in scale.items():
        print(f"  {count} -> {seconds:.1f}")
    print(
        f"end to end {rows:,}: {e2e['pipeline_s']:.1f} s with a worker of {CORES} processes;"
        " write floor (psql \\copy of the rows the import wrote, table by table): "
        + ", ".join(f"{table} {seconds:.1f}s" for table, seconds in e2e["floor"].items())
        + f"; {floor:.1f} s in all"
    )
    durations = phase_durations(e2e)
    print("  phases: " + ", ".join(f"{name} {s:.1f}s" for name, s in durations.items()))
    print(f"transactions ({e2e['samples']} samples of pg_stat_activity), the longest three:")
    for seconds, what in e2e["transactions"][:3]:
        print(f"  {seconds:6.1f} s  {what}")
    print(
        f"redelivery: killed at {again['progress']}% of {again['phase']} ({again['table']}:"
        f" {again['done']:,} of {again['total']:,} rows done, {again['kept']:,} of them kept);"
        f" restarts {again['restarts']}, visibility timeout {again['visibility']} s, kill ->"
        f" {again['status']} {again['recovery_s']:.1f} s"
    )
    seconds, expected = loaded["alone"]
    print(f"load, {loaded['rows']:,} rows each (stale after {STALE_AFTER} s):")
    print(f"  alone       {seconds:6.1f} s  {counts_line(expected)}")
    for number, (seconds, outcome) in enumerate(loaded["outcomes"], start=1):
        same = "" if outcome == expected else "  DIFFERS from alone"
        print(f"  account {number:<3} {seconds:6.1f} s  {counts_line(outcome)}{same}")
    for reads, when in zip(e2e["reads"], ("while it runs", "once it finished"), strict=True):
        print(
            f"status reads of an import, {when}: {reads['tool']}, {reads['requests']}"
            f" requests, p50 {fmt(reads['p50'])} ms, p99 {fmt(reads['p99'])} ms,"
            f" {reads['errors']} errors"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--load-rows", type=int, default=60_000, help="each account's upload")
    parser.add_argument("--accounts", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="50,000 rows, 5,000 per account")
    args = parser.parse_args()
    rows, load_rows = (50_000, 5_000) if args.quick else (args.rows, args.load_rows)
    path = csv_file(rows)
    print(f"load average before the run: {os.getloadavg()[0]:.2f} ({CORES} cores)", flush=True)
    with bench_run("scale") as bench:
        e2e = end_to_end(bench, rows, path)
        phase, phase_s = max(phase_durations(e2e).items(), key=lambda item: item[1])
        scale = scale_out(bench, rows, path)
        again = redelivery(bench, rows, path, phase, phase_s)
        print(f"redelivery: {again['twice']:,} rows done twice", flush=True)
        loaded = load(bench, args.accounts, load_rows)
        report(rows, e2e, scale, again, loaded, bench.settings.chunk_size)
        print(f"\nload average after the run: {os.getloadavg()[0]:.2f}\nlogs: {bench.logs}")


if __name__ == "__main__":
    main()
