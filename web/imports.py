"""/api/v1/imports: upload, list, inspect, cancel, retry, undo and commit imports again."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from importer.errors import UnsupportedMediaType
from importer.services.import_validator import ImportOptions
from importer.uploads import FileUpload, RecordsUpload, Upload
from web import schemas, validation
from web.auth import authenticate, client_account_id
from web.ids import live_progress, parse_id, reject_nul_in_query, services
from web.openapi import document

bp = Blueprint("imports", __name__, url_prefix="/api/v1/imports")
bp.before_request(authenticate)
bp.before_request(reject_nul_in_query)


def read_upload() -> Upload:
    idempotency_key = request.headers.get("Idempotency-Key") or None
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        file = request.files.get("file")
        form = validation.form_upload(request.form, file is not None)
        options = ImportOptions(
            import_type=form.import_type,
            engagement=form.engagement,
            filename=file.filename or None,
            idempotency_key=idempotency_key,
        )
        return FileUpload(
            options,
            file.stream,
            file.mimetype or None,
            encoding=form.encoding,
            delimiter=form.delimiter,
            sheet=form.sheet,
        )
    if mimetype == "application/json":
        body = validation.json_upload(request.get_json(silent=True))
        options = ImportOptions(
            import_type=body.import_type,
            engagement=body.engagement,
            filename=body.filename,
            idempotency_key=idempotency_key,
        )
        return RecordsUpload(options, body.records)
    raise UnsupportedMediaType(
        "Send multipart/form-data with a 'file' part, or application/json with records.",
        details={"content_type": request.content_type},
    )


@bp.post("")
@document(
    (202, schemas.ImportAccepted),
    tags=["imports"],
    errors=(409, 413, 415, 422, 429, 503),
    json=schemas.ImportUploadJson,
    form=schemas.ImportUploadForm,
    headers=schemas.IdempotencyHeaders,
)
def create_import():
    """Upload an export (a file, or JSON records)

    The raw records are stored in one transaction before the answer; validation, mappings and
    the discovery flow then run in the background. A repeat with the same `Idempotency-Key`
    answers the first import (header `Idempotent-Replayed: true`). 409 while the engagement has
    an import whose discovery has not finished.
    """
    result = services().upload_handler.handle(client_account_id(), read_upload())
    body = result.body
    response = jsonify(body.dump())
    response.status_code = result.status
    response.headers["Location"] = body.links.self
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.get("")
@document((200, schemas.ImportList), tags=["imports"], errors=(400,), query=schemas.ImportListQuery)
def list_imports():
    """List the account's imports, newest first"""
    svc = services()
    params = validation.query(schemas.ImportListQuery, request.args)
    with svc.transactions.reading() as session:
        page, cursor = svc.queries.list(
            session,
            client_account_id(),
            params.status,
            params.cursor,
            params.limit,
        )
        body = schemas.ImportList(
            items=[svc.responses.summary(i) for i in page], next_cursor=cursor
        )
    return jsonify(body.dump())


@bp.get("/<import_id>")
@document((200, schemas.ImportDetail), tags=["imports"], errors=(404,))
def get_import(import_id: str):
    """An import: status, progress, steps and its discovery flow"""
    svc = services()
    with svc.transactions.reading() as session:
        data_import, runs, flow = svc.queries.detail(
            session, parse_id(import_id), client_account_id()
        )
    live = live_progress(data_import.id, runs)
    return jsonify(svc.responses.detail(data_import, runs, flow, live).dump())


@bp.get("/<import_id>/records")
@document((200, schemas.RecordList), tags=["imports"], errors=(400, 404), query=schemas.PageQuery)
def list_records(import_id: str):
    """The raw records exactly as uploaded"""
    svc = services()
    params = validation.query(schemas.PageQuery, request.args)
    with svc.transactions.reading() as session:
        data_import = svc.queries.get(session, parse_id(import_id), client_account_id())
        page, cursor = svc.queries.records(session, data_import, params.cursor, params.limit)
        body = schemas.RecordList(
            columns=data_import.columns,
            items=[svc.responses.record(row) for row in page],
            next_cursor=cursor,
        )
    return jsonify(body.dump())


@bp.get("/<import_id>/errors")
@document((200, schemas.IssueList), tags=["imports"], errors=(400, 404), query=schemas.PageQuery)
def list_errors(import_id: str):
    """Validation issues by row, with Frictionless codes"""
    svc = services()
    params = validation.query(schemas.PageQuery, request.args)
    with svc.transactions.reading() as session:
        data_import = svc.queries.get(session, parse_id(import_id), client_account_id())
        page, cursor = svc.queries.issues(session, data_import, params.cursor, params.limit)
        body = schemas.IssueList(
            valid_records=data_import.valid_records,
            invalid_records=data_import.invalid_records,
            items=[svc.responses.issue(issue) for issue in page],
            next_cursor=cursor,
        )
    return jsonify(body.dump())


@bp.get("/<import_id>/mappings")
@document((200, schemas.MappingList), tags=["imports"], errors=(404,))
def list_mappings(import_id: str):
    """Each source column's target field, confidence and match type"""
    svc = services()
    with svc.transactions.reading() as session:
        data_import = svc.queries.get(session, parse_id(import_id), client_account_id())
        body = svc.responses.mapping_list(data_import, svc.mappings.stored(session, data_import))
    return jsonify(body.dump())


@bp.put("/<import_id>/mappings")
@document(
    (200, schemas.MappingList),
    tags=["imports"],
    errors=(404, 409, 422),
    json=schemas.MappingsUpdate,
)
def update_mappings(import_id: str):
    """Approve or ignore mappings

    Approvals are remembered for the account's next imports. 409 (`mappings-locked`) while a
    step or phase reads the mappings.
    """
    svc = services()
    changes = validation.mapping_changes(request.get_json(silent=True))
    reviewed = svc.control.review_mappings(parse_id(import_id), client_account_id(), changes)
    body = svc.responses.mapping_list(reviewed.data_import, reviewed.mappings)
    return jsonify(body.dump())


@bp.post("/<import_id>/cancel")
@document((202, schemas.ImportAccepted), tags=["imports"], errors=(404, 409))
def cancel_import(import_id: str):
    """Cancel an import that is not final (409 otherwise)"""
    svc = services()
    data_import = svc.control.cancel(parse_id(import_id), client_account_id())
    return jsonify(svc.responses.accepted(data_import).dump()), 202


@bp.post("/<import_id>/retry")
@document((202, schemas.ImportAccepted), tags=["imports"], errors=(404, 409, 503))
def retry_import(import_id: str):
    """Retry a failed or cancelled import from the first step that did not succeed"""
    svc = services()
    data_import = svc.control.retry(parse_id(import_id), client_account_id())
    return jsonify(svc.responses.accepted(data_import).dump()), 202


@bp.post("/<import_id>/undo")
@document((202, schemas.ImportAccepted), tags=["imports"], errors=(404, 409))
def undo_import(import_id: str):
    """Take a completed import back out of the inventory

    The undo runs in the background (the import is `undoing`, then `undone`): the inventory
    becomes what the account's other imports alone would have built. Its raw records stay, and
    it can be committed again. 409 `not-completed`, `already-undone`, `undo-in-progress`, or
    `inventory-busy` while an import of the account builds its inventory.
    """
    svc = services()
    data_import = svc.control.undo(parse_id(import_id), client_account_id())
    return jsonify(svc.responses.accepted(data_import).dump()), 202


@bp.post("/<import_id>/commit")
@document((202, schemas.ImportAccepted), tags=["imports"], errors=(404, 409, 503))
def commit_import(import_id: str):
    """Commit an undone import again

    Its inventory, dependency and tech debt phases run again from its cleaned rows, and it ends
    `completed`. 409 `not-undone` for an import that is not undone.
    """
    svc = services()
    data_import = svc.control.commit(parse_id(import_id), client_account_id())
    return jsonify(svc.responses.accepted(data_import).dump()), 202
