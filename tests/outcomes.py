"""What an import left in PostgreSQL, counted so that two imports of the same file compare.

An import of a file into a new account must leave the same counts however many other imports
ran beside it: the load test and bench/scale_out.py compare each import under load with the same
file imported alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from importer.models import (
    Asset,
    AssetDependency,
    AssetSource,
    CleanedRecord,
    DataImport,
    Run,
    RunKind,
    RunStatus,
    ValidationIssue,
)
from importer.resources import Resources

# The rows an import wrote, table by table.
PER_IMPORT = {
    "issues": ValidationIssue.import_id,
    "cleaned": CleanedRecord.import_id,
    "asset_sources": AssetSource.import_id,
    "dependencies": AssetDependency.import_id,
}


def import_outcome(resources: Resources, import_id: object) -> dict[str, Any]:
    """The import's status and counts, its account's assets by type, and each phase's summary."""
    with resources.session_factory() as session:
        data_import = session.get(DataImport, import_id)
        outcome: dict[str, Any] = {
            "status": data_import.status,
            "valid": data_import.valid_records,
            "invalid": data_import.invalid_records,
        }
        for name, column in PER_IMPORT.items():
            outcome[name] = session.scalar(
                select(func.count()).select_from(column.table).where(column == import_id)
            )
        outcome["resolved"] = session.scalar(
            select(func.count()).where(
                AssetDependency.import_id == import_id,
                AssetDependency.target_asset_id.is_not(None),
            )
        )
        outcome["assets"] = dict(
            session.execute(
                select(Asset.asset_type, func.count())
                .where(Asset.client_account_id == data_import.client_account_id)
                .group_by(Asset.asset_type)
                .order_by(Asset.asset_type)
            ).all()
        )
        outcome["phases"] = dict(
            session.execute(
                select(Run.name, Run.summary)
                .where(
                    Run.import_id == import_id,
                    Run.kind == RunKind.PHASE,
                    Run.status == RunStatus.SUCCEEDED,
                )
                .order_by(Run.name)
            ).all()
        )
    return outcome


def counts_line(outcome: dict[str, Any]) -> str:
    """The outcome's counts on one line (the phase summaries left out)."""
    assets = sum(outcome["assets"].values())
    return (
        f"{outcome['status']:<10} valid {outcome['valid']} invalid {outcome['invalid']} "
        f"cleaned {outcome['cleaned']} assets {assets} sources {outcome['asset_sources']} "
        f"dependencies {outcome['dependencies']} ({outcome['resolved']} resolved)"
    )
