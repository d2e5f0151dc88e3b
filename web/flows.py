"""/api/v1/flows: a discovery flow's phases and summary, and resuming a paused flow."""

from __future__ import annotations

from flask import Blueprint, jsonify

from web import schemas
from web.auth import authenticate, client_account_id
from web.ids import parse_id, reject_nul_in_query, services
from web.openapi import document

bp = Blueprint("flows", __name__, url_prefix="/api/v1/flows")
bp.before_request(authenticate)
bp.before_request(reject_nul_in_query)


@bp.get("/<flow_id>")
@document((200, schemas.FlowDetail), tags=["flows"], errors=(404,))
def get_flow(flow_id: str):
    """A discovery flow: its phases and summary"""
    svc = services()
    with svc.transactions.reading() as session:
        flow, phases = svc.inventory.flow(session, parse_id(flow_id, "flow"), client_account_id())
        body = svc.responses.flow_detail(flow, phases)
    return jsonify(body.dump())


@bp.post("/<flow_id>/resume")
@document((202, schemas.ImportAccepted), tags=["flows"], errors=(404, 409, 503))
def resume_flow(flow_id: str):
    """Resume a flow waiting_for_approval, once its required fields are mapped"""
    svc = services()
    data_import = svc.control.resume_flow(parse_id(flow_id, "flow"), client_account_id())
    return jsonify(svc.responses.accepted(data_import).dump()), 202
