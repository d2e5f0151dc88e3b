"""/api/v1/assets: the client account's de-duplicated inventory."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from web import schemas, validation
from web.auth import authenticate, client_account_id
from web.ids import parse_id, reject_nul_in_query, services
from web.openapi import document

bp = Blueprint("assets", __name__, url_prefix="/api/v1/assets")
bp.before_request(authenticate)
bp.before_request(reject_nul_in_query)


@bp.get("")
@document((200, schemas.AssetList), tags=["assets"], errors=(400,), query=schemas.AssetListQuery)
def list_assets():
    """The account's de-duplicated inventory, filtered and searched"""
    svc = services()
    params = validation.query(schemas.AssetListQuery, request.args)
    with svc.transactions.reading() as session:
        page, cursor = svc.inventory.assets(
            session, client_account_id(), params.filters, params.cursor, params.limit, params.q
        )
        body = schemas.AssetList(items=[svc.responses.asset(a) for a in page], next_cursor=cursor)
    return jsonify(body.dump())


@bp.get("/<asset_id>")
@document((200, schemas.AssetDetail), tags=["assets"], errors=(404,))
def get_asset(asset_id: str):
    """An asset, where each of its values came from, its dependencies and its imports"""
    svc = services()
    with svc.transactions.reading() as session:
        found = svc.inventory.asset(session, parse_id(asset_id, "asset"), client_account_id())
        body = svc.responses.asset_detail(found)
    return jsonify(body.dump())
