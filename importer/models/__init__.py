"""The SQLAlchemy models; importing this package registers every table on ``Base.metadata``."""

from importer.models.account import ApiKey, ClientAccount
from importer.models.asset import (
    Asset,
    AssetDependency,
    AssetMerge,
    AssetSource,
    LearnedMapping,
)
from importer.models.base import Base
from importer.models.data_import import (
    FINAL_IMPORT_STATUSES,
    WORKING_IMPORT_STATUSES,
    DataImport,
    ImportFieldMapping,
    ImportStatus,
    MappingStatus,
    RawImportRecord,
    ValidationIssue,
)
from importer.models.discovery import (
    FINAL_FLOW_STATUSES,
    PHASE_ORDER,
    PHASE_WEIGHTS,
    CleanedRecord,
    DiscoveryFlow,
    DiscoveryPhaseRun,
    FlowPhase,
    FlowStatus,
    PhaseStatus,
    flow_phases,
)
from importer.models.step_run import (
    OPEN_STEP_STATUSES,
    STEP_ORDER,
    ImportStepRun,
    Step,
    StepStatus,
)

__all__ = [
    "PHASE_ORDER",
    "PHASE_WEIGHTS",
    "Asset",
    "AssetDependency",
    "AssetMerge",
    "AssetSource",
    "DiscoveryPhaseRun",
    "LearnedMapping",
    "PhaseStatus",
    "FINAL_FLOW_STATUSES",
    "FINAL_IMPORT_STATUSES",
    "OPEN_STEP_STATUSES",
    "STEP_ORDER",
    "ApiKey",
    "Base",
    "CleanedRecord",
    "ClientAccount",
    "DataImport",
    "DiscoveryFlow",
    "FlowPhase",
    "FlowStatus",
    "ImportFieldMapping",
    "ImportStatus",
    "ImportStepRun",
    "MappingStatus",
    "RawImportRecord",
    "Step",
    "StepStatus",
    "flow_phases",
    "ValidationIssue",
    "WORKING_IMPORT_STATUSES",
]
