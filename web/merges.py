"""/api/v1/merges: the merges the inventory found too weak to apply, to approve or split."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from web import schemas, validation
from web.auth import authenticate, client_account_id
from web.ids import parse_id, reject_nul_in_query, services
from web.openapi import document

bp = Blueprint("merges", __name__, url_prefix="/api/v1/merges")
bp.before_request(authenticate)
bp.before_request(reject_nul_in_query)


@bp.get("")
@document((200, schemas.MergeList), tags=["merges"], errors=(400,), query=schemas.MergeListQuery)
def list_merges():
    """The account's merges by status (pending by default), oldest first"""
    svc = services()
    params = validation.query(schemas.MergeListQuery, request.args)
    with svc.transactions.reading() as session:
        page, cursor = svc.merges.merges(
            session, client_account_id(), params.status, params.cursor, params.limit
        )
        body = schemas.MergeList(items=[svc.responses.merge(v) for v in page], next_cursor=cursor)
    return jsonify(body.dump())


@bp.post("/<merge_id>/approve")
@document((200, schemas.Merge), tags=["merges"], errors=(404, 409))
def approve(merge_id: str):
    """Merge the row's own asset into the asset its key found (409 `merge-decided` once decided,
    `inventory-busy` while an import merges into the account's inventory)"""
    svc = services()
    view = svc.merges.approve(parse_id(merge_id, "merge"), client_account_id())
    return jsonify(svc.responses.merge(view).dump())


@bp.post("/<merge_id>/split")
@document((200, schemas.Merge), tags=["merges"], errors=(404, 409))
def split(merge_id: str):
    """Keep the two assets apart, now and in later imports (409 `merge-decided` once decided,
    `inventory-busy` while an import merges into the account's inventory)"""
    svc = services()
    view = svc.merges.split(parse_id(merge_id, "merge"), client_account_id())
    return jsonify(svc.responses.merge(view).dump())
