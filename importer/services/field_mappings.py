"""FieldMappingService: a canonical target for every source column, suggested, learned or edited.

Suggestions come, in order of trust, from what the client account approved before (`learned`),
the header (`exact`, `synonym`, `fuzzy`), and the column's values (`value`: mostly IP addresses
is an IP column whatever its header says).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from importer.canonical import get_schema
from importer.discovery.value_detection import detect_field
from importer.errors import Conflict, InvalidUpload
from importer.models import (
    DataImport,
    ImportFieldMapping,
    ImportStatus,
    LearnedMapping,
    MappingStatus,
    RawImportRecord,
)
from importer.services.mapping_suggester import (
    FieldMappingSuggester,
    MappingSuggestion,
    normalise_header,
)

# Enough rows to judge a column by its values, few enough to read at once.
SAMPLE_ROWS = 200


@dataclass(frozen=True)
class MappingChange:
    source_column: str
    target_field: str | None
    status: MappingStatus


# While a step or phase reads the mappings, they stay as they are.
EDITABLE_MAPPING_STATUSES = frozenset(
    {
        ImportStatus.WAITING_FOR_APPROVAL,
        ImportStatus.COMPLETED,
        ImportStatus.FAILED,
        ImportStatus.CANCELLED,
    }
)


class FieldMappingService:
    def suggest(self, session: Session, data_import: DataImport) -> list[MappingSuggestion]:
        schema = get_schema(data_import.import_type)
        suggestions = FieldMappingSuggester(schema).suggest(data_import.columns)
        suggestions = self._by_values(session, data_import, suggestions)
        return self._learned(session, data_import, suggestions)

    def column_fields(self, session: Session, data_import: DataImport) -> dict[str, str]:
        """Source column → canonical field, for the columns the stored mappings use."""
        rows = session.execute(
            select(ImportFieldMapping.source_column, ImportFieldMapping.target_field).where(
                ImportFieldMapping.import_id == data_import.id,
                ImportFieldMapping.client_account_id == data_import.client_account_id,
                ImportFieldMapping.target_field.is_not(None),
                ImportFieldMapping.status != MappingStatus.IGNORED,
            )
        ).all()
        return {column: field for column, field in rows}

    def suggest_and_store(self, session: Session, data_import: DataImport) -> None:
        """Replace the import's mappings with fresh suggestions (idempotent on a re-run)."""
        session.execute(
            delete(ImportFieldMapping).where(
                ImportFieldMapping.import_id == data_import.id,
                ImportFieldMapping.client_account_id == data_import.client_account_id,
            )
        )
        session.add_all(
            ImportFieldMapping(
                import_id=data_import.id,
                client_account_id=data_import.client_account_id,
                position=position,
                source_column=suggestion.source_column,
                target_field=suggestion.target_field,
                confidence=suggestion.confidence,
                match_type=suggestion.match_type,
                status=MappingStatus.SUGGESTED,
            )
            for position, suggestion in enumerate(self.suggest(session, data_import))
        )
        session.flush()

    def review(
        self, session: Session, data_import: DataImport, changes: Sequence[MappingChange]
    ) -> None:
        """A person's changes, on an import locked by the caller, while no step reads them."""
        if data_import.status not in EDITABLE_MAPPING_STATUSES:
            raise Conflict(
                f"Mappings of an import that is {data_import.status} cannot be edited now.",
                code="mappings-locked",
                details={"status": data_import.status},
            )
        self.apply_changes(session, data_import, changes)

    def apply_changes(
        self, session: Session, data_import: DataImport, changes: Sequence[MappingChange]
    ) -> None:
        """Approve, retarget or ignore columns; approvals are learned for the next import."""
        schema = get_schema(data_import.import_type)
        known = {f.name for f in schema.fields}
        rows = {
            m.source_column: m
            for m in session.scalars(
                select(ImportFieldMapping)
                .where(
                    ImportFieldMapping.import_id == data_import.id,
                    ImportFieldMapping.client_account_id == data_import.client_account_id,
                )
                .with_for_update()
            )
        }
        for change in changes:
            mapping = rows.get(change.source_column)
            if mapping is None:
                raise InvalidUpload(
                    f"The import has no column {change.source_column!r}.",
                    code="unknown-column",
                    details={"source_column": change.source_column},
                )
            if change.target_field is not None and change.target_field not in known:
                raise InvalidUpload(
                    f"{change.target_field!r} is not a field of {data_import.import_type}.",
                    code="unknown-field",
                    details={"target_field": change.target_field, "allowed": sorted(known)},
                )
            if change.status == MappingStatus.APPROVED and change.target_field is not None:
                if change.target_field != mapping.target_field:
                    mapping.match_type = "manual"
                mapping.target_field = change.target_field
                mapping.confidence = 1.0
            mapping.status = change.status
        targets = [
            m.target_field
            for m in rows.values()
            if m.status != MappingStatus.IGNORED and m.target_field is not None
        ]
        doubled = sorted({t for t in targets if targets.count(t) > 1})
        if doubled:
            raise InvalidUpload(
                "Two columns cannot map to the same field.",
                code="duplicate-target",
                details={"target_fields": doubled},
            )
        self._learn(session, data_import, [rows[c.source_column] for c in changes])
        session.flush()

    def _learn(
        self, session: Session, data_import: DataImport, mappings: list[ImportFieldMapping]
    ) -> None:
        for mapping in mappings:
            if mapping.status == MappingStatus.SUGGESTED:
                continue
            ignored = mapping.status == MappingStatus.IGNORED
            values = {
                "client_account_id": data_import.client_account_id,
                "import_type": data_import.import_type,
                "header": normalise_header(mapping.source_column),
                "target_field": None if ignored else mapping.target_field,
                "ignored": ignored,
            }
            session.execute(
                insert(LearnedMapping)
                .values(**values)
                .on_conflict_do_update(
                    index_elements=["client_account_id", "import_type", "header"],
                    set_={"target_field": values["target_field"], "ignored": ignored},
                )
            )

    def _learned(
        self, session: Session, data_import: DataImport, suggestions: list[MappingSuggestion]
    ) -> list[MappingSuggestion]:
        learned = {
            row.header: row
            for row in session.scalars(
                select(LearnedMapping).where(
                    LearnedMapping.client_account_id == data_import.client_account_id,
                    LearnedMapping.import_type == data_import.import_type,
                )
            )
        }
        if not learned:
            return suggestions
        result = []
        for suggestion in suggestions:
            row = learned.get(normalise_header(suggestion.source_column))
            if row is None:
                result.append(suggestion)
            elif row.ignored:
                result.append(
                    replace(suggestion, target_field=None, confidence=1.0, match_type="learned")
                )
            else:
                result.append(
                    replace(
                        suggestion,
                        target_field=row.target_field,
                        confidence=1.0,
                        match_type="learned",
                    )
                )
        # A learned target wins over a header guess that claimed the same field.
        claimed = {s.target_field for s in result if s.match_type == "learned" and s.target_field}
        return [
            s
            if s.match_type == "learned" or s.target_field not in claimed
            else replace(s, target_field=None, confidence=0.0, match_type="unmapped")
            for s in result
        ]

    def _by_values(
        self, session: Session, data_import: DataImport, suggestions: list[MappingSuggestion]
    ) -> list[MappingSuggestion]:
        records = first_records(session, data_import, SAMPLE_ROWS)
        result = list(suggestions)
        for index, suggestion in enumerate(suggestions):
            detected = detect_field([r.get(suggestion.source_column) for r in records])
            if detected is None:
                continue
            field, share = detected
            if suggestion.target_field == field:
                continue
            holder = next((i for i, s in enumerate(result) if s.target_field == field), None)
            # The values decide only over an unmapped column or a weaker guess of the header.
            weaker = suggestion.match_type in ("unmapped", "fuzzy")
            if not weaker or (holder is not None and result[holder].confidence >= share):
                continue
            if holder is not None:
                result[holder] = replace(
                    result[holder], target_field=None, confidence=0.0, match_type="unmapped"
                )
            result[index] = replace(
                suggestion, target_field=field, confidence=round(share, 3), match_type="value"
            )
        return result


def first_records(session: Session, data_import: DataImport, count: int) -> list[dict]:
    """The import's first ``count`` raw records, in file order."""
    return session.scalars(
        select(RawImportRecord.record)
        .where(
            RawImportRecord.import_id == data_import.id,
            RawImportRecord.client_account_id == data_import.client_account_id,
            # Rows are numbered from 1: the bound spares PostgreSQL, which has no statistics
            # on a table just loaded, from sorting every row of the import for the first few.
            RawImportRecord.row_number <= count,
        )
        .order_by(RawImportRecord.row_number)
        .limit(count)
    ).all()
