"""Undo benchmark: undoing an import against the time its inventory phase took.

A real gunicorn and celery worker (as in bench/pipeline.py). One account imports the same
export twice: the second import matches, and so touches, every asset the first made. Undoing
the second rebuilds every one of them from the first import's rows: the worst case of an undo.
The goal (issue 16): the undo takes at most the second import's asset_inventory phase, from the
same run. The undo's seconds are its run's (started -> finished), as the phase's are.

    .venv/bin/python bench/undo.py [--rows 100000] [--quick]
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import (  # noqa: E402
    bench_run,
    csv_file,
    free_port,
    py_spy,
    run_import,
    seconds_between,
    start_gunicorn,
    start_worker,
    summarise_profile,
)

UNDO_RUN = text(
    "SELECT started_at, finished_at, status, summary FROM runs "
    "WHERE import_id = :import_id AND kind = 'undo' ORDER BY attempt DESC LIMIT 1"
)


def phase_seconds(result: dict, name: str) -> float:
    for phase, started, finished, _ in result["phases"]:
        if phase == name:
            return seconds_between(started, finished)
    raise SystemExit(f"no {name} phase in {result['phases']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="20,000 rows")
    parser.add_argument("--profile", action="store_true", help="py-spy the worker's undo")
    args = parser.parse_args()
    rows = 20_000 if args.quick else args.rows
    with bench_run("bench-undo") as bench:
        env, logs, resources, procs = bench.env, bench.logs, bench.resources, bench.procs
        worker = start_worker(env, logs / "worker.log")
        procs.append(worker)
        issued = resources.services.api_keys.create(f"bench-undo-{bench.run}")
        ctx = {"env": env, "worker": worker, "logs": logs, "procs": procs}
        ctx["new_key"] = lambda _: issued.key
        path = csv_file(rows)
        first = run_import(ctx, rows, path, load_seconds=0, profile=False)
        second = run_import(ctx, rows, path, load_seconds=0, profile=False)
        for result in (first, second):
            if result.get("status") != "completed":
                raise SystemExit(f"the import ended {result.get('status')}")
        port = free_port()
        gunicorn = start_gunicorn(env, port, logs / "gunicorn_undo.log")
        procs.append(gunicorn)
        headers = {"Authorization": f"Bearer {issued.key}"}
        import_id = second["import_id"]
        spy = None
        if args.profile:
            spy = py_spy(worker.pid, logs / "profile_undo.txt")
            procs.append(spy)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60
        ) as client:
            answer = client.post(f"/api/v1/imports/{import_id}/undo")
            if answer.status_code != 202:
                raise SystemExit(f"undo answered {answer.status_code}: {answer.text[:500]}")
            while (status := client.get(f"/api/v1/imports/{import_id}").json()["status"]) in (
                "undoing",
            ):
                time.sleep(0.25)
        if spy is not None:
            spy.stop(signal.SIGINT, timeout=60)
            summarise_profile(logs / "profile_undo.txt")
        if status != "undone":
            raise SystemExit(f"the undo ended {status}")
        with resources.engine.connect() as conn:
            started, finished, _, summary = conn.execute(UNDO_RUN, {"import_id": import_id}).one()
        undo_s = (finished - started).total_seconds()
        inventory_s = phase_seconds(second, "asset_inventory")
        print(f"\nundo of a {rows:,}-row import that touched every asset of the account")
        print(f"{'figure (s)':34} {'ours':>8} {'baseline':>9} {'ratio':>6}  goal")
        print(
            f"{'undo vs its asset_inventory phase':34} {undo_s:8.2f} {inventory_s:9.2f} "
            f"{undo_s / inventory_s:6.2f}  <= 1.0x"
        )
        print(f"undo summary: {summary}")
        print(f"logs: {logs}")


if __name__ == "__main__":
    main()
