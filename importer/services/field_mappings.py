"""FieldMappingService: suggests a canonical target for every source column and stores it."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from importer.canonical import get_schema
from importer.models import DataImport, ImportFieldMapping, MappingStatus
from importer.services.mapping_suggester import FieldMappingSuggester, MappingSuggestion


class FieldMappingService:
    def suggest(self, data_import: DataImport) -> list[MappingSuggestion]:
        suggester = FieldMappingSuggester(get_schema(data_import.import_type))
        return suggester.suggest(data_import.columns)

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
            for position, suggestion in enumerate(self.suggest(data_import))
        )
        session.flush()
