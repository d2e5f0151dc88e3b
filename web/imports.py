"""/api/v1/imports: upload, list, inspect, cancel and retry imports."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, jsonify, request

from importer.errors import InvalidUpload, NotFound, UnsupportedMediaType
from importer.services.container import Services
from importer.services.import_validator import ImportOptions
from importer.services.pagination import parse_limit
from importer.uploads import FileUpload, RecordsUpload, Upload
from web.auth import authenticate, client_account_id

bp = Blueprint("imports", __name__, url_prefix="/api/v1/imports")
bp.before_request(authenticate)


def services() -> Services:
    return current_app.extensions["importer"].services


def parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise NotFound("No such import.", details={"id": raw}) from exc


def text_field(source, name: str, default: str | None) -> str | None:
    value = source.get(name, default)
    if value is not None and not isinstance(value, str):
        raise InvalidUpload(
            f"{name} must be a string.", code="invalid-field", details={"field": name}
        )
    return value


def read_upload() -> Upload:
    idempotency_key = request.headers.get("Idempotency-Key") or None
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        file = request.files.get("file")
        if file is None:
            raise InvalidUpload(
                "The multipart body has no 'file' part.", code="missing-file", details={}
            )
        options = ImportOptions(
            import_type=text_field(request.form, "import_type", "servers"),
            engagement=text_field(request.form, "engagement", "default"),
            filename=file.filename or None,
            idempotency_key=idempotency_key,
        )
        return FileUpload(options, file.stream, file.mimetype or None)
    if mimetype == "application/json":
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or "records" not in body:
            raise InvalidUpload(
                'The JSON body must be an object with a "records" array.',
                code="invalid-json",
                details={},
            )
        options = ImportOptions(
            import_type=text_field(body, "import_type", "servers"),
            engagement=text_field(body, "engagement", "default"),
            filename=text_field(body, "filename", None),
            idempotency_key=idempotency_key,
        )
        return RecordsUpload(options, body["records"])
    raise UnsupportedMediaType(
        "Send multipart/form-data with a 'file' part, or application/json with records.",
        details={"content_type": request.content_type},
    )


@bp.post("")
def create_import():
    result = services().upload_handler.handle(client_account_id(), read_upload())
    response = jsonify(result.body)
    response.status_code = result.status
    response.headers["Location"] = result.body["links"]["self"]
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.get("")
def list_imports():
    svc = services()
    with svc.transactions.reading() as session:
        page, cursor = svc.queries.list(
            session,
            client_account_id(),
            request.args.get("status"),
            request.args.get("cursor"),
            parse_limit(request.args.get("limit")),
        )
        items = [svc.responses.summary(data_import) for data_import in page]
    return jsonify({"items": items, "next_cursor": cursor})


@bp.get("/<import_id>")
def get_import(import_id: str):
    svc = services()
    with svc.transactions.reading() as session:
        data_import = svc.queries.get(session, parse_id(import_id), client_account_id())
        runs = svc.queries.steps(session, data_import)
        flow = svc.queries.flow(session, data_import)
    try:
        live = current_app.extensions["importer"].runtime_state.progress(data_import.id)
    except Exception:  # Redis is only a refinement of what PostgreSQL says.
        live = {}
    return jsonify(svc.responses.detail(data_import, runs, flow, live))


@bp.get("/<import_id>/records")
def list_records(import_id: str):
    svc = services()
    with svc.transactions.reading() as session:
        data_import = svc.queries.get(session, parse_id(import_id), client_account_id())
        page, cursor = svc.queries.records(
            session, data_import, request.args.get("cursor"), parse_limit(request.args.get("limit"))
        )
        items = [
            {"row_number": r.row_number, "values": r.record, "extra_values": r.extra_values}
            for r in page
        ]
    return jsonify({"columns": data_import.columns, "items": items, "next_cursor": cursor})


@bp.get("/<import_id>/errors")
def list_errors(import_id: str):
    svc = services()
    with svc.transactions.reading() as session:
        data_import = svc.queries.get(session, parse_id(import_id), client_account_id())
        page, cursor = svc.queries.issues(
            session, data_import, request.args.get("cursor"), parse_limit(request.args.get("limit"))
        )
        items = [svc.responses.issue(issue) for issue in page]
    return jsonify(
        {
            "valid_records": data_import.valid_records,
            "invalid_records": data_import.invalid_records,
            "items": items,
            "next_cursor": cursor,
        }
    )


@bp.get("/<import_id>/mappings")
def list_mappings(import_id: str):
    svc = services()
    with svc.transactions.reading() as session:
        data_import = svc.queries.get(session, parse_id(import_id), client_account_id())
        items = [svc.responses.mapping(m) for m in svc.queries.mappings(session, data_import)]
    return jsonify({"import_type": data_import.import_type, "items": items})


@bp.post("/<import_id>/cancel")
def cancel_import(import_id: str):
    svc = services()
    data_import = svc.control.cancel(parse_id(import_id), client_account_id())
    return jsonify(svc.responses.accepted(data_import)), 202


@bp.post("/<import_id>/retry")
def retry_import(import_id: str):
    svc = services()
    data_import = svc.control.retry(parse_id(import_id), client_account_id())
    return jsonify(svc.responses.accepted(data_import)), 202
