"""GET /metrics: Prometheus exposition, aggregated over processes in multiprocess mode.

Unauthenticated like /healthz: Prometheus scrapes it from inside the network. It names the client
accounts with the most imports and counts their imports, so keep it off the public side of the
proxy.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from importer import metrics

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def prometheus_metrics():
    resources = current_app.extensions["importer"]
    # One collector per app: it keeps its broker connection between scrapes.
    collector = current_app.extensions.get("importer_metrics")
    if collector is None:
        collector = current_app.extensions["importer_metrics"] = metrics.ScrapeTimeCollector(
            resources
        )
    body, content_type = metrics.scrape(resources, collector)
    return Response(body, content_type=content_type)
