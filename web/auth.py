"""Bearer API keys: each request to the API is made on behalf of one client account."""

from __future__ import annotations

import uuid

from flask import current_app, g, request

from importer.errors import Unauthorized


def authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("An API key is required: Authorization: Bearer <key>.")
    services = current_app.extensions["importer"].services
    account_id = services.api_keys.authenticate(key.strip())
    if account_id is None:
        raise Unauthorized("The API key is not valid.", code="invalid-api-key")
    g.client_account_id = account_id


def client_account_id() -> uuid.UUID:
    return g.client_account_id
