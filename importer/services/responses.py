"""ImportResponseBuilder: the JSON shapes the API answers with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from importer.models import (
    STEP_ORDER,
    Asset,
    DataImport,
    DiscoveryFlow,
    DiscoveryPhaseRun,
    FlowPhase,
    ImportFieldMapping,
    ImportStatus,
    ImportStepRun,
    LearnedMapping,
    Step,
    StepStatus,
    ValidationIssue,
)

# How much of the whole each step is worth in the import's progress.
STEP_WEIGHTS = {Step.VALIDATE: 40, Step.MAPPINGS: 10, Step.DISCOVERY: 50}


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class ImportResponseBuilder:
    def link(self, data_import: DataImport) -> str:
        return f"/api/v1/imports/{data_import.id}"

    def accepted(self, data_import: DataImport) -> dict[str, Any]:
        return {
            "id": str(data_import.id),
            "status": data_import.status,
            "records_stored": data_import.records_stored,
            "links": {"self": self.link(data_import)},
        }

    def summary(self, data_import: DataImport) -> dict[str, Any]:
        return {
            "id": str(data_import.id),
            "status": data_import.status,
            "filename": data_import.filename,
            "import_type": data_import.import_type,
            "engagement": data_import.engagement,
            "records_stored": data_import.records_stored,
            "valid_records": data_import.valid_records,
            "invalid_records": data_import.invalid_records,
            "error": data_import.error,
            "created_at": iso(data_import.created_at),
            "updated_at": iso(data_import.updated_at),
            "finished_at": iso(data_import.finished_at),
            "links": {"self": self.link(data_import)},
        }

    def detail(
        self,
        data_import: DataImport,
        runs: list[ImportStepRun],
        flow: DiscoveryFlow | None,
        live_progress: dict[str, int],
    ) -> dict[str, Any]:
        body = self.summary(data_import)
        body.update(
            {
                "format": data_import.format,
                "encoding": data_import.encoding,
                "delimiter": data_import.delimiter,
                "sheet": data_import.sheet,
                "profile": data_import.profile,
                "columns": data_import.columns,
                "progress": self.progress(data_import, runs, flow, live_progress),
                "steps": [
                    {**self.step(run), "progress": self.step_progress(run, flow, live_progress)}
                    for run in runs
                ],
                "flow": None if flow is None else self.flow(flow),
            }
        )
        return body

    def step(self, run: ImportStepRun) -> dict[str, Any]:
        return {
            "name": run.step,
            "status": run.status,
            "task_id": run.task_id,
            "attempt": run.attempt,
            "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
            "error": run.error,
        }

    def flow(self, flow: DiscoveryFlow) -> dict[str, Any]:
        return {
            "id": str(flow.id),
            "import_id": str(flow.import_id),
            "status": flow.status,
            "current_phase": flow.current_phase,
            "progress": flow.progress,
            "error": flow.error,
            "started_at": iso(flow.started_at),
            "finished_at": iso(flow.finished_at),
        }

    def flow_detail(self, flow: DiscoveryFlow, phases: list[DiscoveryPhaseRun]) -> dict[str, Any]:
        by_phase = {run.phase: run.summary or {} for run in phases}
        return {
            **self.flow(flow),
            "phases": [self.phase(run) for run in phases],
            "summary": {
                "mapping": by_phase.get(FlowPhase.FIELD_MAPPING),
                "cleansing": by_phase.get(FlowPhase.DATA_CLEANSING),
                "assets": by_phase.get(FlowPhase.ASSET_INVENTORY, {}).get("assets"),
                "dependencies": by_phase.get(FlowPhase.DEPENDENCY_ANALYSIS),
                "end_of_support": by_phase.get(FlowPhase.TECH_DEBT_ASSESSMENT),
            },
        }

    def phase(self, run: DiscoveryPhaseRun) -> dict[str, Any]:
        return {
            "name": run.phase,
            "status": run.status,
            "progress": run.progress,
            "task_id": run.task_id,
            "attempt": run.attempt,
            "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
            "error": run.error,
        }

    def asset(self, asset: Asset) -> dict[str, Any]:
        return {
            "id": str(asset.id),
            "name": asset.name,
            "asset_type": asset.asset_type,
            "hostname_key": asset.hostname_key,
            "serial_number": asset.serial_number,
            "primary_ip": asset.primary_ip,
            "uuid": asset.uuid,
            "source_id": asset.source_id,
            "os_family": asset.os_family,
            "os_name": asset.os_name,
            "os_version": asset.os_version,
            "environment": asset.environment,
            "cpu_cores": asset.cpu_cores,
            "memory_gb": asset.memory_gb,
            "is_virtual": asset.is_virtual,
            "end_of_support": {
                "severity": asset.eos_severity,
                "date": None if asset.end_of_support is None else asset.end_of_support.isoformat(),
                "source": asset.eos_source,
            },
            "first_import_id": None
            if asset.first_import_id is None
            else str(asset.first_import_id),
            "last_import_id": None if asset.last_import_id is None else str(asset.last_import_id),
            "created_at": iso(asset.created_at),
            "updated_at": iso(asset.updated_at),
        }

    @staticmethod
    def shows_live_progress(runs: list[ImportStepRun]) -> bool:
        """Whether step_progress reads Redis's chunk progress for any of these runs."""
        return any(run.status == StepStatus.RUNNING and run.step != Step.DISCOVERY for run in runs)

    @staticmethod
    def step_progress(
        run: ImportStepRun, flow: DiscoveryFlow | None, live_progress: dict[str, int]
    ) -> int:
        """0–100 from PostgreSQL's state, refined by Redis's chunk progress while running."""
        if run.status == StepStatus.SUCCEEDED:
            return 100
        if run.status != StepStatus.RUNNING:
            return 0
        if run.step == Step.DISCOVERY:
            return 0 if flow is None else flow.progress
        return live_progress.get(run.step, 0)

    def progress(
        self,
        data_import: DataImport,
        runs: list[ImportStepRun],
        flow: DiscoveryFlow | None,
        live_progress: dict[str, int],
    ) -> int:
        if data_import.status == ImportStatus.COMPLETED:
            return 100
        latest = {Step(run.step): run for run in runs}
        total = sum(
            STEP_WEIGHTS[step] * self.step_progress(latest[step], flow, live_progress) / 100
            for step in STEP_ORDER
            if step in latest
        )
        return min(99, int(total))

    def issue(self, issue: ValidationIssue) -> dict[str, Any]:
        return {
            "row_number": issue.row_number,
            "code": issue.code,
            "field": issue.field,
            "message": issue.message,
            "severity": issue.severity,
        }

    def learned(self, row: LearnedMapping) -> dict[str, Any]:
        return {
            "id": row.id,
            "import_type": row.import_type,
            "context": row.context or None,
            "header": row.header,
            "target_field": row.target_field,
            "ignored": row.ignored,
            "updated_at": iso(row.updated_at),
        }

    def mapping(self, mapping: ImportFieldMapping) -> dict[str, Any]:
        return {
            "source_column": mapping.source_column,
            "target_field": mapping.target_field,
            "confidence": mapping.confidence,
            "match_type": mapping.match_type,
            "unit": mapping.unit,
            "unit_column": mapping.unit_column,
            "status": mapping.status,
        }
