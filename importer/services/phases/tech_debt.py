"""tech_debt_assessment: flag assets whose OS is past, or near, its end of support."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import select, update

from importer.discovery.end_of_support import EndOfSupportTable
from importer.models import Asset, AssetSource
from importer.services.step_runner import WorkContext


@cache
def end_of_support_table() -> EndOfSupportTable:
    return EndOfSupportTable.load()


class TechDebtPhase:
    def __init__(self, chunk_size: int) -> None:
        self._chunk_size = chunk_size

    def run(self, ctx: WorkContext) -> dict[str, Any]:
        session, data_import = ctx.session, ctx.data_import
        table = end_of_support_table()
        today = datetime.now(UTC).date()
        assets = session.execute(
            select(Asset.id, Asset.os_family, Asset.os_version)
            .where(
                Asset.client_account_id == data_import.client_account_id,
                Asset.id.in_(
                    select(AssetSource.asset_id).where(AssetSource.import_id == data_import.id)
                ),
            )
            .order_by(Asset.id)
        ).all()
        severities: Counter = Counter()
        by_os: Counter = Counter()
        for start in range(0, len(assets), self._chunk_size):
            changes = []
            for asset_id, family, version in assets[start : start + self._chunk_size]:
                status = table.assess(family, version, today)
                severities[status.severity] += 1
                if status.severity in ("critical", "high", "medium"):
                    by_os[f"{family} {version}"] += 1
                changes.append(
                    {
                        "id": asset_id,
                        "eos_severity": status.severity,
                        "end_of_support": status.end_of_support,
                        "eos_source": status.source,
                    }
                )
            session.execute(update(Asset), changes)
            ctx.checkpoint(start + len(changes), len(assets))
        return {
            "assessed_on": today.isoformat(),
            "by_severity": dict(severities),
            "flagged_by_os": dict(by_os.most_common()),
        }
