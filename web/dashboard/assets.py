"""The account's assets: a table searched and filtered as GET /api/v1/assets is, and an asset's
page: each value with the import, row and column it came from, the imports that touched it, and
its dependencies both ways as a graph."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from werkzeug.datastructures import MultiDict

from importer.models.asset import ASSET_TYPES, SEVERITIES
from web import schemas, validation
from web.dashboard.blueprint import bp, signed_in
from web.dashboard.charts import Neighbour, dependency_graph
from web.ids import parse_id, reject_nul_in_query, services

# What the table's form sends (and a page size, kept from page to page); a blank field is no filter.
FORM = ("q", "type", "os_family", "environment", "end_of_support", "limit")


@bp.get("/assets")
def assets():
    reject_nul_in_query()
    chosen = {name: request.args.get(name, "").strip() for name in FORM}
    chosen = {name: value for name, value in chosen.items() if value}
    cursor = request.args.get("cursor") or None
    params = validation.query(
        schemas.AssetListQuery, MultiDict({**chosen, **({"cursor": cursor} if cursor else {})})
    )
    svc = services()
    with svc.transactions.reading() as session:
        page, following = svc.inventory.assets(
            session,
            signed_in().client_account_id,
            params.filters,
            params.cursor,
            params.limit,
            params.q,
        )
        rows = [svc.responses.asset(asset).dump() for asset in page]
    return render_template(
        "dashboard/assets.html",
        assets=rows,
        chosen=chosen,
        asset_types=ASSET_TYPES,
        severities=SEVERITIES,
        next_url=url_for("dashboard.assets", **chosen, cursor=following) if following else None,
        first_url=url_for("dashboard.assets", **chosen) if cursor else None,
    )


@bp.get("/assets/<asset_id>")
def asset_page(asset_id: str):
    svc = services()
    with svc.transactions.reading() as session:
        found = svc.inventory.asset(
            session, parse_id(asset_id, "asset"), signed_in().client_account_id
        )
        detail = svc.responses.asset_detail(found).dump()
    name = detail["name"] or detail["hostname_key"] or detail["id"]
    graph = dependency_graph(
        name,
        neighbours(detail["depended_on_by"], lambda edge: edge["asset_id"]),
        neighbours(detail["depends_on"], lambda edge: edge["target"]),
    )
    return render_template("dashboard/asset.html", asset=detail, name=name, graph=graph)


def neighbours(edges: list[dict[str, Any]], reference) -> list[Neighbour]:
    """One neighbour per asset (or unresolved reference) at the other end of ``edges``."""
    found: dict[str, Neighbour] = {}
    for edge in edges:
        key = edge["asset_id"] or reference(edge)
        neighbour = found.setdefault(
            key, Neighbour(edge["name"] or reference(edge), edge["asset_id"], [])
        )
        neighbour.via.append(connection_label(edge))
    return list(found.values())


def connection_label(edge: dict[str, Any]) -> str:
    """How an edge is known: its protocol and port when a connection was observed."""
    if edge["port"] is not None:
        return f"{edge['protocol'] or 'port'}/{edge['port']}"
    return "observed" if edge["observed"] else "declared"
