"""field_mapping: go on only when the fields that identify or size an asset are mapped with trust.

The flow pauses for a person when a required field is unmapped, when a field that identifies or
sizes an asset (hostname, addresses, serial or UUID, memory, CPU, disks, OS) is mapped below the
confidence threshold, or when two columns' headers both name such a field and no person or
tool profile settled which one holds it. Once it goes on after a person's review, the rows are
validated again under the approved mappings, so that rows refused under a guess come back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from importer.canonical import get_schema
from importer.models import DataImport, ImportFieldMapping, MappingStatus
from importer.pipeline.chunks import ChunkPlanner
from importer.services.field_mappings import FieldMappingService
from importer.services.mapping_suggester import FieldMappingSuggester
from importer.services.step_runner import WorkContext
from importer.services.validation_service import ValidationService

# Fields whose wrong guess would put a wrong asset or wrong numbers into a migration plan.
SENSITIVE = frozenset(
    {
        "hostname",
        "fqdn",
        "ip_address",
        "serial_number",
        "uuid",
        "source_id",
        "memory_gb",
        "cpu_cores",
        "disk_gb",
        "os_name",
        "name",
    }
)
# How a mapping came about that settles a contest between columns.
SETTLED = frozenset({"profile", "learned", "manual"})


def needs_review(summary: dict[str, Any]) -> bool:
    return bool(summary["missing_required"] or summary["low_confidence"] or summary["contested"])


class FieldMappingPhase:
    def __init__(
        self, threshold: float, validation: ValidationService, planner: ChunkPlanner
    ) -> None:
        self._threshold = threshold
        self._validation = validation
        self._planner = planner

    def review(self, session: Session, data_import: DataImport) -> dict[str, Any]:
        """What stands in the way of going on: fields unmapped, weakly mapped or contested."""
        return self._review(data_import, FieldMappingService.stored(session, data_import))

    def _review(
        self, data_import: DataImport, mappings: list[ImportFieldMapping]
    ) -> dict[str, Any]:
        schema = get_schema(data_import.import_type)
        active = [m for m in mappings if m.status != MappingStatus.IGNORED and m.target_field]
        by_target: dict[str, list[ImportFieldMapping]] = {}
        for mapping in active:
            by_target.setdefault(mapping.target_field, []).append(mapping)
        missing = [f for f in schema.required_fields if f not in by_target]
        # A group of which each row needs one field (a connection's source host or IP) needs one
        # of them mapped.
        missing.extend(
            " or ".join(group)
            for group in schema.required_one_of
            if not any(field in by_target for field in group)
        )
        checked = set(schema.required_fields) | (SENSITIVE & {f.name for f in schema.fields})
        weak = [
            {
                "target_field": mapping.target_field,
                "source_column": mapping.source_column,
                "confidence": mapping.confidence,
            }
            for mapping in active
            if mapping.target_field in checked
            and mapping.status != MappingStatus.APPROVED
            and mapping.confidence < self._threshold
        ]
        contested = []
        claims = FieldMappingSuggester(schema).contested(data_import.columns)
        for field, columns in claims.items():
            holders = by_target.get(field, [])
            settled = any(
                m.status == MappingStatus.APPROVED or m.match_type in SETTLED for m in holders
            )
            if field in checked and holders and not settled:
                contested.append({"target_field": field, "source_columns": columns})
        return {
            "mapped": len(active),
            "unmapped": len(mappings) - len(active),
            "threshold": self._threshold,
            "profile": data_import.profile,
            "missing_required": missing,
            "low_confidence": weak,
            "contested": contested,
        }

    def run(self, ctx: WorkContext) -> dict[str, Any]:
        mappings = FieldMappingService.stored(ctx.session, ctx.data_import)
        summary = self._review(ctx.data_import, mappings)
        if needs_review(summary):
            ctx.paused = "Mappings need approval: " + "; ".join(
                [f"{f} is unmapped" for f in summary["missing_required"]]
                + [
                    f"{w['target_field']} ← {w['source_column']!r} "
                    f"({w['confidence']:.2f} < {self._threshold})"
                    for w in summary["low_confidence"]
                ]
                + [
                    f"{c['target_field']} is named by {', '.join(map(repr, c['source_columns']))}"
                    for c in summary["contested"]
                ]
            )
        elif any(m.status != MappingStatus.SUGGESTED for m in mappings):
            self._planner.run_inline(ctx, self._validation)
            summary["revalidated"] = True
        ctx.checkpoint(1, 1)
        return summary
