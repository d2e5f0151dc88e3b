"""field_mapping: go on only when every required field has a trustworthy mapping."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from importer.canonical import get_schema
from importer.models import DataImport, ImportFieldMapping, MappingStatus
from importer.services.step_runner import WorkContext


class FieldMappingPhase:
    def __init__(self, threshold: float) -> None:
        self._threshold = threshold

    def review(self, session: Session, data_import: DataImport) -> dict[str, Any]:
        """What stands in the way of going on: required fields unmapped or weakly mapped."""
        mappings = session.scalars(
            select(ImportFieldMapping).where(
                ImportFieldMapping.import_id == data_import.id,
                ImportFieldMapping.client_account_id == data_import.client_account_id,
            )
        ).all()
        active = [m for m in mappings if m.status != MappingStatus.IGNORED and m.target_field]
        by_target = {m.target_field: m for m in active}
        missing, weak = [], []
        schema = get_schema(data_import.import_type)
        # A group of which each row needs one field (a connection's source host or IP) needs one
        # of them mapped.
        missing.extend(
            " or ".join(group)
            for group in schema.required_one_of
            if not any(field in by_target for field in group)
        )
        for field in schema.required_fields:
            mapping = by_target.get(field)
            if mapping is None:
                missing.append(field)
            elif mapping.status != MappingStatus.APPROVED and mapping.confidence < self._threshold:
                weak.append(
                    {
                        "target_field": field,
                        "source_column": mapping.source_column,
                        "confidence": mapping.confidence,
                    }
                )
        return {
            "mapped": len(active),
            "unmapped": len(mappings) - len(active),
            "threshold": self._threshold,
            "missing_required": missing,
            "low_confidence": weak,
        }

    def run(self, ctx: WorkContext) -> dict[str, Any]:
        summary = self.review(ctx.session, ctx.data_import)
        if summary["missing_required"] or summary["low_confidence"]:
            ctx.paused = "Mappings need approval: " + ", ".join(
                [f"{f} is unmapped" for f in summary["missing_required"]]
                + [
                    f"{w['target_field']} ← {w['source_column']!r} "
                    f"({w['confidence']:.2f} < {self._threshold})"
                    for w in summary["low_confidence"]
                ]
            )
        ctx.checkpoint(1, 1)
        return summary
