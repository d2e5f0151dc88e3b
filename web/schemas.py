"""Pydantic models of the API's request and response bodies, and of its OpenAPI document.

Requests are read through them (web.validation: a ValidationError becomes the API's error, with
its stable code), and responses are built as them (ImportResponseBuilder, in
importer.services.responses) and answered as their ``model_dump(mode="json")``: what the document
says is what the API does.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from importer.canonical import IMPORT_TYPES
from importer.discovery.match_confidence import KINDS
from importer.discovery.units import SIZE_UNITS
from importer.models import FlowPhase, ImportStatus, MappingStatus, RunStatus, Step
from importer.models.account import DEFAULT_MERGE_REVIEW_THRESHOLD
from importer.models.asset import ASSET_TYPES, MERGE_STATUSES, SEVERITIES
from importer.services.inventory_queries import ASSET_FILTERS
from importer.services.pagination import DEFAULT_LIMIT, MAX_LIMIT


def _as_text(value: Any) -> Any:
    """UUIDs, datetimes and dates from the ORM as the API writes them: ``str``, ``isoformat()``."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


# ISO 8601 with offset, as ``datetime.isoformat()`` writes it (not pydantic's ``Z``).
DateTime = Annotated[str, BeforeValidator(_as_text)]
Text = Annotated[str, BeforeValidator(_as_text)]  # an id (UUID), a date


def timestamp() -> Any:
    return Field(json_schema_extra={"format": "date-time"})


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def absent(description: str | None = None) -> Any:
    """An optional query parameter, header or form field: a string when sent, never null."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


class Model(BaseModel):
    model_config = ConfigDict(use_enum_values=True, from_attributes=True)

    def dump(self) -> dict[str, Any]:
        """The JSON the API answers with."""
        return self.model_dump(mode="json")


class RequestModel(Model):
    """A request body: other members are ignored by the API, and documented as not allowed."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"additionalProperties": False})


# Enums as they appear on the wire (their values), with names for the document.
ImportStatusName = StrEnum("ImportStatusName", {s.name: s.value for s in ImportStatus})
StepName = StrEnum("StepName", {s.name: s.value for s in Step})
# A step's, a phase's and a flow's: one vocabulary.
RunStatusName = StrEnum("RunStatusName", {s.name: s.value for s in RunStatus})
PhaseName = StrEnum("PhaseName", {s.name: s.value for s in FlowPhase})
MappingStatusName = StrEnum("MappingStatusName", {s.name: s.value for s in MappingStatus})


# ---------------------------------------------------------------------------------------- errors
class ErrorInfo(Model):
    code: str = Field(description="Stable, machine-readable error code, e.g. `not-found`.")
    message: str
    details: dict[str, Any] = Field(description="Extra context; `{}` when there is none.")


class ErrorResponse(Model):
    """Every error: `{"error": {"code", "message", "details"}}`."""

    error: ErrorInfo


# -------------------------------------------------------------------------------------- requests
class ImportUploadForm(RequestModel):
    """`multipart/form-data` upload of a file."""

    file: bytes = Field(
        description="The export: CSV (`,` `;` tab or `|`; UTF-8, UTF-16 or cp1252), XLSX, a JSON "
        "array or NDJSON.",
        json_schema_extra={"contentMediaType": "application/octet-stream"},
    )
    import_type: Literal[IMPORT_TYPES] = "servers"
    engagement: str = "default"
    encoding: str = absent("Overrides encoding detection.")
    delimiter: str = absent("Overrides delimiter detection.")
    sheet: str = absent("XLSX sheet name (default: the first).")


class ImportUploadJson(RequestModel):
    """`application/json` upload of records."""

    records: list[dict[str, Any]] = Field(description="The rows, each a JSON object.")
    filename: str | None = None
    import_type: Literal[IMPORT_TYPES] = "servers"
    engagement: str = "default"


class MappingChangeIn(RequestModel):
    source_column: str
    target_field: str | None = Field(default=None, description="null to leave it unmapped.")
    unit: Literal[SIZE_UNITS] | None = Field(
        default=None, description="A size column's unit; its values are converted to GiB."
    )
    status: Literal["approved", "ignored"] = "approved"


class MappingsUpdate(RequestModel):
    mappings: list[MappingChangeIn] = Field(min_length=1)


CURSOR = "`next_cursor` of the previous page."


class PageQuery(Model):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str = absent(CURSOR)


class ImportListQuery(Model):
    status: ImportStatusName = absent()
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str = absent(CURSOR)


class AssetListQuery(Model):
    q: str = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Search: a case-insensitive part of the name, hostname or FQDN, the start "
        "of an IP address (primary or any other) or of a serial number (case-insensitive).",
        json_schema_extra=_no_default,
    )
    type: Literal[ASSET_TYPES] = absent()
    os_family: str = absent()
    environment: str = absent()
    end_of_support: Literal[SEVERITIES] = absent()
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str = absent(CURSOR)

    @property
    def filters(self) -> dict[str, str]:
        """The filters sent, by their names in ASSET_FILTERS."""
        return {
            name: getattr(self, name) for name in ASSET_FILTERS if getattr(self, name) is not None
        }


class MergeListQuery(Model):
    status: Literal[MERGE_STATUSES] = "pending"
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str = absent(CURSOR)


THRESHOLD = (
    "Matches whose confidence is below this wait for review instead of merging (0 to 1; "
    f"{DEFAULT_MERGE_REVIEW_THRESHOLD} by default: an IP alone waits, a host name merges). The "
    "confidence of each kind of match is in importer/discovery/data/match_confidence.toml."
)


class AccountSettingsUpdate(RequestModel):
    merge_review_threshold: float = Field(ge=0, le=1, strict=True, description=THRESHOLD)


class IdempotencyHeaders(Model):
    idempotency_key: str = Field(
        default=None,
        alias="Idempotency-Key",
        description="A repeat with the same key returns the first import.",
        json_schema_extra=_no_default,
    )


# ------------------------------------------------------------------------------------- responses
class Links(Model):
    self: str


class ImportAccepted(Model):
    id: Text = Field(json_schema_extra={"format": "uuid"})
    status: ImportStatusName
    records_stored: int
    links: Links


class ImportSummary(Model):
    id: Text = Field(json_schema_extra={"format": "uuid"})
    status: ImportStatusName
    filename: str | None
    import_type: str
    engagement: str
    records_stored: int
    valid_records: int | None
    invalid_records: int | None
    error: str | None
    created_at: DateTime = timestamp()
    updated_at: DateTime = timestamp()
    finished_at: DateTime | None = timestamp()
    links: Links


class StepRun(Model):
    name: StepName
    status: RunStatusName
    task_id: str | None
    attempt: int
    started_at: DateTime | None = timestamp()
    finished_at: DateTime | None = timestamp()
    error: str | None
    progress: int = Field(ge=0, le=100)


class FlowBrief(Model):
    id: Text = Field(json_schema_extra={"format": "uuid"})
    import_id: Text = Field(json_schema_extra={"format": "uuid"})
    status: RunStatusName
    current_phase: PhaseName | None
    progress: int = Field(ge=0, le=100)
    error: str | None
    started_at: DateTime | None = timestamp()
    finished_at: DateTime | None = timestamp()


class ImportDetail(ImportSummary):
    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None = Field(description="The worksheet an XLSX upload was read from.")
    profile: str | None = Field(
        description="The tool layout the header was recognised as (`importer profiles`)."
    )
    columns: list[str]
    progress: int = Field(ge=0, le=100)
    steps: list[StepRun]
    flow: FlowBrief | None


class ImportList(Model):
    items: list[ImportSummary]
    next_cursor: str | None


class RawRecord(Model):
    row_number: int
    values: dict[str, Any] = Field(description="The record exactly as uploaded.")
    extra_values: list[Any] | None = Field(description="CSV cells beyond the header.")


class RecordList(Model):
    columns: list[str]
    items: list[RawRecord]
    next_cursor: str | None


class Issue(Model):
    row_number: int
    code: str = Field(
        description="Frictionless code: `blank-row`, `duplicate-row`, `missing-cell`, "
        "`extra-cell`, `type-error`, `constraint-error`, `required-value`."
    )
    field: str | None
    message: str
    severity: Literal["error", "warning"]


class IssueList(Model):
    valid_records: int | None
    invalid_records: int | None
    items: list[Issue]
    next_cursor: str | None


class FieldMapping(Model):
    source_column: str
    target_field: str | None
    confidence: float | None
    match_type: Literal[
        "learned", "profile", "exact", "synonym", "fuzzy", "value", "manual", "unmapped"
    ]
    unit: str | None = Field(
        None, description="The unit of a size column's values, converted to GiB when cleaned."
    )
    unit_column: str | None = Field(None, description="The column that names the unit per row.")
    status: MappingStatusName


class LearnedMapping(Model):
    id: int
    import_type: str
    context: str | None = Field(
        description="The tool profile (or `sheet:<name>`) the header was reviewed in; null for "
        "files of no recognised layout."
    )
    header: str = Field(description="The header as compared: lower-case words.")
    target_field: str | None
    ignored: bool
    updated_at: DateTime | None = timestamp()


class LearnedMappingList(Model):
    items: list[LearnedMapping]


class MappingList(Model):
    import_type: str
    profile: str | None = Field(
        None, description="The tool layout the header was recognised as (`importer profiles`)."
    )
    sheet: str | None = Field(None, description="The worksheet an XLSX upload was read from.")
    items: list[FieldMapping]


class PhaseRun(Model):
    name: PhaseName
    status: RunStatusName
    progress: int = Field(ge=0, le=100)
    task_id: str | None
    attempt: int
    started_at: DateTime | None = timestamp()
    finished_at: DateTime | None = timestamp()
    error: str | None


class PhaseSummary(Model):
    """A phase's summary as the phase wrote it: ``dump`` leaves out the members it did not."""

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class MappingSummary(PhaseSummary):
    mapped: int | None = None
    unmapped: int | None = None
    threshold: float | None = None
    profile: str | None = None
    missing_required: list[str] | None = None
    low_confidence: list[Any] | None = None
    contested: list[Any] | None = None
    revalidated: bool | None = None


class CleansingSummary(PhaseSummary):
    records_cleaned: int | None = None
    fields: dict[str, dict[str, int]] | None = Field(
        default=None, description="Per target field, the count of each cleansing outcome."
    )


class AssetCounts(PhaseSummary):
    """Per outcome (`created`, `updated`, `unchanged`), the count by asset type."""

    created: dict[str, int] | None = None
    updated: dict[str, int] | None = None
    unchanged: dict[str, int] | None = None


class DependencySummary(PhaseSummary):
    edges: int | None = None
    resolved: int | None = None
    unresolved: int | None = None
    unresolved_targets: list[str] | None = None
    cycles: int | None = None
    cycle_examples: list[list[str]] | None = None
    # A dependencies import's (observed connections) only:
    rows: int | None = Field(default=None, description="Connections read (one a row).")
    connections_without_source: int | None = Field(
        default=None,
        description="Distinct connections whose source host is not in the inventory: no edge.",
    )
    unresolved_sources: list[str] | None = Field(
        default=None, description="Their source hosts (names or addresses), the first 100."
    )
    replaced: int | None = Field(
        default=None, description="Edges of earlier imports observing the same connections."
    )


class EndOfSupportSummary(PhaseSummary):
    assessed_on: Text | None = Field(default=None, json_schema_extra={"format": "date"})
    by_severity: dict[str, int] | None = None
    flagged_by_os: dict[str, int] | None = None


class FlowSummary(Model):
    """Each phase's summary; null (or `{}`) until the phase has run."""

    mapping: MappingSummary | None
    cleansing: CleansingSummary | None
    assets: AssetCounts | None
    merges_for_review: int | None = Field(
        description="Rows whose match was too weak to merge: each made an asset of its own and "
        "waits in the merge review queue (GET /api/v1/merges?status=pending)."
    )
    dependencies: DependencySummary | None
    end_of_support: EndOfSupportSummary | None


class FlowDetail(FlowBrief):
    phases: list[PhaseRun]
    summary: FlowSummary

    def dump(self) -> dict[str, Any]:
        body = self.model_dump(mode="json", exclude={"summary"})
        body["summary"] = {
            name: part.dump() if isinstance(part, PhaseSummary) else part
            for name, part in (
                (name, getattr(self.summary, name)) for name in FlowSummary.model_fields
            )
        }
        return body


class EndOfSupport(Model):
    severity: Literal[SEVERITIES]
    date: Text | None = Field(json_schema_extra={"format": "date"})
    source: str | None


class AssetSummary(Model):
    id: Text = Field(json_schema_extra={"format": "uuid"})
    name: str | None
    asset_type: str
    hostname_key: str | None
    serial_number: str | None
    primary_ip: str | None
    uuid: str | None = Field(description="BIOS/VM UUID, lower-case and dashed.")
    source_id: str | None = Field(
        description="The record's id in the tool it was exported from (a ServiceNow sys_id, an "
        "AWS ExternalId, `vcenter/moref` for a vCenter MoRef)."
    )
    os_family: str | None
    os_name: str | None
    os_version: str | None
    environment: str | None
    cpu_cores: int | None
    memory_gb: float | None
    is_virtual: bool | None
    end_of_support: EndOfSupport
    first_import_id: Text | None = Field(json_schema_extra={"format": "uuid"})
    last_import_id: Text | None = Field(json_schema_extra={"format": "uuid"})
    created_at: DateTime = timestamp()
    updated_at: DateTime = timestamp()


class AssetList(Model):
    items: list[AssetSummary]
    next_cursor: str | None


class Connection(Model):
    """What an edge says of the connection behind it."""

    observed: bool = Field(
        description="Seen on the network by a dependencies import (a flow or connection "
        "export), rather than declared by an inventory's dependency column."
    )
    port: int | None = Field(description="The destination port, when known.")
    protocol: str | None = Field(description="`TCP`, `UDP`, ..., when known.")
    source_processes: list[str] | None = Field(
        description="The processes seen opening the connection, when known."
    )
    target_processes: list[str] | None = Field(
        description="The processes seen accepting the connection, when known."
    )


class DependencyOut(Connection):
    target: str = Field(description="The reference as the export wrote it.")
    asset_id: Text | None = Field(json_schema_extra={"format": "uuid"})
    name: str | None
    resolved: bool


class DependencyIn(Connection):
    asset_id: Text = Field(json_schema_extra={"format": "uuid"})
    name: str | None


class AssetImport(Model):
    id: Text = Field(json_schema_extra={"format": "uuid"})
    filename: str | None
    created_at: DateTime = timestamp()
    matched_on: dict[
        Literal["created", "uuid", "serial", "source_id", "hostname", "ip", "unrecorded"], int
    ] = Field(
        description="The import's rows of this asset, by why each is this asset: `created` (the "
        "row made it), or the key that found it (`uuid`, `serial`, `source_id`, `hostname`, "
        "`ip`); `unrecorded` for rows imported before this was recorded."
    )


class ValueSource(Model):
    """The row a value came from, as the inventory merged the asset's rows."""

    import_id: Text = Field(json_schema_extra={"format": "uuid"})
    filename: str | None
    row_number: int = Field(description="The row as `GET /imports/<id>/records` numbers it.")
    columns: list[str] = Field(
        description="The source columns (headers) the value was cleaned from, as the import's "
        "mappings map them; empty when the import's type says it (an asset type)."
    )


class FieldValue(Model):
    field: str
    value: Any
    source: ValueSource | None = Field(
        description="Null when the asset's rows, merged again, do not give the value it holds "
        "(a key value another asset held when the rows were merged, and holds no longer)."
    )


class AssetDetail(AssetSummary):
    fields: list[FieldValue] = Field(
        description="Each of the asset's identifying and descriptive fields (name, keys, type, "
        "OS, environment, size, virtual), with its value and the row it came from."
    )
    attributes: list[FieldValue] = Field(
        description="Every clean field the asset's rows gave it, by name, each with its source."
    )
    depends_on: list[DependencyOut]
    depended_on_by: list[DependencyIn]
    imports: list[AssetImport]


class Merge(Model):
    """A match too weak to merge by itself, and its review."""

    id: Text = Field(json_schema_extra={"format": "uuid"})
    status: Literal[MERGE_STATUSES]
    matched_on: Literal["uuid", "serial", "source_id", "hostname", "ip"] = Field(
        description="The key that found the asset."
    )
    match_kind: Literal[KINDS] = Field(
        description="The kind of match: the key, or `hostname_other_domain` for a short name "
        "under another DNS domain than the row's."
    )
    confidence: float = Field(ge=0, le=1)
    row_keys: dict[str, str] = Field(
        description="The keys (and FQDN) of the weakly matched row: a later row with the same "
        "lands where the review put it, and is not proposed again."
    )
    import_id: Text | None = Field(
        json_schema_extra={"format": "uuid"}, description="The import of the row."
    )
    row_number: int | None
    created_at: DateTime = timestamp()
    decided_at: DateTime | None = timestamp()
    asset: AssetSummary | None = Field(description="The asset the key found; it is kept.")
    proposed_asset: AssetSummary | None = Field(
        description="The asset the row made of its own; merged into `asset` (and gone) once "
        "approved, kept apart once split."
    )


class MergeList(Model):
    items: list[Merge]
    next_cursor: str | None


class AccountSettings(Model):
    merge_review_threshold: float = Field(ge=0, le=1, description=THRESHOLD)


class Health(Model):
    status: Literal["ok"]


class Readiness(Model):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str] = Field(
        description="Per dependency (`postgresql`, `redis`): `ok` or `error: <type>`."
    )


class OpenAPIDocument(Model):
    """This OpenAPI 3.1 document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
