"""The merge queue: matches too weak to merge by themselves, to approve or split, and the
account's threshold. The same service as /api/v1/merges and /api/v1/account/settings."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from importer.errors import Conflict, InvalidUpload
from importer.models.asset import MERGE_STATUSES
from web.dashboard.blueprint import bp, signed_in
from web.ids import parse_id, services
from web.validation import settings_update

PAGE = 100


@bp.get("/merges")
def merges():
    svc = services()
    status = request.args.get("status", "pending")
    if status not in MERGE_STATUSES:
        status = "pending"
    cursor = request.args.get("cursor") or None
    account = signed_in().client_account_id
    with svc.transactions.reading() as session:
        page, following = svc.merges.merges(session, account, status, cursor, PAGE)
        items = [svc.responses.merge(view).dump() for view in page]
        threshold = svc.merges.threshold(session, account)
    return render_template(
        "dashboard/merges.html",
        items=items,
        status=status,
        statuses=MERGE_STATUSES,
        next_cursor=following,
        threshold=threshold,
    )


def back(status: str = "pending"):
    return redirect(url_for("dashboard.merges", status=status))


@bp.post("/merges/<merge_id>/<action>")
def decide(merge_id: str, action: str):
    svc = services()
    decisions = {"approve": svc.merges.approve, "split": svc.merges.split}
    if action not in decisions:
        return back()
    try:
        view = decisions[action](parse_id(merge_id, "merge"), signed_in().client_account_id)
    except Conflict as exc:
        flash(f"Not done: {exc.message}")
        return back()
    kept = view.asset.name if view.asset is not None else "the asset"
    if action == "approve":
        flash(f"Merged into {kept}.")
    else:
        flash(f"Kept apart from {kept}; the next import will not propose them again.")
    return back()


@bp.post("/merges/threshold")
def set_threshold():
    svc = services()
    try:
        value = float(request.form.get("merge_review_threshold", ""))
        update = settings_update({"merge_review_threshold": value})
    except (ValueError, InvalidUpload):
        flash("Not saved: the threshold is a number from 0 to 1.")
        return back()
    saved = svc.merges.set_threshold(signed_in().client_account_id, update.merge_review_threshold)
    flash(f"Threshold saved: matches below {saved:g} wait for review from the next import on.")
    return back()
