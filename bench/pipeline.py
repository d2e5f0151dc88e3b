"""Pipeline benchmark: upload, memory, upload -> completed, tasks per import, GET p99 under load.

Generates seeded messy CMDB exports (cached under bench/data/, git-ignored), starts a real gunicorn
(`--config gunicorn.conf.py 'web:create_app()'`, as the Procfile does, a fresh one per file so that
VmHWM is that upload's peak) and a real `celery worker` (prefork, concurrency 2: this machine's
cores, which the Procfile's worker takes; nice 10 as there) against a fresh bench database and
Redis prefix, runs the baselines in the same run, and prints ONE table: figure, ours, baseline,
ratio, goal, met. Everything it starts is stopped and the database and Redis keys dropped, even
on failure.

The GET load is `wrk -t2 -c50` when wrk is installed (apt-get install wrk), else 50 Python threads,
which load the two cores themselves and measure their own GIL queueing too. It runs during the
largest import and again once that import has finished (the "baseline" of its row).

Baselines (all timed with nothing else running):
  * upload: `psql \\copy` of the same rows into a table shaped like raw_import_records
    (import_id uuid, row_number int, client_account_id uuid, record jsonb, extra_values jsonb,
    the same primary key and the same foreign keys as the migrated table, to one-row parent
    tables) in one transaction. The CSV is turned into COPY text lines beforehand
    (untimed: one JSON object per row, keyed by header, as the service stores them), so PostgreSQL
    does the same work it does for us (jsonb parse, PK index, foreign key checks, WAL) and the
    ratio measures what the HTTP + parsing + Python path adds on top of the database's own cost.
    The time into the same table without its foreign keys is printed too.
  * upload -> completed: pgloader's plain load of the same CSV into ten text columns.
  * the write floor (printed below the table, for the largest import): psql \\copy of the rows the
    flow wrote for that import, table by table, into fresh copies with the same indexes.

    python bench/pipeline.py [--rows 100000,1000000] [--quick] [--profile] [--load-seconds 15]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import csv
import dataclasses
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from importer import migrate  # noqa: E402
from importer.config import Settings  # noqa: E402
from importer.resources import Resources  # noqa: E402
from importer.sample_export import HEADER, write_messy_csv  # noqa: E402
from tests.processes import (  # noqa: E402
    Process,
    answers,
    free_port,
    gunicorn_command,
    worker_command,
    worker_ready,
)
from tests.worker_process import settings_env  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
BIN = Path(sys.executable).parent
FINAL = {"completed", "failed", "cancelled", "waiting_for_approval"}
SEED = 7
MB = 1024 * 1024
# As in the Procfile: the worker yields the CPU to the API, so status polls stay fast while an
# import runs (its own throughput changes little, PostgreSQL doing much of the work).
WORKER_NICE = ["nice", "-n", "10"]


# ----------------------------------------------------------------------------- data files


def csv_file(rows: int) -> Path:
    path = DATA / f"cmdb_{rows}_seed{SEED}.csv"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as out:
            write_messy_csv(out, rows, SEED)
        tmp.rename(path)
    return path


def copy_file(rows: int, source: Path) -> Path:
    """COPY text lines (import_id, row_number, account, record jsonb, \\N) for the psql baseline."""
    path = DATA / f"cmdb_{rows}_seed{SEED}.copy"
    if not path.exists():
        import_id, account = uuid.uuid4(), uuid.uuid4()
        tmp = path.with_suffix(".tmp")
        with source.open(newline="", encoding="utf-8") as src, tmp.open("w") as out:
            reader = csv.reader(src)
            header = next(reader)
            for number, row in enumerate(reader, start=1):
                record = json.dumps(dict(zip(header, row, strict=False)), ensure_ascii=False)
                record = record.replace("\\", "\\\\")  # COPY text escapes; JSON has no raw \n \t
                out.write(f"{import_id}\t{number}\t{account}\t{record}\t\\N\n")
        tmp.rename(path)
    return path


# The steps and phases done in chunk runs (README, "Chunks").
CHUNKED_UNITS = 5


# ----------------------------------------------------------------------------- processes


def children(pid: int) -> list[int]:
    """Child pids from /proc (no psutil needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def proc_status_bytes(pid: int, field: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) * 1024
    except (OSError, AttributeError):
        return 0


def start_gunicorn(env: dict[str, str], port: int, log: Path) -> Process:
    gunicorn = Process(
        gunicorn_command("--bind", f"127.0.0.1:{port}", "--timeout", "1200"), env, log
    )
    # Both workers booted, not only the one that answered the health check.
    health = f"http://127.0.0.1:{port}/healthz"
    return gunicorn.wait_until(lambda p: answers(health) and len(children(p.pid)) >= 2, "gunicorn")


def start_worker(env: dict[str, str], log: Path, concurrency: int = 2, *options: str) -> Process:
    worker = Process([*WORKER_NICE, *worker_command(concurrency, *options)], env, log)
    return worker.wait_until(worker_ready, "celery worker")


class RssSampler(threading.Thread):
    """Max RSS of the gunicorn workers, sampled every 20 ms; VmHWM read at the end."""

    def __init__(self, master_pid: int):
        super().__init__(daemon=True)
        self.workers = children(master_pid)
        self.peak = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            for pid in self.workers:
                self.peak = max(self.peak, proc_status_bytes(pid, "VmRSS"))
            time.sleep(0.02)

    def hwm(self) -> int:
        return max((proc_status_bytes(pid, "VmHWM") for pid in self.workers), default=0)

    def finish(self) -> int:
        self.stop_event.set()
        self.join()
        return max(self.peak, self.hwm())


# ----------------------------------------------------------------------------- load


def load_wrk(url: str, headers: dict[str, str], seconds: int, connections: int = 50) -> dict:
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            *sum((["-H", f"{k}: {v}"] for k, v in headers.items()), []),
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return math.nan
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    requests = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "tool": f"wrk -t2 -c{connections}",
        "p50": ms("50%"),
        "p99": ms("99%"),
        "requests": int(requests.group(1)) if requests else 0,
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def load_threads(url: str, headers: dict[str, str], seconds: int, connections: int = 50) -> dict:
    latencies: list[float] = []
    errors = 0
    end = time.monotonic() + seconds
    lock = threading.Lock()

    def loop() -> None:
        nonlocal errors
        with httpx.Client(headers=headers, timeout=10) as client:
            while time.monotonic() < end:
                started = time.perf_counter()
                try:
                    ok = client.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)
                    errors += not ok

    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        for future in [pool.submit(loop) for _ in range(connections)]:
            future.result()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, round(q * (len(latencies) - 1)))]  # noqa: E731
    return {
        "tool": f"{connections} httpx threads",
        "p50": pick(0.5),
        "p99": pick(0.99),
        "requests": len(latencies),
        "errors": errors,
    }


# ----------------------------------------------------------------------------- profile


def summarise_profile(raw: Path, what: str = "worker", top: int = 18) -> None:
    """py-spy --format raw: 'frame;frame;... count'. Inclusive and self time per function."""
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if "process " in frames[0] and len(frames) < 3:
            continue
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        print("profile: no samples")
        return
    print(f"\nprofile of the {what} processes (py-spy, {total} samples, all processes):")
    print("  inclusive, importer code:")
    shown = [(f, n) for f, n in inclusive.most_common() if re.search(r"\((importer|web)/", f)]
    for frame, n in shown[:top]:
        print(f"    {100 * n / total:5.1f}%  {frame}")
    print("  self (leaf frames):")
    for frame, n in own.most_common(top):
        print(f"    {100 * n / total:5.1f}%  {frame}")


# ----------------------------------------------------------------------------- baselines


def postmaster_start(db_url: str) -> str:
    return subprocess.run(
        ["psql", "-X", "-At", "-d", db_url, "-c", "SELECT pg_postmaster_start_time()"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def psql(db_url: str, *commands: str) -> float:
    """Seconds psql takes to run ``commands`` in order, in one session."""
    started = time.perf_counter()
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db_url]
        + [arg for command in commands for arg in ("-c", command)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def foreign_key_columns(db_url: str, table: str) -> set[str]:
    """The columns of ``table`` that hold a (single-column) foreign key."""
    out = subprocess.run(
        [
            "psql", "-X", "-At", "-d", db_url, "-c",
            "SELECT a.attname FROM pg_constraint c JOIN pg_attribute a"
            " ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
            f" WHERE c.conrelid = '{table}'::regclass AND c.contype = 'f'",
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return set(out.split())


def baseline_copy(db_url: str, copy_path: Path, *, foreign_keys: bool = True) -> float:
    """psql \\copy into a table like raw_import_records, by default with its foreign keys too.

    PostgreSQL checks each foreign key of raw_import_records once per stored row, at the end of
    the COPY (10 us or so a row and key): a baseline without them would leave out part of the
    database's own work. Which keys the table has is read from the migrated bench database.
    """
    import_id, _, account = copy_path.open().readline().split("\t")[:3]
    keys = foreign_key_columns(db_url, "raw_import_records") if foreign_keys else set()
    references = {
        column: f" REFERENCES {parent} ON DELETE CASCADE" if column in keys else ""
        for column, parent in (
            ("import_id", "bench_copy_imports"),
            ("client_account_id", "bench_copy_accounts"),
        )
    }
    psql(
        db_url,
        "DROP TABLE IF EXISTS bench_copy, bench_copy_imports, bench_copy_accounts;"
        " CREATE TABLE bench_copy_accounts (id uuid PRIMARY KEY);"
        " CREATE TABLE bench_copy_imports (id uuid PRIMARY KEY);"
        f" INSERT INTO bench_copy_accounts VALUES ('{account}');"
        f" INSERT INTO bench_copy_imports VALUES ('{import_id}');"
        f" CREATE TABLE bench_copy (import_id uuid NOT NULL{references['import_id']},"
        " row_number int NOT NULL,"
        f" client_account_id uuid NOT NULL{references['client_account_id']},"
        " record jsonb NOT NULL, extra_values jsonb, PRIMARY KEY (import_id, row_number))",
    )
    psql(db_url, "CHECKPOINT")
    seconds = psql(db_url, f"\\copy bench_copy FROM '{copy_path}'")
    psql(db_url, "DROP TABLE bench_copy, bench_copy_imports, bench_copy_accounts")
    return seconds


# What the flow writes for an import, table by table (the assets: those it last wrote).
FLOW_TABLES = (
    ("raw_import_records", "import_id"),
    ("import_validation_issues", "import_id"),
    ("cleaned_records", "import_id"),
    ("assets", "last_import_id"),
    ("asset_sources", "import_id"),
    ("asset_dependencies", "import_id"),
)


def write_floor(db_url: str, import_id: str, out_dir: Path) -> dict[str, float]:
    """psql \copy of the rows the flow wrote for the import, each table into a fresh copy of it.

    The copies have the table's indexes, defaults and constraints (LIKE ... INCLUDING ALL), and
    are created and loaded in one transaction that is rolled back. This is the database's own
    cost of storing the import's results with one writer at a time, as the flow's transactions
    store them: what no code of ours can go below without writing less or writing in parallel.
    """
    seconds = {}
    for table, column in FLOW_TABLES:
        path = out_dir / f"floor_{table}.tsv"
        psql(
            db_url,
            f"\\copy (SELECT * FROM {table} WHERE {column} = '{import_id}') TO '{path}'",
        )
        psql(db_url, "CHECKPOINT")
        seconds[table] = psql(
            db_url,
            f"BEGIN; CREATE TABLE bench_floor (LIKE {table} INCLUDING ALL)",
            f"\\copy bench_floor FROM '{path}'",
            "ROLLBACK",
        )
        path.unlink()
    return seconds


def baseline_pgloader(db_url: str, csv_path: Path, log_dir: Path) -> float | None:
    if not shutil.which("pgloader"):
        print(
            "pgloader not installed: skipping the upload -> completed baseline "
            "(apt-get install -y pgloader)"
        )
        return None
    columns = ", ".join(f"c{i} text" for i in range(len(HEADER)))
    psql(db_url, f"DROP TABLE IF EXISTS bench_pgloader; CREATE TABLE bench_pgloader ({columns})")
    psql(db_url, "CHECKPOINT")
    load = log_dir / "pgloader.load"
    load.write_text(
        f"LOAD CSV FROM '{csv_path}' ({', '.join(f'c{i}' for i in range(len(HEADER)))})\n"
        f"INTO {db_url}?tablename=bench_pgloader\n"
        "WITH skip header = 1, fields optionally enclosed by '\"',\n"
        "     fields escaped by double-quote, fields terminated by ',';\n"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [
            "pgloader",
            "--no-ssl-cert-verification",
            "--logfile",
            str(log_dir / "pgloader.log"),
            str(load),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    loaded = subprocess.run(
        ["psql", "-X", "-At", "-d", db_url, "-c", "SELECT count(*) FROM bench_pgloader"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    psql(db_url, "DROP TABLE bench_pgloader")
    if result.returncode != 0:
        print(
            f"pgloader failed (rc {result.returncode}): "
            f"{result.stdout[-800:]}{result.stderr[-800:]}"
        )
        return None
    print(f"pgloader baseline: {loaded} rows in {seconds:.1f} s")
    return seconds


# ----------------------------------------------------------------------------- ours


def py_spy(pid: int, out: Path) -> Process:
    args = [str(BIN / "py-spy"), "record", "--pid", str(pid), "--subprocesses", "--nonblocking"]
    args += ["--rate", "50", "--format", "raw", "-o", str(out)]
    return Process(args, os.environ.copy(), out.with_suffix(".log"))


def run_import(ctx: dict, rows: int, path: Path, *, load_seconds: int, profile: bool) -> dict:
    env, worker = ctx["env"], ctx["worker"]
    # A client account per file: the inventory of one run does not turn the next one's creates
    # into updates, so the sizes compare.
    headers = {"Authorization": f"Bearer {ctx['new_key'](rows)}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gunicorn = start_gunicorn(env, port, ctx["logs"] / f"gunicorn_{rows}.log")
    ctx["procs"].append(gunicorn)
    result: dict = {"rows": rows}
    try:
        sampler = RssSampler(gunicorn.pid)
        sampler.start()
        received_before = worker.text().count(" received") if worker else 0
        upload_spy = None
        if profile and (BIN / "py-spy").exists():
            upload_spy = py_spy(gunicorn.pid, ctx["logs"] / f"profile_upload_{rows}.txt")
            ctx["procs"].append(upload_spy)
        with (
            path.open("rb") as stream,
            httpx.Client(base_url=base, headers=headers, timeout=httpx.Timeout(1800)) as client,
        ):
            started = time.perf_counter()
            response = client.post(
                "/api/v1/imports",
                files={"file": (path.name, stream, "text/csv")},
                data={"engagement": f"bench-{rows}-{uuid.uuid4().hex[:8]}"},
            )
            result["upload_s"] = time.perf_counter() - started
        result["rss"] = sampler.finish()
        if upload_spy is not None:
            upload_spy.stop(signal.SIGINT, timeout=60)
            result["upload_profile"] = ctx["logs"] / f"profile_upload_{rows}.txt"
        if worker is None:  # --upload-only
            if response.status_code != 202:
                raise RuntimeError(f"upload answered {response.status_code}: {response.text[:500]}")
            result["stored"] = response.json().get("records_stored")
            return result
        if response.status_code != 202:
            raise RuntimeError(f"upload answered {response.status_code}: {response.text[:500]}")
        body = response.json()
        import_id = result["import_id"] = body["id"]
        result["stored"] = body.get("records_stored")

        spy = None
        if profile and (BIN / "py-spy").exists():
            raw = ctx["logs"] / f"profile_{rows}.txt"
            spy = py_spy(worker.pid, raw)
            ctx["procs"].append(spy)
        load = None
        connections = ctx.get("load_connections", 50)
        if load_seconds:

            def run_load() -> dict:
                time.sleep(2)  # into the validate step
                url = f"{base}/api/v1/imports/{import_id}"
                runner = load_wrk if shutil.which("wrk") else load_threads
                return runner(url, headers, load_seconds, connections)

            load = concurrent.futures.ThreadPoolExecutor(1).submit(run_load)

        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            poll_errors = 0
            while True:
                try:
                    answer = client.get(f"/api/v1/imports/{import_id}")
                    detail = answer.json() if answer.status_code == 200 else {}
                except (httpx.HTTPError, ValueError):
                    detail = {}
                poll_errors += "status" not in detail
                if detail.get("status") in FINAL:
                    break
                if time.perf_counter() - started > 3600:
                    raise TimeoutError(f"import still {detail.get('status')} after an hour")
                time.sleep(0.25)
            if poll_errors:
                print(f"warning: {poll_errors} status polls failed during the {rows:,} import")
            result["pipeline_s"] = time.perf_counter() - started
            result["status"] = detail["status"]
            flow = detail.get("flow")
            phases = client.get(f"/api/v1/flows/{flow['id']}").json() if flow else {}
        if load is not None:
            result["load"] = load.result()
            # The same load with no import running: service time and queueing in the API
            # alone, against which the figure under a running import compares.
            runner = load_wrk if shutil.which("wrk") else load_threads
            result["idle_load"] = runner(
                f"{base}/api/v1/imports/{import_id}", headers, load_seconds, connections
            )
        if spy is not None:
            spy.stop(signal.SIGINT, timeout=60)
            result["profile"] = ctx["logs"] / f"profile_{rows}.txt"
        time.sleep(1)  # the worker logs "received" before it runs; all are in by now
        result["tasks"] = worker.text().count(" received") - received_before
        result["steps"] = [
            (s["name"], s["started_at"], s["finished_at"], s["status"]) for s in detail["steps"]
        ]
        result["phases"] = [
            (p["name"], p["started_at"], p["finished_at"], p["status"])
            for p in phases.get("phases", [])
        ]
        result["summary"] = phases.get("summary")
        result["validation"] = {
            k: detail.get(k) for k in ("valid_records", "invalid_records", "error")
        }
    finally:
        gunicorn.stop()
    return result


def seconds_between(start: str | None, end: str | None) -> float:
    from datetime import datetime

    if not start or not end:
        return math.nan
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


# ----------------------------------------------------------------------------- report


def fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_table(table: list[tuple]) -> None:
    """Rows of (figure, ours, baseline, ratio, goal, met), met None where no goal applies."""
    print()
    print(f"{'figure':<50}{'ours':>10}{'baseline':>10}{'ratio':>8}  {'goal':<28}{'met':>4}")
    for name, ours, base, ratio, goal, met in table:
        met_text = "-" if met is None else ("yes" if met else "NO")
        print(f"{name:<50}{fmt(ours):>10}{fmt(base):>10}{fmt(ratio):>8}  {goal:<28}{met_text:>4}")


def report(results: list[dict], baselines: dict, chunk_size: int) -> None:
    by_rows = {r["rows"]: r for r in results}
    small, large = min(by_rows), max(by_rows)
    table: list[tuple] = []

    for rows, r in sorted(by_rows.items()):
        base = baselines.get(("copy", rows))
        ratio = r["upload_s"] / base if base else None
        table.append(
            (
                f"upload {rows:,} rows, to 202 (s)",
                r["upload_s"],
                base,
                ratio,
                "<= 1.3",
                None if ratio is None else ratio <= 1.3,
            )
        )
    for rows, r in sorted(by_rows.items()):
        peak = r["rss"] / MB
        if rows == small or len(by_rows) == 1:
            table.append(
                (
                    f"peak RSS gunicorn worker {rows:,} (MB)",
                    peak,
                    None,
                    None,
                    "<= 200 MB",
                    peak <= 200,
                )
            )
        else:
            base = by_rows[small]["rss"] / MB
            ratio = peak / base
            table.append(
                (
                    f"peak RSS gunicorn worker {rows:,} (MB)",
                    peak,
                    base,
                    ratio,
                    f"<= 200 MB, <= 1.2x {small:,}",
                    peak <= 200 and ratio <= 1.2,
                )
            )
    full = {rows: r for rows, r in by_rows.items() if "pipeline_s" in r}
    for rows, r in sorted(full.items()):
        base = baselines.get(("pgloader", rows))
        ratio = r["pipeline_s"] / base if base else None
        met = r["pipeline_s"] <= 60 and (base is None or r["pipeline_s"] < base)
        if r["status"] != "completed":
            met = False
        table.append(
            (
                f"upload -> {r['status']} {rows:,} (s)",
                r["pipeline_s"],
                base,
                ratio,
                "<= 60 s, < pgloader",
                met if rows == large else None,
            )
        )
    for rows, r in sorted(full.items()):
        chunks = math.ceil(rows / chunk_size)
        table.append(
            (
                f"celery tasks per import {rows:,}",
                r["tasks"],
                None,
                None,
                # 3 steps, 5 phases, and for each chunked unit (validate, data_cleansing,
                # asset_inventory, dependency_analysis, tech_debt_assessment) a task per chunk
                # and its finish.
                f"<= {CHUNKED_UNITS} x ({chunks} chunks + 1) + 8",
                r["tasks"] <= CHUNKED_UNITS * (chunks + 1) + 8,
            )
        )
    for rows, r in sorted(by_rows.items()):
        if "load" in r:
            load = r["load"]
            idle = r.get("idle_load", {}).get("p99")
            table.append(
                (
                    f"GET import p99, 50 conns, {rows:,} running (ms)",
                    load["p99"],
                    idle,
                    None if not idle else load["p99"] / idle,
                    "<= 50 ms",
                    load["p99"] <= 50,
                )
            )

    print_table(table)
    print(
        "baselines: upload = psql \\copy of the same rows (pre-converted, untimed, to JSON records)"
        " into a raw_import_records-shaped jsonb table with the same primary and foreign keys;"
        " upload -> completed = pgloader CSV -> 10 text columns; RSS 1M baseline = the 100k"
        " peak; GET p99 baseline = the same load once"
        " the import has finished."
    )
    for rows, r in sorted(by_rows.items()):
        for key, when in (("load", "import running"), ("idle_load", "no import running")):
            if key in r:
                load = r[key]
                print(
                    f"load ({rows:,}, {when}): {load['tool']}, {load['requests']} requests, p50 "
                    f"{fmt(load['p50'])} ms, p99 {fmt(load['p99'])} ms, {load['errors']} errors"
                )
        print(f"stored {rows:,}: records_stored={r['stored']} validation={r.get('validation')}")
        if rows not in full:
            continue
        floor = baselines.get(("floor", rows))
        if floor:
            total = sum(floor.values())
            print(
                f"write floor {rows:,}: psql \\copy of the rows the flow wrote, each table into"
                " a fresh copy with its indexes, one at a time: "
                + ", ".join(f"{table} {seconds:.1f}s" for table, seconds in floor.items())
                + f"; {total:.1f} s in all, upload -> completed is {r['pipeline_s'] / total:.2f}x"
            )
        timings = [f"{n} {seconds_between(a, b):.1f}s" for n, a, b, _ in r["steps"]]
        timings += [f"{n} {seconds_between(a, b):.1f}s" for n, a, b, _ in r["phases"]]
        print(f"step/phase durations {rows:,}: upload {r['upload_s']:.1f}s, " + ", ".join(timings))
    for r in results:
        for name, what in (("upload_profile", "gunicorn workers, upload"), ("profile", "worker")):
            if r.get(name) and r[name].exists():
                summarise_profile(r[name], what)


# ----------------------------------------------------------------------------- main


def bench_settings(run: str) -> Settings:
    """The environment's settings, with a database, Redis prefix and queue of the run's own."""
    base = Settings(_env_file=None)
    return base.model_copy(
        update={
            "database_url": base.database_url.rsplit("/", 1)[0] + f"/importer_bench_{run}",
            "redis_prefix": f"importer-bench-{run}",
            "task_queue": f"importer-bench-{run}",
            "max_upload_bytes": 4 * 1024 * MB,
            "upload_rate_limit": "10000/minute",
        }
    )


def tear_down(procs: list[Process], resources: Resources, run: str) -> None:
    """Stop the run's processes, and drop its Redis keys and database."""
    for proc in reversed(procs):
        proc.stop()
    stale = list(resources.redis.scan_iter(match=f"*importer-bench-{run}*"))
    if stale:
        resources.redis.delete(*stale)
    resources.engine.dispose()
    migrate.drop_database(resources.settings.database_url)


@dataclasses.dataclass
class BenchRun:
    """A run's settings, the environment its processes get, its logs, resources and processes."""

    run: str
    settings: Settings
    env: dict[str, str]
    logs: Path
    resources: Resources
    procs: list[Process]


@contextlib.contextmanager
def bench_run(name: str = "bench") -> Iterator[BenchRun]:
    """A migrated database, Redis prefix and queue of the run's own; everything it started
    stopped and dropped at the end, on an error or a SIGTERM too."""
    run = uuid.uuid4().hex[:8]
    settings = bench_settings(run)
    env = {**os.environ, **settings_env(settings), "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    DATA.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix=f"{name}-{run}-", dir=DATA))

    # SIGTERM (and SIGINT, ignored in a background job) clean up like an error does.
    def stop(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    migrate.create_database_if_missing(settings.database_url)
    migrate.upgrade(settings.database_url)
    resources = Resources(settings)
    procs: list[Process] = []
    try:
        yield BenchRun(run, settings, env, logs, resources, procs)
    finally:
        tear_down(procs, resources, run)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="100000,1000000", help="comma-separated row counts")
    parser.add_argument("--quick", action="store_true", help="20,000 and 100,000 rows")
    parser.add_argument(
        "--load-seconds",
        type=int,
        default=15,
        help="GET load window during the largest import (0: none)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the celery worker during the largest import"
    )
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument(
        "--upload-only", action="store_true", help="no celery worker: upload figures only"
    )
    args = parser.parse_args()
    sizes = [20_000, 100_000] if args.quick else [int(x) for x in args.rows.split(",") if x]
    sizes = sorted(set(sizes))

    files = {}
    for rows in sizes:
        started = time.perf_counter()
        files[rows] = csv_file(rows)
        print(
            f"data {rows:,}: {files[rows]} ({files[rows].stat().st_size / MB:.0f} MB, "
            f"{time.perf_counter() - started:.1f} s)",
            flush=True,
        )

    with bench_run() as bench:
        settings, env, logs, resources, procs = (
            bench.settings, bench.env, bench.logs, bench.resources, bench.procs
        )  # fmt: skip
        db_url = settings.psycopg_url
        pg_started = postmaster_start(db_url)
        print(
            f"load average before the run: {os.getloadavg()[0]:.2f} (2 cores; others' load skews)"
        )
        baselines: dict = {}
        if not args.no_baselines:
            for rows in sizes:
                copy_path = copy_file(rows, files[rows])
                without_keys = baseline_copy(db_url, copy_path, foreign_keys=False)
                baselines[("copy", rows)] = baseline_copy(db_url, copy_path)
                print(
                    f"psql \\copy baseline {rows:,}: {baselines[('copy', rows)]:.2f} s"
                    f" ({without_keys:.2f} s into the same table without its foreign keys)",
                    flush=True,
                )
            if not args.upload_only:
                baselines[("pgloader", sizes[-1])] = baseline_pgloader(
                    db_url, files[sizes[-1]], logs
                )

        worker = None
        if not args.upload_only:
            worker = start_worker(env, logs / "worker.log")
            procs.append(worker)
        ctx = {
            "env": env,
            "new_key": lambda rows: (
                resources.services.api_keys.create(f"bench-{bench.run}-{rows}").key
            ),
            "worker": worker,
            "logs": logs,
            "procs": procs,
        }
        results = []
        for rows in sizes:
            largest = rows == sizes[-1]
            result = run_import(
                ctx,
                rows,
                files[rows],
                load_seconds=args.load_seconds if largest else 0,
                profile=args.profile and largest,
            )
            print(
                f"ours {rows:,}: upload {result['upload_s']:.2f} s, peak RSS "
                f"{result['rss'] / MB:.0f} MB"
                + (
                    f", {result['status']} after {result['pipeline_s']:.1f} s, "
                    f"{result['tasks']} tasks"
                    if "pipeline_s" in result
                    else ""
                ),
                flush=True,
            )
            results.append(result)
            if largest and not args.no_baselines and result.get("status") == "completed":
                baselines[("floor", rows)] = write_floor(db_url, result["import_id"], logs)
        report(results, baselines, settings.chunk_size)
        if postmaster_start(db_url) != pg_started:
            print(
                "WARNING: PostgreSQL restarted during the run (someone else's doing): the "
                "figures include the reconnects and retries"
            )
        print(f"\nlogs: {logs}")


if __name__ == "__main__":
    main()
