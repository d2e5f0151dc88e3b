"""Read-side queries only the dashboard needs: a page of imports with their runs at once,
filtered issues, sample values and the inventory's counts. All scoped to one client account."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from importer.models import (
    Asset,
    DataImport,
    DiscoveryFlow,
    Run,
    RunKind,
    ValidationIssue,
)
from importer.models.asset import ACCOUNT_SCAN
from importer.services.field_mappings import first_records
from importer.services.import_queries import step_order

# Rows the sample values of each column come from, and how many are shown.
SAMPLE_ROWS = 50
SAMPLES_PER_COLUMN = 3
INVENTORY_DIMENSIONS = {
    "asset_type": Asset.asset_type,
    "os_family": Asset.os_family,
    "environment": Asset.environment,
    "end_of_support": Asset.eos_severity,
}


class DashboardQueries:
    def runs_and_flows(
        self, session: Session, imports: list[DataImport]
    ) -> tuple[dict[uuid.UUID, list[Run]], dict[uuid.UUID, DiscoveryFlow]]:
        """Each listed import's step runs and flow, in two queries rather than two per import."""
        if not imports:
            return {}, {}
        ids = [data_import.id for data_import in imports]
        account = imports[0].client_account_id
        runs: dict[uuid.UUID, list[Run]] = defaultdict(list)
        for run in session.scalars(
            select(Run).where(
                Run.import_id.in_(ids), Run.client_account_id == account, Run.kind == RunKind.STEP
            )
        ):
            runs[run.import_id].append(run)
        for found in runs.values():
            found.sort(key=step_order)
        flows = {
            flow.import_id: flow
            for flow in session.scalars(
                select(DiscoveryFlow).where(
                    DiscoveryFlow.import_id.in_(ids), DiscoveryFlow.client_account_id == account
                )
            )
        }
        return runs, flows

    def issue_codes(self, session: Session, data_import: DataImport) -> list[tuple[str, int]]:
        return [
            (code, count)
            for code, count in session.execute(
                select(ValidationIssue.code, func.count())
                .where(
                    ValidationIssue.import_id == data_import.id,
                    ValidationIssue.client_account_id == data_import.client_account_id,
                )
                .group_by(ValidationIssue.code)
                .order_by(ValidationIssue.code)
            )
        ]

    def issues(
        self,
        session: Session,
        data_import: DataImport,
        code: str | None,
        field: str | None,
        limit: int,
    ) -> tuple[list[ValidationIssue], int]:
        """The first ``limit`` issues with this code and a field containing ``field``, and how
        many match in all."""
        conditions = [
            ValidationIssue.import_id == data_import.id,
            ValidationIssue.client_account_id == data_import.client_account_id,
        ]
        if code:
            conditions.append(ValidationIssue.code == code)
        if field:
            escaped = field.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(ValidationIssue.field.ilike(f"%{escaped}%", escape="\\"))
        total = session.scalar(select(func.count()).select_from(ValidationIssue).where(*conditions))
        rows = session.scalars(
            select(ValidationIssue).where(*conditions).order_by(ValidationIssue.id).limit(limit)
        ).all()
        return list(rows), total or 0

    def samples(self, session: Session, data_import: DataImport) -> dict[str, list[str]]:
        """A few distinct non-blank values of each source column, from the first rows."""
        found: dict[str, list[str]] = defaultdict(list)
        records = first_records(session, data_import, SAMPLE_ROWS)
        for record in records:
            for column, value in (record or {}).items():
                text = "" if value is None else str(value).strip()
                values = found[column]
                if text and text not in values and len(values) < SAMPLES_PER_COLUMN:
                    values.append(text)
        return dict(found)

    def inventory_counts(
        self, session: Session, client_account_id: uuid.UUID
    ) -> dict[str, list[tuple[str, int]]]:
        """Assets by each dimension, largest first; no value counts as "unknown"."""
        counts = {}
        for name, column in INVENTORY_DIMENSIONS.items():
            label = func.coalesce(func.nullif(column, ""), "unknown")
            counts[name] = [
                (value, count)
                for value, count in session.execute(
                    select(label, func.count())
                    .where(Asset.client_account_id == client_account_id, text(ACCOUNT_SCAN))
                    .group_by(label)
                    .order_by(func.count().desc(), label)
                )
            ]
        return counts
