"""/api/v1/account/settings: what the client account decides for its own imports."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from web import schemas, validation
from web.auth import authenticate, client_account_id
from web.ids import services
from web.openapi import document

bp = Blueprint("account", __name__, url_prefix="/api/v1/account")
bp.before_request(authenticate)


@bp.get("/settings")
@document((200, schemas.AccountSettings), tags=["merges"])
def get_settings():
    """The account's settings: the confidence below which a merge waits for review"""
    svc = services()
    with svc.transactions.reading() as session:
        threshold = svc.merges.threshold(session, client_account_id())
    return jsonify(schemas.AccountSettings(merge_review_threshold=threshold).dump())


@bp.put("/settings")
@document(
    (200, schemas.AccountSettings),
    tags=["merges"],
    errors=(422,),
    json=schemas.AccountSettingsUpdate,
)
def put_settings():
    """Set the confidence below which a merge waits for review (from the next import on)"""
    svc = services()
    update = validation.settings_update(request.get_json(silent=True))
    threshold = svc.merges.set_threshold(client_account_id(), update.merge_review_threshold)
    return jsonify(schemas.AccountSettings(merge_review_threshold=threshold).dump())
