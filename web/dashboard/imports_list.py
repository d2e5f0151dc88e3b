"""The imports list (live while any import runs) and the upload page."""

from __future__ import annotations

from flask import jsonify, render_template, request, url_for

from importer.canonical import IMPORT_TYPES
from importer.errors import InvalidUpload
from importer.models import FINAL_IMPORT_STATUSES
from importer.services.import_validator import ImportOptions
from importer.uploads import FileUpload
from web.dashboard.blueprint import bp, queries, signed_in
from web.ids import live_progress, services

LIST_LIMIT = 50


@bp.get("/imports")
def imports():
    svc = services()
    account = signed_in().client_account_id
    with svc.transactions.reading() as session:
        page, _ = svc.queries.list(session, account, None, None, LIST_LIMIT)
        runs, flows = queries.runs_and_flows(session, page)
        rows = [
            {
                "import": data_import,
                "progress": svc.progress.progress(
                    data_import,
                    runs.get(data_import.id, []),
                    flows.get(data_import.id),
                    live_progress(data_import.id, runs.get(data_import.id, [])),
                ),
            }
            for data_import in page
        ]
    running = any(row["import"].status not in FINAL_IMPORT_STATUSES for row in rows)
    return render_template("dashboard/imports.html", rows=rows, running=running)


@bp.get("/upload")
def upload_page():
    return render_template("dashboard/upload.html", import_types=IMPORT_TYPES)


@bp.post("/upload")
def upload():
    """The same upload service as POST /api/v1/imports; the file is read as a stream."""
    file = request.files.get("file")
    if file is None or not file.filename:
        raise InvalidUpload("Choose a file to upload.", code="missing-file")
    options = ImportOptions(
        import_type=request.form.get("import_type") or "servers",
        engagement=request.form.get("engagement") or "default",
        filename=file.filename,
        idempotency_key=None,
    )
    upload = FileUpload(options, file.stream, file.mimetype or None)
    result = services().upload_handler.handle(signed_in().client_account_id, upload)
    body = {
        **result.body.dump(),
        "url": url_for("dashboard.import_page", import_id=result.data_import.id),
    }
    return jsonify(body), result.status


def upload_rate_key() -> str:
    return f"account:{signed_in().client_account_id}"
