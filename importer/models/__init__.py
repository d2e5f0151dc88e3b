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
    PHASE_ORDER,
    PHASE_WEIGHTS,
    CleanedRecord,
    DiscoveryFlow,
    FlowPhase,
    flow_phases,
)
from importer.models.run import (
    FINAL_RUN_STATUSES,
    OPEN_RUN_STATUSES,
    STEP_ORDER,
    Run,
    RunKind,
    RunStatus,
    Step,
)
from importer.models.staging import ConnectionPart, DisplacedRow

__all__ = [
    "PHASE_ORDER",
    "PHASE_WEIGHTS",
    "Asset",
    "AssetDependency",
    "AssetMerge",
    "AssetSource",
    "LearnedMapping",
    "FINAL_RUN_STATUSES",
    "FINAL_IMPORT_STATUSES",
    "OPEN_RUN_STATUSES",
    "STEP_ORDER",
    "ApiKey",
    "Base",
    "CleanedRecord",
    "ConnectionPart",
    "DisplacedRow",
    "ClientAccount",
    "DataImport",
    "DiscoveryFlow",
    "FlowPhase",
    "ImportFieldMapping",
    "ImportStatus",
    "MappingStatus",
    "RawImportRecord",
    "Step",
    "Run",
    "RunKind",
    "RunStatus",
    "flow_phases",
    "ValidationIssue",
    "WORKING_IMPORT_STATUSES",
]
