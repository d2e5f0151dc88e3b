"""Builds every service once per process, with its dependencies injected."""

from __future__ import annotations

from datetime import timedelta

from importer.models import FlowPhase, Run, RunKind, Step
from importer.pipeline.chunks import ChunkPlanner, in_order
from importer.services.api_keys import ApiKeyService
from importer.services.background import BackgroundExecutionService
from importer.services.chunk_units import ChunkUnit, DiscardUnit, FinishUnit
from importer.services.discovery_flow import ByImportType, Chunked, PhaseUnit
from importer.services.field_mappings import FieldMappingService
from importer.services.flow_trigger import FlowTriggerService
from importer.services.import_control import ImportControlService
from importer.services.import_queries import ImportQueryService
from importer.services.import_storage_handler import ImportStorageHandler
from importer.services.import_validator import ImportValidator
from importer.services.inventory_queries import InventoryQueryService
from importer.services.merge_review import MergeReviewService
from importer.services.phases.asset_inventory import AssetInventoryPhase, InventoryLease
from importer.services.phases.connections import ConnectionsPhase
from importer.services.phases.data_cleansing import DataCleansingPhase
from importer.services.phases.dependency_analysis import DependencyAnalysisPhase
from importer.services.phases.field_mapping import FieldMappingPhase
from importer.services.phases.tech_debt import TechDebtPhase
from importer.services.pipeline_steps import DiscoveryStep, MappingsStep, ValidateStep
from importer.services.progress import ImportProgress
from importer.services.responses import ImportResponseBuilder
from importer.services.step_runner import StepRunner
from importer.services.storage import ImportStorageManager
from importer.services.transactions import ImportTransactionManager
from importer.services.undo import UndoService, UndoUnit
from importer.services.validation_service import ValidationService
from importer.services.watchdog import Watchdog


class Services:
    def __init__(self, resources) -> None:
        settings = resources.settings
        self.transactions = ImportTransactionManager(resources.session_factory)
        self.flows = FlowTriggerService()
        self.validator = ImportValidator()
        self.storage = ImportStorageManager()
        self.progress = ImportProgress()
        self.responses = ImportResponseBuilder(self.progress)
        self.mappings = FieldMappingService(self.transactions)
        self.planner = ChunkPlanner(settings.chunk_size)
        self.validation = ValidationService(self.mappings)
        cleansing = DataCleansingPhase(self.mappings)
        inventory = AssetInventoryPhase()
        # The phase of a dependencies import is its connections': one name, one chunked work,
        # which each of its runs asks for its import's.
        dependencies = ByImportType(
            DependencyAnalysisPhase(), dependencies=ConnectionsPhase(settings.chunk_size)
        )
        tech_debt = TechDebtPhase()
        # The chunked work of each step or phase that is done in chunk runs, by its name.
        self.chunked = {
            Step.VALIDATE: self.validation,
            FlowPhase.DATA_CLEANSING: cleansing,
            FlowPhase.ASSET_INVENTORY: inventory,
            FlowPhase.DEPENDENCY_ANALYSIS: dependencies,
            FlowPhase.TECH_DEBT_ASSESSMENT: tech_debt,
        }
        # The phases that hold a lease of their account while they run.
        self.inventory_lease = InventoryLease()
        self.leases = {FlowPhase.ASSET_INVENTORY: self.inventory_lease}
        self.background = BackgroundExecutionService(
            resources.celery,
            self.transactions,
            in_order=[name for name, work in self.chunked.items() if in_order(work)],
            lease=self.inventory_lease,
        )
        self.queries = ImportQueryService()
        self.inventory = InventoryQueryService(self.mappings)
        self.merges = MergeReviewService(self.transactions, self.inventory_lease)
        self.undo = UndoService(self.transactions, settings.chunk_size)
        self.api_keys = ApiKeyService(self.transactions)
        self.runner = StepRunner(
            self.transactions, resources.runtime_state, settings.max_restarts, self.background
        )
        self.field_mapping_phase = FieldMappingPhase(
            settings.mapping_confidence_threshold, self.validation, self.planner
        )
        self.phases = {
            FlowPhase.FIELD_MAPPING: self.field_mapping_phase,
            FlowPhase.DATA_CLEANSING: Chunked(cleansing, self.planner),
            FlowPhase.ASSET_INVENTORY: Chunked(inventory, self.planner),
            FlowPhase.DEPENDENCY_ANALYSIS: Chunked(dependencies, self.planner),
            FlowPhase.TECH_DEBT_ASSESSMENT: Chunked(tech_debt, self.planner),
        }
        self.control = ImportControlService(
            self.transactions,
            self.background,
            self.validator,
            resources.runtime_state,
            self.flows,
            self.field_mapping_phase,
            self.mappings,
            self.queries,
            self.undo,
        )
        self.watchdog = Watchdog(
            self.transactions,
            self.background,
            stale_after=timedelta(seconds=settings.stale_after_seconds),
            resend_after=timedelta(seconds=settings.resend_pending_after_seconds),
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
        return ValidateStep(task_id, self.validation, self.planner)

    def mappings_step(self, task_id: str) -> MappingsStep:
        return MappingsStep(task_id, self.mappings)

    def discovery_step(self, task_id: str) -> DiscoveryStep:
        return DiscoveryStep(task_id, self.flows)

    def discovery_phase(self, task_id: str, phase: str) -> PhaseUnit:
        return PhaseUnit(task_id, self.phases[FlowPhase(phase)], self.leases.get(FlowPhase(phase)))

    def chunk_unit(self, task_id: str, row_from: int) -> ChunkUnit:
        return ChunkUnit(task_id, row_from, self.chunked)

    def finish_unit(self, task_id: str) -> FinishUnit:
        return FinishUnit(task_id, self.chunked, self.unit_for)

    def discard_unit(self, task_id: str) -> DiscardUnit:
        return DiscardUnit(task_id, self.chunked)

    def undo_unit(self, task_id: str) -> UndoUnit:
        return UndoUnit(task_id, self.undo)

    def unit_for(self, run: Run):
        """The unit of a step or phase run."""
        if run.kind == RunKind.PHASE:
            return self.discovery_phase(run.task_id, run.name)
        steps = {
            Step.VALIDATE: self.validate_step,
            Step.MAPPINGS: self.mappings_step,
            Step.DISCOVERY: self.discovery_step,
        }
        return steps[Step(run.name)](run.task_id)
