"""History benchmark: a new account's import into a database that holds other accounts' imports.

The same 60,000-row import runs three times against a real gunicorn and celery worker (as in
bench/pipeline.py):
  * baseline: into an empty database;
  * history: into a new account, after 1,000,000 rows were imported into another account and
    every table analysed, so that the statistics predate the new account;
  * again: the same file into that same account, whose hosts it now matches.
Each phase of the last two prints beside its baseline from the same run. The goals: upload ->
completed at most 1.3x the baseline, every phase at most 1.5x.

    .venv/bin/python bench/history.py [--history 1000000] [--rows 60000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import (  # noqa: E402
    BIN,
    DATA,
    bench_settings,
    csv_file,
    psql,
    run_import,
    seconds_between,
    settings_env,
    start_worker,
    tear_down,
)

from importer import migrate  # noqa: E402
from importer.resources import Resources  # noqa: E402

PHASE_GOAL = 1.5
TOTAL_GOAL = 1.3


def durations(result: dict) -> dict[str, float]:
    """Upload -> completed, and each phase's seconds."""
    times = {"upload -> completed": result["pipeline_s"]}
    for name, started, finished, _ in result["phases"]:
        times[name] = seconds_between(started, finished)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--history", type=int, default=1_000_000, help="other accounts' rows")
    parser.add_argument("--rows", type=int, default=60_000, help="the new account's import")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    settings = bench_settings(run)
    env = {**os.environ, **settings_env(settings), "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    DATA.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix=f"bench-history-{run}-", dir=DATA))
    migrate.create_database_if_missing(settings.database_url)
    migrate.upgrade(settings.database_url)
    resources = Resources(settings)
    procs = []
    keys = iter(range(10**6))
    try:
        worker = start_worker(env, logs / "worker.log")
        procs.append(worker)
        ctx = {
            "env": env,
            "new_key": lambda rows: (
                resources.services.api_keys.create(f"bench-{run}-{next(keys)}").key
            ),
            "worker": worker,
            "logs": logs,
            "procs": procs,
        }
        path = csv_file(args.rows)
        runs = {"baseline": run_import(ctx, args.rows, path, load_seconds=0, profile=False)}
        run_import(ctx, args.history, csv_file(args.history), load_seconds=0, profile=False)
        psql(settings.psycopg_url, "ANALYZE")
        account_key = resources.services.api_keys.create(f"bench-{run}-new").key
        ctx["new_key"] = lambda rows: account_key
        runs["history"] = run_import(ctx, args.rows, path, load_seconds=0, profile=False)
        runs["again"] = run_import(ctx, args.rows, path, load_seconds=0, profile=False)
        for name, result in runs.items():
            if result.get("status") != "completed":
                raise SystemExit(f"{name}: the import ended {result.get('status')}")
        baseline = durations(runs["baseline"])
        print(f"\n{args.rows:,} rows after {args.history:,} rows of another account's history")
        print(
            f"{'figure (s)':32} {'empty db':>9} {'history':>9} {'ratio':>6} {'again':>9} "
            f"{'ratio':>6}  goal"
        )
        for figure, seconds in baseline.items():
            goal = TOTAL_GOAL if figure == "upload -> completed" else PHASE_GOAL
            cells = []
            for name in ("history", "again"):
                other = durations(runs[name])[figure]
                cells.append(f"{other:9.2f} {other / seconds if seconds else float('nan'):6.2f}")
            print(f"{figure:32} {seconds:9.2f} {' '.join(cells)}  <= {goal}x")
        print(f"\nlogs: {logs}")
    finally:
        tear_down(procs, resources, run)


if __name__ == "__main__":
    main()
