"""ImportResponseBuilder: the API's answers, built as the models of web.schemas from the ORM rows.

Each method returns a model instance; the views answer ``jsonify(model.dump())`` (its
``model_dump(mode="json")``), and the dashboard reads the same dumps. The upload handler composes
it for the upload's answer.
"""

from __future__ import annotations

from typing import Any

from importer.models import (
    Asset,
    DataImport,
    DiscoveryFlow,
    FlowPhase,
    ImportFieldMapping,
    LearnedMapping,
    RawImportRecord,
    Run,
    ValidationIssue,
)
from importer.services.merge_review import MergeView
from importer.services.progress import ImportProgress
from web import schemas


class ImportResponseBuilder:
    def __init__(self, progress: ImportProgress) -> None:
        self._progress = progress

    def link(self, data_import: DataImport) -> schemas.Links:
        return schemas.Links(self=f"/api/v1/imports/{data_import.id}")

    def accepted(self, data_import: DataImport) -> schemas.ImportAccepted:
        return schemas.ImportAccepted(
            id=data_import.id,
            status=data_import.status,
            records_stored=data_import.records_stored,
            links=self.link(data_import),
        )

    @staticmethod
    def attributes(row: Any, model: type[schemas.Model], **given: Any) -> dict[str, Any]:
        """The row's attributes named as the model's fields, but for those ``given``."""
        return {
            name: given[name] if name in given else getattr(row, name)
            for name in model.model_fields
        }

    def summary(self, data_import: DataImport) -> schemas.ImportSummary:
        return schemas.ImportSummary.model_validate(
            self.attributes(data_import, schemas.ImportSummary, links=self.link(data_import))
        )

    def detail(
        self,
        data_import: DataImport,
        runs: list[Run],
        flow: DiscoveryFlow | None,
        live_progress: dict[str, int],
    ) -> schemas.ImportDetail:
        steps = [
            self.step(run, self._progress.step_progress(run, flow, live_progress)) for run in runs
        ]
        return schemas.ImportDetail.model_validate(
            self.attributes(
                data_import,
                schemas.ImportDetail,
                links=self.link(data_import),
                progress=self._progress.progress(data_import, runs, flow, live_progress),
                steps=steps,
                flow=None if flow is None else self.flow_brief(flow),
            )
        )

    def step(self, run: Run, step_progress: int) -> schemas.StepRun:
        return schemas.StepRun.model_validate(
            self.attributes(run, schemas.StepRun, progress=step_progress)
        )

    def flow_brief(self, flow: DiscoveryFlow) -> schemas.FlowBrief:
        return schemas.FlowBrief.model_validate(flow)

    def flow_detail(self, flow: DiscoveryFlow, phases: list[Run]) -> schemas.FlowDetail:
        by_phase = {run.name: run.summary or {} for run in phases}
        return schemas.FlowDetail.model_validate(
            self.attributes(
                flow,
                schemas.FlowDetail,
                phases=[self.phase(run) for run in phases],
                summary=schemas.FlowSummary(
                    mapping=by_phase.get(FlowPhase.FIELD_MAPPING),
                    cleansing=by_phase.get(FlowPhase.DATA_CLEANSING),
                    assets=by_phase.get(FlowPhase.ASSET_INVENTORY, {}).get("assets"),
                    merges_for_review=by_phase.get(FlowPhase.ASSET_INVENTORY, {}).get(
                        "merges_for_review"
                    ),
                    dependencies=by_phase.get(FlowPhase.DEPENDENCY_ANALYSIS),
                    end_of_support=by_phase.get(FlowPhase.TECH_DEBT_ASSESSMENT),
                ),
            )
        )

    def phase(self, run: Run) -> schemas.PhaseRun:
        return schemas.PhaseRun.model_validate(run)

    def end_of_support(self, asset: Asset) -> schemas.EndOfSupport:
        return schemas.EndOfSupport(
            severity=asset.eos_severity, date=asset.end_of_support, source=asset.eos_source
        )

    def asset(self, row: Asset) -> schemas.AssetSummary:
        return schemas.AssetSummary.model_validate(
            self.attributes(row, schemas.AssetSummary, end_of_support=self.end_of_support(row))
        )

    def asset_detail(self, found: dict[str, Any]) -> schemas.AssetDetail:
        """``found``: the asset, its dependencies both ways and its imports (InventoryQueries)."""
        row = found["asset"]
        return schemas.AssetDetail.model_validate(
            self.attributes(
                row,
                schemas.AssetDetail,
                end_of_support=self.end_of_support(row),
                fields=found["fields"],
                attributes=found["attributes"],
                depends_on=found["depends_on"],
                depended_on_by=found["depended_on_by"],
                imports=found["imports"],
            )
        )

    def merge(self, view: MergeView) -> schemas.Merge:
        return schemas.Merge.model_validate(
            self.attributes(
                view.merge,
                schemas.Merge,
                asset=None if view.asset is None else self.asset(view.asset),
                proposed_asset=None
                if view.proposed_asset is None
                else self.asset(view.proposed_asset),
            )
        )

    def record(self, row: RawImportRecord) -> schemas.RawRecord:
        return schemas.RawRecord(
            row_number=row.row_number, values=row.record, extra_values=row.extra_values
        )

    def issue(self, row: ValidationIssue) -> schemas.Issue:
        return schemas.Issue.model_validate(row)

    def learned(self, row: LearnedMapping) -> schemas.LearnedMapping:
        return schemas.LearnedMapping.model_validate(
            self.attributes(row, schemas.LearnedMapping, context=row.context or None)
        )

    def mapping(self, row: ImportFieldMapping) -> schemas.FieldMapping:
        return schemas.FieldMapping.model_validate(row)

    def mapping_list(
        self, data_import: DataImport, rows: list[ImportFieldMapping]
    ) -> schemas.MappingList:
        return schemas.MappingList(
            import_type=data_import.import_type,
            profile=data_import.profile,
            sheet=data_import.sheet,
            items=[self.mapping(row) for row in rows],
        )
