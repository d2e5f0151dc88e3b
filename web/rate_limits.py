"""Per-API-key rate limits on uploads (Flask-Limiter, counted in Redis across processes)."""

from __future__ import annotations

import hashlib

from flask import Flask, request
from flask_limiter import Limiter

from importer.config import Settings


def api_key_identity() -> str:
    """Who is counted: the API key (hashed, never stored as given), else the client address."""
    header = request.headers.get("Authorization", "")
    if header:
        return "key:" + hashlib.sha256(header.encode("utf-8", "surrogatepass")).hexdigest()
    return "addr:" + (request.remote_addr or "unknown")


def install_rate_limits(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        api_key_identity,
        app=app,
        storage_uri=settings.redis_url,
        key_prefix=f"{settings.redis_prefix}:ratelimit",
        headers_enabled=True,
        strategy="moving-window",
        # Redis down: count in memory rather than refuse every upload with a 500.
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    # The limit wraps the view: Flask-Limiter checks decorated views when they are called.
    endpoint = "imports.create_import"
    app.view_functions[endpoint] = limiter.limit(settings.upload_rate_limit, methods=["POST"])(
        app.view_functions[endpoint]
    )
    return limiter
