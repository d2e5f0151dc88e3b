"""Requests read through the models of web.schemas; a ValidationError becomes the API's error.

Each reader validates with ``Model.model_validate`` and turns pydantic's first error into the
stable code the API answers (``invalid-query``, ``invalid-mappings``, ``invalid-field``, ...).
"""

from __future__ import annotations

import enum
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from importer.discovery.units import SIZE_UNITS
from importer.errors import InvalidUpload
from importer.models import MappingStatus
from importer.services.field_mappings import MappingChange
from importer.services.pagination import MAX_LIMIT, InvalidQuery
from web import schemas

M = TypeVar("M", bound=BaseModel)


def first_error(exc: ValidationError) -> dict[str, Any]:
    return exc.errors(include_url=False)[0]


def allowed_values(model: type[BaseModel], name: str) -> list[Any]:
    """The values an enum or Literal field accepts, for an error's details."""
    annotation = model.model_fields[name].annotation
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return [member.value for member in candidate]
        if get_origin(candidate) is Literal:
            return list(get_args(candidate))
    return []


# ------------------------------------------------------------------------------ query parameters
def query(model: type[M], args) -> M:
    """The query string (first value of each parameter) as ``model``; 400 ``invalid-query``."""
    raw = args.to_dict()
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        error = first_error(exc)
        name = str(error["loc"][0]) if error["loc"] else ""
        value = raw.get(name)
        if name == "limit" and error["type"] in ("int_parsing", "int_type"):
            raise InvalidQuery("limit must be an integer.", details={"limit": value}) from exc
        if name == "limit":
            raise InvalidQuery(
                f"limit must be between 1 and {MAX_LIMIT}.", details={"limit": int(value)}
            ) from exc
        allowed = allowed_values(model, name) if name in model.model_fields else []
        if allowed:
            raise InvalidQuery(
                f"Unknown {name} {value!r}.", details={name: value, "allowed": allowed}
            ) from exc
        raise InvalidQuery(f"{name}: {error['msg']}", details={"parameter": name}) from exc


# ------------------------------------------------------------------------------------- uploads
def upload_options(model: type[M], data: Any) -> M:
    """The upload's options (JSON members or form fields) as ``model``; 422 with the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = first_error(exc)
        if not error["loc"] or error["loc"][0] == "records":
            raise InvalidUpload(
                'The JSON body must be an object with a "records" array.',
                code="invalid-json",
                details={},
            ) from exc
        name = str(error["loc"][0])
        if name == "file":
            raise InvalidUpload(
                "The multipart body has no 'file' part.", code="missing-file", details={}
            ) from exc
        if name == "import_type" and error["type"] == "literal_error":
            raise InvalidUpload(
                f"Unknown import_type {error['input']!r}.",
                code="invalid-import-type",
                details={
                    "import_type": error["input"],
                    "allowed": allowed_values(model, "import_type"),
                },
            ) from exc
        raise InvalidUpload(
            f"{name} must be a string.", code="invalid-field", details={"field": name}
        ) from exc


def json_upload(body: Any) -> schemas.ImportUploadJson:
    """A JSON upload's members. The rows themselves are read one by one by the JSON reader,
    which names the row at fault (``invalid-record``, ``nul-byte``): the model checks only
    that ``records`` is an array, not each row."""
    if isinstance(body, dict) and isinstance(body.get("records"), list):
        checked = upload_options(schemas.ImportUploadJson, {**body, "records": []})
        return checked.model_copy(update={"records": body["records"]})
    return upload_options(schemas.ImportUploadJson, body)


def form_upload(form, has_file: bool) -> schemas.ImportUploadForm:
    """A multipart upload's fields. The file is streamed to the reader, never held by the
    model: it only stands for the part being there."""
    fields = form.to_dict()
    fields.pop("file", None)
    if has_file:
        fields["file"] = b""
    return upload_options(schemas.ImportUploadForm, fields)


# ------------------------------------------------------------------------------------ settings
def settings_update(body: Any) -> schemas.AccountSettingsUpdate:
    """PUT /account/settings's body; 422 ``invalid-settings`` naming the setting at fault."""
    try:
        return schemas.AccountSettingsUpdate.model_validate(body)
    except ValidationError as exc:
        loc = first_error(exc)["loc"]
        raise InvalidUpload(
            'The body must be {"merge_review_threshold": a number from 0 to 1}.',
            code="invalid-settings",
            details={"field": str(loc[0])} if loc else {},
        ) from exc


# ------------------------------------------------------------------------------------ mappings
MAPPINGS_SHAPE = 'The body must be {"mappings": [{"source_column", "target_field", "status"}]}.'


def mapping_changes(body: Any) -> list[MappingChange]:
    """PUT /imports/<id>/mappings's body (MappingsUpdate) as the changes to review."""
    try:
        update = schemas.MappingsUpdate.model_validate(body)
    except ValidationError as exc:
        error = first_error(exc)
        loc = error["loc"]
        if len(loc) < 2 or loc[0] != "mappings":
            raise InvalidUpload(MAPPINGS_SHAPE, code="invalid-mappings") from exc
        position = loc[1]
        if loc[2:] == ("unit",) and error["type"] == "literal_error":
            raise InvalidUpload(
                f"{error['input']!r} is not a unit.",
                code="invalid-unit",
                details={
                    "source_column": body["mappings"][position].get("source_column"),
                    "unit": error["input"],
                    "allowed": list(SIZE_UNITS),
                },
            ) from exc
        raise InvalidUpload(
            "Each mapping must be an object: source_column a string, target_field and unit "
            "strings or null, and status 'approved' or 'ignored'.",
            code="invalid-mappings",
            details={"position": position},
        ) from exc
    return [
        MappingChange(
            change.source_column, change.target_field, MappingStatus(change.status), change.unit
        )
        for change in update.mappings
    ]
