"""History benchmark: a new account's import into a database that holds other accounts' imports.

The same 60,000-row import runs against a real gunicorn and celery worker (as in
bench/pipeline.py), first into a new account and then again into that account (whose hosts it
now matches), twice:
  * into an empty database;
  * after 1,000,000 rows were imported into another account and every table analysed, so that
    the statistics predate the new account.
Each figure with history prints beside the same import's on the empty database. The goals: upload ->
completed at most 1.3x the baseline, every phase at most 1.5x.

    .venv/bin/python bench/history.py [--history 1000000] [--rows 60000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import (  # noqa: E402
    bench_run,
    csv_file,
    psql,
    run_import,
    seconds_between,
    start_worker,
)

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
    with bench_run("bench-history") as bench:
        run, settings, env, logs, resources, procs = (
            bench.run, bench.settings, bench.env, bench.logs, bench.resources, bench.procs
        )  # fmt: skip
        worker = start_worker(env, logs / "worker.log")
        procs.append(worker)
        ctx = {"env": env, "worker": worker, "logs": logs, "procs": procs}

        def first_and_again(account: str) -> dict[str, dict]:
            """The file into a new account, then again into that account (its hosts now known)."""
            key = resources.services.api_keys.create(f"bench-{run}-{account}").key
            ctx["new_key"] = lambda rows: key
            return {
                name: run_import(ctx, args.rows, path, load_seconds=0, profile=False)
                for name in ("first", "again")
            }

        path = csv_file(args.rows)
        empty = first_and_again("empty")
        ctx["new_key"] = lambda rows: resources.services.api_keys.create(f"bench-{run}-old").key
        run_import(ctx, args.history, csv_file(args.history), load_seconds=0, profile=False)
        psql(settings.psycopg_url, "ANALYZE")
        history = first_and_again("new")
        for name, result in [*empty.items(), *history.items()]:
            if result.get("status") != "completed":
                raise SystemExit(f"{name}: the import ended {result.get('status')}")
        print(f"\n{args.rows:,} rows after {args.history:,} rows of another account's history")
        print(
            f"{'figure (s)':24} {'first:':>7} {'empty db':>9} {'history':>9} {'ratio':>6}"
            f"   {'again:':>7} {'empty db':>9} {'history':>9} {'ratio':>6}  goal"
        )
        times = {name: (durations(empty[name]), durations(history[name])) for name in empty}
        for figure in times["first"][0]:
            goal = TOTAL_GOAL if figure == "upload -> completed" else PHASE_GOAL
            cells = []
            for name in ("first", "again"):
                before, after = times[name][0][figure], times[name][1][figure]
                ratio = after / before if before else float("nan")
                cells.append(f"{'':>7} {before:9.2f} {after:9.2f} {ratio:6.2f}")
            print(f"{figure:24} {'   '.join(cells)}  <= {goal}x")
        print(f"\nlogs: {logs}")


if __name__ == "__main__":
    main()
