"""The account's inventory at a glance: assets by type, OS family and environment, and how
many reach end of support."""

from __future__ import annotations

from flask import render_template

from importer.models.asset import SEVERITIES
from web.dashboard.blueprint import bp, queries, signed_in
from web.dashboard.charts import bar_chart
from web.ids import services

CHARTS = (
    ("asset-type", "Assets by type", "asset_type"),
    ("os-family", "Assets by OS family", "os_family"),
    ("environment", "Assets by environment", "environment"),
)


@bp.get("/inventory")
def inventory():
    svc = services()
    with svc.transactions.reading() as session:
        counts = queries.inventory_counts(session, signed_in().client_account_id)
    severity = dict(counts["end_of_support"])
    return render_template(
        "dashboard/inventory.html",
        charts=[(slug, title, bar_chart(counts[name])) for slug, title, name in CHARTS],
        total=sum(count for _, count in counts["asset_type"]),
        end_of_support=[(name, severity.get(name, 0)) for name in SEVERITIES],
    )
