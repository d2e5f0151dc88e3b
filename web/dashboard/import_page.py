"""One import: its timeline, validation issues, mapping review, cancel, retry, undo and commit
again."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from importer.canonical import get_schema
from importer.discovery.units import SIZE_UNITS
from importer.errors import Conflict, InvalidUpload
from importer.models import STEP_ORDER, FlowPhase, ImportStatus, RunStatus, Step, flow_phases
from importer.services.field_mappings import EDITABLE_MAPPING_STATUSES
from importer.services.import_control import CANCELLABLE, RETRYABLE, STATUS_OF_STEP
from web.dashboard.blueprint import bp, queries, signed_in
from web.ids import live_progress, parse_id, services
from web.validation import mapping_changes

ISSUES_SHOWN = 200
STEP_OF_STATUS = {status: step for step, status in STATUS_OF_STEP.items()}


@bp.get("/imports/<import_id>")
def import_page(import_id: str):
    svc = services()
    account = signed_in().client_account_id
    code = request.args.get("code") or None
    field = request.args.get("field") or None
    with svc.transactions.reading() as session:
        data_import = svc.queries.get(session, parse_id(import_id), account)
        runs = svc.queries.steps(session, data_import)
        flow = svc.queries.flow(session, data_import)
        phases = [] if flow is None else svc.inventory.flow(session, flow.id, account)[1]
        live = live_progress(data_import.id, runs)
        detail = svc.responses.detail(data_import, runs, flow, live).dump()
        validation = next((run for run in reversed(runs) if run.name == Step.VALIDATE), None)
        validated = validation is not None and validation.status == RunStatus.SUCCEEDED
        # Until validation has finished the issues are incomplete, and their table may be held
        # by the step writing them: the page must not wait for it.
        issues, issues_total = (
            queries.issues(session, data_import, code, field, ISSUES_SHOWN)
            if validated
            else ([], 0)
        )
        mappings = [
            svc.responses.mapping(m).dump() for m in svc.mappings.stored(session, data_import)
        ]
        review = svc.field_mapping_phase.review(session, data_import) if mappings else None
        samples = queries.samples(session, data_import) if mappings else {}
        context = {
            "data_import": data_import,
            "detail": detail,
            # The latest attempt of each step, in chain order; a step not planned yet is None.
            "steps": [
                (step, next((s for s in reversed(detail["steps"]) if s["name"] == step), None))
                for step in STEP_ORDER
            ],
            "phases": [
                (
                    phase,
                    next((svc.responses.phase(r).dump() for r in phases if r.name == phase), None),
                )
                for phase in flow_phases(data_import.import_type)
            ],
            # The latest inventory run's rows that wait in the merge review queue.
            "merges_for_review": next(
                (
                    (r.summary or {}).get("merges_for_review", 0)
                    for r in reversed(phases)
                    if r.name == FlowPhase.ASSET_INVENTORY
                ),
                0,
            ),
            "issues": [svc.responses.issue(issue).dump() for issue in issues],
            "issues_total": issues_total,
            "issue_codes": queries.issue_codes(session, data_import) if validated else [],
            "validated": validated,
            "filter": {"code": code or "", "field": field or ""},
            "mappings": mappings,
            "review": review,
            "samples": samples,
        }
    schema = get_schema(data_import.import_type)
    return render_template(
        "dashboard/import.html",
        **context,
        targets=[(spec.name, spec.required) for spec in schema.fields],
        size_units=SIZE_UNITS,
        mappings_editable=data_import.status in EDITABLE_MAPPING_STATUSES,
        waiting=data_import.status == ImportStatus.WAITING_FOR_APPROVAL,
        can_cancel=data_import.status in CANCELLABLE,
        can_retry=data_import.status in RETRYABLE,
        # An undo that failed leaves the import undoing, with its error: undoing again finishes it.
        can_undo=data_import.status == ImportStatus.COMPLETED
        or (data_import.status == ImportStatus.UNDOING and bool(data_import.error)),
        can_commit=data_import.status == ImportStatus.UNDONE,
        flower_url=current_app.extensions["importer"].settings.flower_url.rstrip("/"),
    )


def back_to(import_id: str):
    return redirect(url_for("dashboard.import_page", import_id=import_id))


@bp.post("/imports/<import_id>/mappings")
def approve_mappings(import_id: str):
    """Save the reviewed targets (a blank one ignores its column) and resume a paused flow."""
    svc = services()
    account = signed_in().client_account_id
    entries = reviewed_mappings(request.form)
    try:
        # As PUT /api/v1/imports/<id>/mappings does; another account's import is not found
        # before its form is judged.
        reviewed = svc.control.review_mappings(
            parse_id(import_id), account, lambda: mapping_changes({"mappings": entries})
        )
    except (Conflict, InvalidUpload) as exc:
        flash(f"Mappings not saved: {exc.message}")
        return back_to(import_id)
    changes, flow = reviewed.changes, reviewed.flow
    if flow is None or flow.status != RunStatus.WAITING_FOR_APPROVAL:
        flash(f"Mappings saved: {len(changes)} columns.")
        return back_to(import_id)
    try:
        svc.control.resume_flow(flow.id, account)
    except Conflict as exc:
        flash(f"Mappings saved, but the flow cannot resume yet: {exc.message}")
        return back_to(import_id)
    flash(f"Mappings approved ({len(changes)} columns); the discovery flow resumed.")
    return back_to(import_id)


def reviewed_mappings(form) -> list[dict]:
    """source-<n> and target-<n> pairs from the review form, as the API's mapping changes."""
    entries = []
    for key in form:
        if not key.startswith("source-"):
            continue
        index = key.removeprefix("source-")
        target = form.get("target-" + index, "")
        unit = form.get("unit-" + index, "")
        entries.append(
            {
                "source_column": form[key],
                "target_field": target or None,
                "status": "approved" if target else "ignored",
                **({"unit": unit} if target and unit else {}),
            }
        )
    return entries


@bp.post("/imports/<import_id>/cancel")
def cancel(import_id: str):
    svc = services()
    try:
        data_import = svc.control.cancel(parse_id(import_id), signed_in().client_account_id)
    except Conflict as exc:
        flash(f"Not cancelled: {exc.message}")
        return back_to(import_id)
    stopped = cancelled_units(data_import)
    flash(f"Cancelled: {stopped} queued tasks revoked; a running step stops at its next chunk.")
    return back_to(import_id)


def cancelled_units(data_import) -> int:
    """Steps and phases the cancel closed before they ran (their tasks were revoked)."""
    svc = services()
    with svc.transactions.reading() as session:
        runs = svc.queries.steps(session, data_import)
        flow = svc.queries.flow(session, data_import)
        phases = (
            []
            if flow is None
            else svc.inventory.flow(session, flow.id, data_import.client_account_id)[1]
        )
    moment = data_import.cancel_requested_at
    return sum(
        1
        for unit in (*runs, *phases)
        if unit.status == "cancelled" and unit.started_at is None and unit.finished_at
        if moment is None or unit.finished_at >= moment
    )


@bp.post("/imports/<import_id>/retry")
def retry(import_id: str):
    svc = services()
    try:
        data_import = svc.control.retry(parse_id(import_id), signed_in().client_account_id)
    except Conflict as exc:
        flash(f"Not retried: {exc.message}")
        return back_to(import_id)
    step = STEP_OF_STATUS.get(ImportStatus(data_import.status))
    flash(f"Retry: resumed from step {step}.")
    return back_to(import_id)


@bp.post("/imports/<import_id>/undo")
def undo(import_id: str):
    svc = services()
    try:
        svc.control.undo(parse_id(import_id), signed_in().client_account_id)
    except Conflict as exc:
        flash(f"Not undone: {exc.message}")
        return back_to(import_id)
    flash("Undo started: the inventory goes back to what the other imports build.")
    return back_to(import_id)


@bp.post("/imports/<import_id>/commit")
def commit(import_id: str):
    svc = services()
    try:
        svc.control.commit(parse_id(import_id), signed_in().client_account_id)
    except Conflict as exc:
        flash(f"Not committed: {exc.message}")
        return back_to(import_id)
    flash("Committed again: its inventory, dependencies and tech debt are built again.")
    return back_to(import_id)
