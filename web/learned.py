"""/api/v1/learned-mappings: what the account's reviews taught the mapping suggester, to unlearn."""

from __future__ import annotations

from flask import Blueprint, jsonify

from importer.errors import NotFound
from web import schemas
from web.auth import authenticate, client_account_id
from web.ids import reject_nul_in_query, services
from web.openapi import document

bp = Blueprint("learned", __name__, url_prefix="/api/v1/learned-mappings")
bp.before_request(authenticate)
bp.before_request(reject_nul_in_query)


@bp.get("")
@document((200, schemas.LearnedMappingList), tags=["mappings"])
def list_learned():
    """Headers the account's reviews mapped or ignored, by import type and layout"""
    svc = services()
    with svc.transactions.reading() as session:
        rows = svc.mappings.learned(session, client_account_id())
        body = schemas.LearnedMappingList(items=[svc.responses.learned(row) for row in rows])
    return jsonify(body.dump())


@bp.delete("/<learned_id>")
@document((204, None), tags=["mappings"], errors=(404,))
def unlearn(learned_id: str):
    """Forget a learned mapping: the header is suggested afresh on the next import"""
    svc = services()
    if not learned_id.isascii() or not learned_id.isdigit() or len(learned_id) > 18:
        raise NotFound("No such learned mapping.", details={"id": learned_id})
    svc.mappings.unlearn(client_account_id(), int(learned_id))
    return "", 204
