"""/api/v1/flows: a discovery flow's phases and summary, and resuming a paused flow."""

from __future__ import annotations

from flask import Blueprint, jsonify

from web.auth import authenticate, client_account_id
from web.ids import parse_id, services

bp = Blueprint("flows", __name__, url_prefix="/api/v1/flows")
bp.before_request(authenticate)


@bp.get("/<flow_id>")
def get_flow(flow_id: str):
    svc = services()
    with svc.transactions.reading() as session:
        flow, phases = svc.inventory.flow(session, parse_id(flow_id, "flow"), client_account_id())
        body = svc.responses.flow_detail(flow, phases)
    return jsonify(body)


@bp.post("/<flow_id>/resume")
def resume_flow(flow_id: str):
    svc = services()
    data_import = svc.control.resume_flow(parse_id(flow_id, "flow"), client_account_id())
    return jsonify(svc.responses.accepted(data_import)), 202
