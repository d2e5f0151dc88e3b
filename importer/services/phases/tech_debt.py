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

# The import's assets, by their (OS family, version): what the assessment is made of.
OS_PAIRS = text(
    """
    SELECT a.os_family, a.os_version, count(*) FROM assets a
    WHERE a.client_account_id = :account
      AND a.id IN (SELECT asset_id FROM asset_sources WHERE import_id = :import_id)
    GROUP BY a.os_family, a.os_version
    """
)
# The assets described by one range of the import's rows, against the verdict on each (family,
# version) pair of the import, None included. An asset of several rows may come twice, and the
# second time finds nothing to change; only assets whose flags change are written.
APPLY = text(
    """
    UPDATE assets a
    SET eos_severity = v.severity, end_of_support = v.eos, eos_source = v.source
    FROM asset_sources s, unnest(
        CAST(:families AS text[]), CAST(:versions AS text[]), CAST(:severities AS text[]),
        CAST(:dates AS date[]), CAST(:sources AS text[])
    ) AS v (family, version, severity, eos, source)
    WHERE a.client_account_id = :account AND a.id = s.asset_id
      AND s.import_id = :import_id AND s.row_number > :after AND s.row_number <= :upto
      AND a.os_family IS NOT DISTINCT FROM v.family AND a.os_version IS NOT DISTINCT FROM v.version
      AND (a.eos_severity, a.end_of_support, a.eos_source)
          IS DISTINCT FROM (v.severity, v.eos, v.source)
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
        verdicts = []
        for family, version, count in pairs:
            status = table.assess(family, version, today)
            severities[status.severity] += count
            if status.severity in ("critical", "high", "medium"):
                by_os[f"{family} {version}"] += count
            verdicts.append((family, version, status))
        verdict_params = {
            "families": [f for f, _, _ in verdicts],
            "versions": [v for _, v, _ in verdicts],
            "severities": [s.severity for _, _, s in verdicts],
            "dates": [s.end_of_support for _, _, s in verdicts],
            "sources": [s.source for _, _, s in verdicts],
        }
        last = session.scalar(LAST_ROW, params) or 0
        # Row ranges rather than one statement: a cancel is honoured between them.
        for after in range(0, last, self._chunk_size):
            upto = after + self._chunk_size
            session.execute(APPLY, {**params, **verdict_params, "after": after, "upto": upto})
            ctx.checkpoint(min(upto, last), last)
        return {
            "assessed_on": today.isoformat(),
            "by_severity": dict(severities),
            "flagged_by_os": dict(by_os.most_common()),
        }
