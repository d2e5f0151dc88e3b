"""tech_debt_assessment: flag assets whose OS is past, or near, its end of support.

Few distinct (OS family, version) pairs recur over millions of assets: each pair is assessed
once a range in Python and PostgreSQL applies the verdicts by a join, writing only the assets
whose flags change.

In chunks (importer.pipeline.chunks.ChunkedWork): the plan is the date assessed on; each range's
assets get their flags, the flags each overwrites kept aside (importer.services.displaced) for a
discard to put back, and its assets counted by OS, each in the range of its first row; the finish
adds the counts up by severity.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from importer.discovery.end_of_support import EndOfSupportTable
from importer.models import DataImport, FlowPhase
from importer.services.displaced import Displaced
from importer.services.step_runner import WorkContext

PHASE = FlowPhase.TECH_DEBT_ASSESSMENT
FLAGS = ("eos_severity", "end_of_support", "eos_source")

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
# One range's assets with their flags as they are. An asset of several rows may come in several
# ranges, and the second time finds nothing to change.
RANGE_ASSETS = text(
    "SELECT a.id, a.os_family, a.os_version, a.eos_severity, a.end_of_support, a.eos_source "
    "FROM "
    + IMPORT_ASSETS.format(range="AND row_number > :after AND row_number <= :upto")
    + OF_ACCOUNT
)
# Those of the range's assets that an earlier row of the import describes: the summary counts each
# asset in the range of its first row. One probe of the asset's rows by the asset index; the
# import and bound are checked outside it (OFFSET 0), or the primary key's range "the import's
# rows up to here" looks as cheap to a planner whose statistics predate the import, and is every
# earlier row of the import for each asset.
SEEN_BEFORE = text(
    """
    SELECT DISTINCT s.asset_id::text FROM unnest(CAST(:ids AS uuid[])) AS a (id)
    CROSS JOIN LATERAL (
        SELECT asset_id, import_id, row_number FROM asset_sources WHERE asset_id = a.id OFFSET 0
    ) s
    WHERE s.import_id = :import_id AND s.row_number <= :after
    """
)
# The flags about to change, read again under a lock of each asset, in the order of their ids (two
# chunks sharing assets take their locks in one order): what is overwritten is what was there.
LOCKED_FLAGS = text(
    """
    SELECT a.id::text, a.eos_severity, a.end_of_support, a.eos_source
    FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS s (id, n)
    CROSS JOIN LATERAL (
        SELECT id, eos_severity, end_of_support, eos_source FROM assets
        WHERE id = s.id OFFSET 0 FOR UPDATE
    ) a
    ORDER BY s.n
    """
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
    """The phase's work, in chunks (see the module's docstring)."""

    def plan(self, session: Session, data_import: DataImport) -> tuple[int, dict[str, Any]]:
        last = session.scalar(LAST_ROW, {"import_id": data_import.id}) or 0
        # One date for every range, whenever each runs.
        return last, {"assessed_on": datetime.now(UTC).date().isoformat()}

    def chunk(
        self, session: Session, data_import: DataImport, plan: dict[str, Any], after: int, upto: int
    ) -> dict[str, Any]:
        table, today = end_of_support_table(), date.fromisoformat(plan["assessed_on"])
        params = {
            "account": data_import.client_account_id,
            "import_id": data_import.id,
            "after": after,
            "upto": upto,
        }
        verdicts: dict[str, Any] = {}
        os_of = {}
        assessed = {}
        for asset_id, family, version, *flags in session.execute(RANGE_ASSETS, params):
            asset_id = str(asset_id)
            os_of[asset_id] = (family, version)
            if (family, version) not in assessed:
                assessed[family, version] = table.assess(family, version, today)
            status = assessed[family, version]
            if tuple(flags) != (status.severity, status.end_of_support, status.source):
                verdicts[asset_id] = status
        if after and os_of:
            for asset_id in session.scalars(SEEN_BEFORE, {**params, "ids": sorted(os_of)}):
                del os_of[asset_id]
        changes = self._apply(session, data_import, verdicts)
        # The (OS family, version) of each asset whose first row is the range's, counted.
        pairs = Counter(os_of.values())
        return {"changed": changes, "os": [[*pair, count] for pair, count in pairs.items()]}

    @staticmethod
    def _apply(session: Session, data_import: DataImport, verdicts: dict[str, Any]) -> int:
        """The verdicts written, and the flags they overwrite kept; how many assets changed."""
        if not verdicts:
            return 0
        old, changes = [], []
        # Another range of the import may have just given an asset of both its flags.
        for asset_id, *flags in session.execute(LOCKED_FLAGS, {"ids": sorted(verdicts)}):
            status = verdicts[asset_id]
            if tuple(flags) != (status.severity, status.end_of_support, status.source):
                old.append({"id": asset_id, **dict(zip(FLAGS, flags, strict=True))})
                changes.append((asset_id, status))
        Displaced(session, data_import.id, PHASE).overwriting("assets", old)
        if changes:
            session.execute(APPLY, flag_values(changes))
        return len(changes)

    def finish(self, ctx: WorkContext, plan: dict[str, Any], summaries: list[dict]) -> dict:
        table, today = end_of_support_table(), date.fromisoformat(plan["assessed_on"])
        pairs: Counter = Counter()
        for summary in summaries:
            for family, version, count in summary["os"]:
                pairs[family, version] += count
        severities: Counter = Counter()
        by_os: Counter = Counter()
        for (family, version), count in pairs.items():
            status = table.assess(family, version, today)
            severities[status.severity] += count
            if status.severity in ("critical", "high", "medium"):
                by_os[f"{family} {version}"] += count
        Displaced(ctx.session, ctx.data_import.id, PHASE).forget()
        return {
            "assessed_on": today.isoformat(),
            "by_severity": dict(severities),
            "flagged_by_os": dict(by_os.most_common()),
        }

    def discard(self, session: Session, data_import: DataImport) -> None:
        displaced = Displaced(session, data_import.id, PHASE)
        old = displaced.overwritten("assets")
        if old:
            session.execute(
                APPLY,
                {
                    "ids": [row["id"] for row in old],
                    "severities": [row["eos_severity"] for row in old],
                    "dates": [row["end_of_support"] for row in old],
                    "sources": [row["eos_source"] for row in old],
                },
            )
        displaced.forget()


def flag_values(changes: list[tuple[str, Any]]) -> dict[str, list]:
    return {
        "ids": [asset_id for asset_id, _ in changes],
        "severities": [status.severity for _, status in changes],
        "dates": [status.end_of_support for _, status in changes],
        "sources": [status.source for _, status in changes],
    }
