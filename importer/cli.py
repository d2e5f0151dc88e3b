"""The ``importer`` command: database administration, and the REST API from a terminal."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from importer.client import ApiClient, ApiError
from importer.config import Settings

FINAL = {"completed", "failed", "cancelled"}
err = Console(stderr=True)


@click.group()
def main() -> None:
    """importer: upload infrastructure exports and follow them to a discovery inventory."""
    from importer.logging_setup import configure_logging

    configure_logging()


@main.command()
def preflight() -> None:
    """Check that PostgreSQL and Redis answer; one line naming the fix when one does not."""
    from importer.preflight import unreachable_services

    problems = unreachable_services(Settings())
    for problem in problems:
        click.echo(f"{problem} Fix: docker compose up -d postgres redis", err=True)
    if problems:
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option(
    "--worker-timeout", default=2.0, show_default=True, help="Seconds to wait for workers."
)
def doctor(as_json: bool, worker_timeout: float) -> None:
    """Check PostgreSQL and its migrations, Redis, the broker, the workers; exit 1 on a failure."""
    from importer.doctor import run_checks

    checks = run_checks(Settings(), worker_timeout=worker_timeout)
    healthy = all(check.ok for check in checks)
    if as_json:
        click.echo(json.dumps({"ok": healthy, "checks": [c.as_dict() for c in checks]}, indent=2))
    else:
        table = Table(title="importer doctor")
        for column in ("check", "status", "detail", "fix"):
            table.add_column(column, overflow="fold")
        for check in checks:
            status = "[green]ok[/green]" if check.ok else "[red]FAIL[/red]"
            table.add_row(check.name, status, check.detail, check.fix)
        Console().print(table)
    if not healthy:
        sys.exit(1)


@main.group()
def db() -> None:
    """Database administration."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create the database if it is missing and run the Alembic migrations."""
    from importer import migrate

    url = Settings().database_url
    if migrate.create_database_if_missing(url):
        err.print("created the database")
    migrate.upgrade(url)
    err.print(f"database at revision {migrate.head_revision(url)}")


def api_key_service():
    from importer.resources import Resources
    from importer.services.api_keys import ApiKeyService
    from importer.services.transactions import ImportTransactionManager

    resources = Resources(Settings())
    return ApiKeyService(ImportTransactionManager(resources.session_factory))


@main.command("create-api-key")
@click.argument("account")
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None)
def create_api_key(account: str, expires_in_days: int | None) -> None:
    """Create an API key for ACCOUNT (created if needed); the key alone is printed on stdout."""
    expires_at = None
    if expires_in_days is not None:
        expires_at = datetime.now(UTC) + timedelta(days=expires_in_days)
    click.echo(api_key_service().create(account, expires_at).key)


@main.command("revoke-api-key")
@click.argument("key")
def revoke_api_key(key: str) -> None:
    """Revoke KEY: requests with it get 401 from now on."""
    if not api_key_service().revoke(key):
        err.print("no such key, or revoked already")
        sys.exit(1)
    err.print("revoked")


def api_options(command):
    command = click.option("--url", envvar="IMPORTER_API_URL", default=None, help="API base URL")(
        command
    )
    return click.option("--api-key", envvar="IMPORTER_API_KEY", default=None, help="API key")(
        command
    )


def make_client(url: str | None, api_key: str | None) -> ApiClient:
    settings = Settings()
    key = api_key or settings.api_key
    if not key:
        raise click.UsageError("an API key is needed: --api-key or IMPORTER_API_KEY")
    return ApiClient(url or settings.api_url, key)


def fail_on_api_error(func):
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ApiError as exc:
            err.print(f"[red]error[/red] {exc.status} {exc.code}: {exc.message}")
            if exc.details:
                err.print(json.dumps(exc.details, indent=2))
            sys.exit(2)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def status_table(body: dict) -> Table:
    table = Table(title=f"import {body['id']}")
    table.add_column("field")
    table.add_column("value")
    for name in (
        "status",
        "filename",
        "import_type",
        "engagement",
        "records_stored",
        "valid_records",
        "invalid_records",
        "progress",
        "error",
    ):
        table.add_row(name, "" if body.get(name) is None else str(body.get(name)))
    flow = body.get("flow")
    if flow:
        # A flow has a current phase only while it runs one.
        phase = flow.get("current_phase")
        table.add_row("flow", f"{flow['status']} ({phase})" if phase else flow["status"])
    for step in body.get("steps", []):
        table.add_row(
            f"step {step['name']} #{step['attempt']}",
            f"{step['status']} {step.get('error') or ''}".strip(),
        )
    return table


def follow(client: ApiClient, import_id: str, interval: float = 0.5) -> dict:
    """Live bars per step and per discovery phase until the import ends or waits for a person;
    returns its last state."""
    bars: dict[str, int] = {}

    def show(key: str, percent: int, status: str) -> None:
        if key not in bars:
            bars[key] = progress.add_task(key, total=100, status=status)
        progress.update(bars[key], completed=percent, status=status)

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[status]}"),
        console=err,
    ) as progress:
        while True:
            body = client.get(import_id)
            for step in body["steps"]:
                show(f"{step['name']} #{step['attempt']}", step.get("progress", 0), step["status"])
            if body.get("flow"):
                for phase in client.flow(body["flow"]["id"])["phases"]:
                    show(f"  {phase['name']}", phase["progress"], phase["status"])
            if body["status"] in FINAL or body["status"] == "waiting_for_approval":
                return body
            time.sleep(interval)


def summary_table(client: ApiClient, body: dict) -> Table:
    table = status_table(body)
    if body.get("flow"):
        summary = client.flow(body["flow"]["id"])["summary"]
        assets = summary.get("assets") or {}
        for outcome in ("created", "updated", "unchanged"):
            counts = assets.get(outcome) or {}
            if counts:
                table.add_row(f"assets {outcome}", ", ".join(f"{n} {t}" for t, n in counts.items()))
        eos = (summary.get("end_of_support") or {}).get("by_severity") or {}
        if eos:
            table.add_row("end of support", ", ".join(f"{n} {s}" for s, n in eos.items()))
    return table


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON array on stdout.")
def profiles(as_json: bool) -> None:
    """The discovery tools' export layouts that are recognised by their header."""
    from importer.discovery.profiles import profiles as known_profiles

    rows = [
        {
            "id": p.id,
            "tool": p.tool,
            "layout": p.layout,
            "import_type": p.import_type,
            "sheet": p.sheet,
            "columns": len(p.columns),
            "sources": list(p.sources),
        }
        for p in known_profiles()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="tool profiles")
    for name in ("id", "tool", "layout", "import type", "sheet", "columns", "documentation"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            row["id"],
            row["tool"],
            row["layout"],
            row["import_type"],
            row["sheet"] or "-",
            str(row["columns"]),
            row["sources"][0],
        )
    Console().print(table)


@main.command("sample-export")
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--rows", default=10_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
def sample_export(out: Path, rows: int, seed: int) -> None:
    """Write a messy CMDB export (bad IPs, blank hostnames, duplicates, multi-line cells)."""
    from importer.sample_export import write_messy_csv

    with out.open("w", encoding="utf-8", newline="") as handle:
        stats = write_messy_csv(handle, rows, seed)
    err.print(f"{stats.rows} rows, {stats.invalid_rows} with a defect: {dict(stats.issues)}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--type", "import_type", default="servers", show_default=True)
@click.option("--engagement", default="default", show_default=True)
@click.option("--wait", is_flag=True, help="Follow the import until it ends.")
@api_options
@fail_on_api_error
def upload(file: Path, import_type: str, engagement: str, wait: bool, url, api_key) -> None:
    """Upload FILE; prints the import id on stdout."""
    client = make_client(url, api_key)
    accepted = client.upload(file, import_type, engagement)
    click.echo(accepted["id"])
    err.print(f"stored {accepted['records_stored']} records")
    if not wait:
        return
    final = follow(client, accepted["id"])
    err.print(summary_table(client, final))
    if final["status"] == "waiting_for_approval":
        err.print(f"mappings need approval: importer mappings {accepted['id']}")
    if final["status"] != "completed":
        sys.exit(1)


@main.command()
@click.argument("import_id")
@click.option("--json", "as_json", is_flag=True)
@api_options
@fail_on_api_error
def status(import_id: str, as_json: bool, url, api_key) -> None:
    """Show an import's status and steps."""
    body = make_client(url, api_key).get(import_id)
    if as_json:
        click.echo(json.dumps(body, indent=2))
    else:
        Console().print(status_table(body))


@main.command("list")
@click.option("--status", "status_filter", default=None)
@click.option("--json", "as_json", is_flag=True)
@api_options
@fail_on_api_error
def list_imports(status_filter: str | None, as_json: bool, url, api_key) -> None:
    """List recent imports."""
    body = make_client(url, api_key).list(status_filter)
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    table = Table()
    for name in ("id", "status", "filename", "records_stored", "created_at"):
        table.add_column(name)
    for item in body["items"]:
        table.add_row(
            *(
                str(item.get(n) or "")
                for n in ("id", "status", "filename", "records_stored", "created_at")
            )
        )
    Console().print(table)


@main.command()
@click.argument("import_id")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@api_options
@fail_on_api_error
def errors(import_id: str, limit: int, as_json: bool, url, api_key) -> None:
    """The rows with validation issues, errors first."""
    body = make_client(url, api_key).errors(import_id, limit)
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    table = Table(title=f"{body['invalid_records']} invalid of import {import_id}")
    for name in ("row", "severity", "code", "field", "message"):
        table.add_column(name, overflow="fold")
    ordered = sorted(body["items"], key=lambda i: (i["severity"] != "error", i["row_number"]))
    for issue in ordered:
        table.add_row(
            str(issue["row_number"]),
            issue["severity"],
            issue["code"],
            issue["field"] or "",
            issue["message"],
        )
    Console().print(table)


@main.command()
@click.argument("import_id")
@click.option(
    "--approve",
    "approvals",
    multiple=True,
    metavar="COLUMN[=FIELD]",
    help="Approve a column's mapping, or map it to FIELD.",
)
@click.option("--ignore", "ignored", multiple=True, metavar="COLUMN")
@click.option("--resume", is_flag=True, help="Then resume the paused discovery flow.")
@click.option("--json", "as_json", is_flag=True)
@api_options
@fail_on_api_error
def mappings(import_id, approvals, ignored, resume, as_json, url, api_key) -> None:
    """Show an import's mappings; approve, retarget or ignore columns."""
    client = make_client(url, api_key)
    changes = [
        {
            "source_column": column,
            "status": "approved",
            **({"target_field": field} if field else {}),
        }
        for column, _, field in (a.partition("=") for a in approvals)
    ] + [{"source_column": column, "status": "ignored"} for column in ignored]
    body = client.put_mappings(import_id, changes) if changes else client.mappings(import_id)
    if resume:
        flow = client.get(import_id)["flow"]
        client.resume(flow["id"])
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    table = Table(title=f"mappings of import {import_id}")
    if body.get("profile"):
        table.caption = f"recognised as {body['profile']}"
    for name in ("source column", "target field", "unit", "confidence", "match", "status"):
        table.add_column(name)
    for m in body["items"]:
        table.add_row(
            m["source_column"],
            m["target_field"] or "-",
            m.get("unit") or m.get("unit_column") or "-",
            f"{m['confidence']:.2f}",
            m["match_type"],
            m["status"],
        )
    Console().print(table)


@main.command()
@click.argument("import_id")
@api_options
@fail_on_api_error
def cancel(import_id: str, url, api_key) -> None:
    """Cancel an import: queued steps never start, a running one stops."""
    body = make_client(url, api_key).cancel(import_id)
    click.echo(body["status"])


@main.command()
@click.argument("import_id")
@click.option("--wait", is_flag=True)
@api_options
@fail_on_api_error
def retry(import_id: str, wait: bool, url, api_key) -> None:
    """Retry a failed or cancelled import from the step that did not succeed."""
    client = make_client(url, api_key)
    body = client.retry(import_id)
    click.echo(body["status"])
    if wait and follow(client, import_id)["status"] != "completed":
        sys.exit(1)


def wait_while_undoing(client: ApiClient, import_id: str, interval: float = 0.5) -> dict:
    body = client.get(import_id)
    while body["status"] == "undoing":
        time.sleep(interval)
        body = client.get(import_id)
    return body


@main.command()
@click.argument("import_id")
@click.option("--wait", is_flag=True, help="Wait until the undo is done.")
@api_options
@fail_on_api_error
def undo(import_id: str, wait: bool, url, api_key) -> None:
    """Take a completed import back out of the inventory (it can be committed again)."""
    client = make_client(url, api_key)
    body = client.undo(import_id)
    click.echo(body["status"])
    if wait:
        body = wait_while_undoing(client, import_id)
        click.echo(body["status"])
        if body["status"] != "undone":
            sys.exit(1)


@main.command()
@click.argument("import_id")
@click.option("--wait", is_flag=True)
@api_options
@fail_on_api_error
def commit(import_id: str, wait: bool, url, api_key) -> None:
    """Commit an undone import again: its inventory, dependencies and tech debt are rebuilt."""
    client = make_client(url, api_key)
    body = client.commit(import_id)
    click.echo(body["status"])
    if wait and follow(client, import_id)["status"] != "completed":
        sys.exit(1)
