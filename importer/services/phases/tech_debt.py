"""tech_debt_assessment: flag assets whose OS is past, or near, its end of support.

Few distinct (OS family, version) pairs recur over millions of assets: each pair is assessed
once in Python and PostgreSQL applies the verdicts by a join, writing only the assets whose flags
change.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import text

from importer.discovery.end_of_support import EndOfSupportTable
from importer.services.step_runner import WorkContext
from importer.services.table_statistics import TableStatistics

# The import's assets, each once, from its own rows: one primary-key probe an asset (LATERAL with
# OFFSET 0 keeps it a probe). As "account's assets WHERE id IN (the import's sources)", with
# statistics taken before a new account's import, PostgreSQL drove a semi join from the account's
# assets and scanned all of the import's sources for each (60k rows: still running after 569 s).
IMPORT_ASSETS = """
    (SELECT DISTINCT asset_id FROM asset_sources WHERE import_id = :import_id {range}) s
    CROSS JOIN LATERAL (
        SELECT id, client_account_id, os_family, os_version, eos_severity, end_of_support,
            eos_source
        FROM assets WHERE id = s.asset_id OFFSET 0
    ) a
"""
# The account is checked outside the probe (OFFSET 0 keeps it out): inside, any index starting
# with the account costs as little as the primary key to a planner that thinks the new account
# has one asset, and such a probe reads all of the account's assets (20k rows after 200k of
# another account's: 27.7 s).
OF_ACCOUNT = "WHERE a.client_account_id = :account"
OS_PAIRS = text(
    f"SELECT a.os_family, a.os_version, count(*) FROM {IMPORT_ASSETS.format(range='')} "
    f"{OF_ACCOUNT} GROUP BY a.os_family, a.os_version"
)
# One range's assets with their flags as they are. An asset of several rows may come in several
# ranges, and the second time finds nothing to change.
RANGE_ASSETS = text(
    "SELECT a.id, a.os_family, a.os_version, a.eos_severity, a.end_of_support, a.eos_source "
    "FROM "
    + IMPORT_ASSETS.format(range="AND row_number > :after AND row_number <= :upto")
    + OF_ACCOUNT
)
# Only the assets whose flags change, by their ids: as many look-ups as the array has ids.
APPLY = text(
    """
    UPDATE assets a
    SET eos_severity = v.severity, end_of_support = v.eos, eos_source = v.source
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:severities AS text[]), CAST(:dates AS date[]),
        CAST(:sources AS text[])
    ) AS v (id, severity, eos, source)
    WHERE a.id = v.id
    """
)
LAST_ROW = text("SELECT max(row_number) FROM asset_sources WHERE import_id = :import_id")


@cache
def end_of_support_table() -> EndOfSupportTable:
    return EndOfSupportTable.load()


class TechDebtPhase:
    def __init__(self, chunk_size: int, statistics: TableStatistics) -> None:
        self._chunk_size = chunk_size
        self._statistics = statistics

    def run(self, ctx: WorkContext) -> dict[str, Any]:
        session, data_import = ctx.session, ctx.data_import
        # A no-op when the dependency analysis has just refreshed them.
        for table in ("asset_sources", "assets"):
            self._statistics.refresh(table)
        table = end_of_support_table()
        today = datetime.now(UTC).date()
        params = {"account": data_import.client_account_id, "import_id": data_import.id}
        pairs = session.execute(OS_PAIRS, params).all()
        severities: Counter = Counter()
        by_os: Counter = Counter()
        verdicts = {}
        for family, version, count in pairs:
            status = verdicts[family, version] = table.assess(family, version, today)
            severities[status.severity] += count
            if status.severity in ("critical", "high", "medium"):
                by_os[f"{family} {version}"] += count
        last = session.scalar(LAST_ROW, params) or 0
        # Row ranges rather than one statement: a cancel is honoured between them.
        for after in range(0, last, self._chunk_size):
            upto = after + self._chunk_size
            rows = session.execute(RANGE_ASSETS, {**params, "after": after, "upto": upto})
            changes = []
            for asset_id, family, version, *flags in rows:
                # Another import of the account may have changed an OS since the pairs were read.
                status = verdicts.get((family, version)) or table.assess(family, version, today)
                if tuple(flags) != (status.severity, status.end_of_support, status.source):
                    changes.append((asset_id, status))
            if changes:
                session.execute(
                    APPLY,
                    {
                        "ids": [asset_id for asset_id, _ in changes],
                        "severities": [status.severity for _, status in changes],
                        "dates": [status.end_of_support for _, status in changes],
                        "sources": [status.source for _, status in changes],
                    },
                )
            ctx.checkpoint(min(upto, last), last)
        return {
            "assessed_on": today.isoformat(),
            "by_severity": dict(severities),
            "flagged_by_os": dict(by_os.most_common()),
        }
