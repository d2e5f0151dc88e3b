"""FieldMappingService: a canonical target for every source column, suggested, learned or edited.

Suggestions come, in order of trust, from what the client account approved before in the same
layout (`learned`), the tool profile the header was recognised as (`profile`), the header
(`exact`, `synonym`, `fuzzy`), and the column's values (`value`: mostly IP addresses is an IP
column, but only where no plain header match claims the field). A guess whose values contradict
its field (names in a boolean, one version string repeated as an "IP", counts as sizes) is not
made at all: the review then shows the column unmapped rather than a wrong mapping applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from importer.canonical import get_schema
from importer.discovery.profiles import recognise
from importer.discovery.units import SIZE_UNITS
from importer.discovery.value_detection import contradiction, detect_field
from importer.errors import Conflict, InvalidUpload, NotFound
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
from importer.services.transactions import ImportTransactionManager

# Enough rows to judge a column by its values, few enough to read at once.
SAMPLE_ROWS = 200


@dataclass(frozen=True)
class MappingChange:
    source_column: str
    target_field: str | None
    status: MappingStatus
    # A size column's unit as the person says it; None leaves the suggested unit as it is.
    unit: str | None = None


@dataclass(frozen=True)
class ColumnMapping:
    """What the cleansing needs of one mapped column."""

    column: str
    field: str
    unit: str | None = None
    unit_column: str | None = None


# Match types a person stands behind, or a documented layout: values never override them.
TRUSTED = frozenset({"learned", "profile", "manual", "exact", "synonym"})


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
    def __init__(self, transactions: ImportTransactionManager) -> None:
        self._tx = transactions

    def suggest(self, session: Session, data_import: DataImport) -> list[MappingSuggestion]:
        schema = get_schema(data_import.import_type)
        profile = recognise(data_import.import_type, data_import.columns)
        data_import.profile = profile.id if profile else None
        suggestions = FieldMappingSuggester(schema).suggest(data_import.columns, profile)
        records = first_records(session, data_import, SAMPLE_ROWS)
        suggestions = self._by_values(records, suggestions)
        suggestions = self._without_contradictions(schema, records, suggestions)
        return self._learned(session, data_import, suggestions)

    def column_mappings(self, session: Session, data_import: DataImport) -> list[ColumnMapping]:
        """The stored mappings' mapped columns, or the suggestions' before any are stored."""
        rows = self.stored(session, data_import)
        if not rows:
            return self.suggested_mappings(session, data_import)
        return [
            ColumnMapping(m.source_column, m.target_field, m.unit, m.unit_column)
            for m in rows
            if m.target_field is not None and m.status != MappingStatus.IGNORED
        ]

    def suggested_mappings(self, session: Session, data_import: DataImport) -> list[ColumnMapping]:
        """The columns the suggestions map, as if none were stored."""
        return [
            ColumnMapping(s.source_column, s.target_field, s.unit, s.unit_column)
            for s in self.suggest(session, data_import)
            if s.target_field is not None
        ]

    @staticmethod
    def stored(session: Session, data_import: DataImport) -> list[ImportFieldMapping]:
        """The import's stored mappings, in column order."""
        return session.scalars(
            select(ImportFieldMapping)
            .where(
                ImportFieldMapping.import_id == data_import.id,
                ImportFieldMapping.client_account_id == data_import.client_account_id,
            )
            .order_by(ImportFieldMapping.position)
        ).all()

    def suggest_and_store(self, session: Session, data_import: DataImport) -> None:
        """Fresh suggestions for the columns no person reviewed yet (idempotent on a re-run).

        A person's approvals and ignores stay: a retry after fixing the mappings of a failed
        validation must not guess them over again.
        """
        reviewed = {
            m.source_column
            for m in self.stored(session, data_import)
            if m.status != MappingStatus.SUGGESTED
        }
        session.execute(
            delete(ImportFieldMapping).where(
                ImportFieldMapping.import_id == data_import.id,
                ImportFieldMapping.client_account_id == data_import.client_account_id,
                ImportFieldMapping.status == MappingStatus.SUGGESTED,
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
                unit=suggestion.unit,
                unit_column=suggestion.unit_column,
                status=MappingStatus.SUGGESTED,
            )
            for position, suggestion in enumerate(self.suggest(session, data_import))
            if suggestion.source_column not in reviewed
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
                    mapping.unit = mapping.unit_column = None
                mapping.target_field = change.target_field
                mapping.confidence = 1.0
            if change.unit is not None:
                spec = schema.field(mapping.target_field) if mapping.target_field else None
                if spec is None or spec.unit is None or change.unit not in SIZE_UNITS:
                    raise InvalidUpload(
                        f"{change.unit!r} is not a unit of {mapping.target_field!r}.",
                        code="invalid-unit",
                        details={
                            "source_column": change.source_column,
                            "unit": change.unit,
                            "allowed": list(SIZE_UNITS) if spec and spec.unit else [],
                        },
                    )
                mapping.unit, mapping.unit_column = change.unit, None
            mapping.status = change.status
        targets = [
            m.target_field
            for m in rows.values()
            if m.status != MappingStatus.IGNORED
            and m.target_field is not None
            and schema.field(m.target_field).combine == "one"
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
                "context": learning_context(data_import),
                "header": normalise_header(mapping.source_column),
                "target_field": None if ignored else mapping.target_field,
                "ignored": ignored,
            }
            session.execute(
                insert(LearnedMapping)
                .values(**values)
                .on_conflict_do_update(
                    index_elements=["client_account_id", "import_type", "context", "header"],
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
                    LearnedMapping.context == learning_context(data_import),
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
                    replace(
                        suggestion,
                        target_field=None,
                        confidence=1.0,
                        match_type="learned",
                        unit=None,
                        unit_column=None,
                    )
                )
            else:
                same = row.target_field == suggestion.target_field
                result.append(
                    replace(
                        suggestion,
                        target_field=row.target_field,
                        confidence=1.0,
                        match_type="learned",
                        unit=suggestion.unit if same else None,
                        unit_column=suggestion.unit_column if same else None,
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

    @staticmethod
    def _by_values(
        records: list[dict], suggestions: list[MappingSuggestion]
    ) -> list[MappingSuggestion]:
        result = list(suggestions)
        for index, suggestion in enumerate(suggestions):
            # The values decide only over an unmapped column or a weaker guess of the header.
            if suggestion.match_type not in ("unmapped", "fuzzy"):
                continue
            detected = detect_field([r.get(suggestion.source_column) for r in records])
            if detected is None:
                continue
            field, share = detected
            if suggestion.target_field == field:
                continue
            holder = next((i for i, s in enumerate(result) if s.target_field == field), None)
            if holder is not None and (
                result[holder].match_type in TRUSTED or result[holder].confidence >= share
            ):
                continue
            if holder is not None:
                result[holder] = replace(
                    result[holder], target_field=None, confidence=0.0, match_type="unmapped"
                )
            result[index] = replace(
                suggestion, target_field=field, confidence=round(share, 3), match_type="value"
            )
        return result

    @staticmethod
    def _without_contradictions(
        schema, records: list[dict], suggestions: list[MappingSuggestion]
    ) -> list[MappingSuggestion]:
        """Guesses whose column's values or header say it holds something else are dropped."""
        result = []
        for suggestion in suggestions:
            if suggestion.target_field is None or suggestion.match_type == "profile":
                result.append(suggestion)
                continue
            spec = schema.field(suggestion.target_field)
            values = [r.get(suggestion.source_column) for r in records]
            reason = contradiction(spec, suggestion.source_column, values, suggestion.unit)
            if reason is None:
                result.append(suggestion)
            else:
                result.append(
                    replace(
                        suggestion,
                        target_field=None,
                        confidence=0.0,
                        match_type="unmapped",
                        unit=None,
                        unit_column=None,
                    )
                )
        return result

    @staticmethod
    def learned(session: Session, client_account_id) -> list[LearnedMapping]:
        return session.scalars(
            select(LearnedMapping)
            .where(LearnedMapping.client_account_id == client_account_id)
            .order_by(LearnedMapping.import_type, LearnedMapping.context, LearnedMapping.header)
        ).all()

    def unlearn(self, client_account_id, learned_id: int) -> None:
        """Forget one learned mapping of the account; another account's is not found."""
        with self._tx.transaction() as session:
            deleted = session.execute(
                delete(LearnedMapping).where(
                    LearnedMapping.id == learned_id,
                    LearnedMapping.client_account_id == client_account_id,
                )
            )
            if deleted.rowcount == 0:
                raise NotFound("No such learned mapping.", details={"id": str(learned_id)})


def learning_context(data_import: DataImport) -> str:
    """What a header is learned within: the recognised layout, else the sheet, else nothing."""
    return data_import.profile or (f"sheet:{data_import.sheet}" if data_import.sheet else "")


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
