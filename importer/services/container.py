"""Builds every service once per process, with its dependencies injected."""

from __future__ import annotations

from datetime import timedelta

from importer.services.api_keys import ApiKeyService
from importer.services.background import BackgroundExecutionService
from importer.services.discovery_flow import DiscoveryFlowUnit
from importer.services.field_mappings import FieldMappingService
from importer.services.flow_trigger import FlowTriggerService
from importer.services.import_control import ImportControlService
from importer.services.import_queries import ImportQueryService
from importer.services.import_storage_handler import ImportStorageHandler
from importer.services.import_validator import ImportValidator
from importer.services.pipeline_steps import DiscoveryStep, MappingsStep, ValidateStep
from importer.services.responses import ImportResponseBuilder
from importer.services.step_runner import StepRunner
from importer.services.storage import ImportStorageManager
from importer.services.transactions import ImportTransactionManager
from importer.services.validation_service import ValidationService
from importer.services.watchdog import StaleStepReaper


class Services:
    def __init__(self, resources) -> None:
        settings = resources.settings
        self._resources = resources
        self.transactions = ImportTransactionManager(resources.session_factory)
        self.background = BackgroundExecutionService(resources.celery, self.transactions)
        self.flows = FlowTriggerService(self.background)
        self.validator = ImportValidator()
        self.storage = ImportStorageManager()
        self.responses = ImportResponseBuilder()
        self.mappings = FieldMappingService()
        self.validation = ValidationService(self.mappings, settings.chunk_size)
        self.queries = ImportQueryService()
        self.api_keys = ApiKeyService(self.transactions)
        self.runner = StepRunner(self.transactions, resources.runtime_state, settings.max_restarts)
        self.control = ImportControlService(
            self.transactions, self.background, self.validator, resources.runtime_state
        )
        self.reaper = StaleStepReaper(
            self.transactions, timedelta(seconds=settings.stale_after_seconds)
        )
        self.upload_handler = ImportStorageHandler(
            self.validator,
            self.storage,
            self.transactions,
            self.background,
            self.responses,
            settings.parse_limits,
        )

    def validate_step(self, task_id: str) -> ValidateStep:
        return ValidateStep(task_id, self.validation)

    def mappings_step(self, task_id: str) -> MappingsStep:
        return MappingsStep(task_id, self.mappings)

    def discovery_step(self, task_id: str) -> DiscoveryStep:
        return DiscoveryStep(task_id, self.flows)

    def discovery_flow(self) -> DiscoveryFlowUnit:
        return DiscoveryFlowUnit(self._resources.settings.chunk_size)
