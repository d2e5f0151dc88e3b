"""Every error as JSON: {"error": {"code", "message", "details"}}; never an HTML page."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from importer.errors import ImporterError
from web.schemas import ErrorInfo, ErrorResponse

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, details: dict | None = None):
    body = ErrorResponse(error=ErrorInfo(code=code, message=message, details=details or {}))
    return jsonify(body.dump()), status


def http_error_code(exc: HTTPException) -> str:
    """A stable code from Werkzeug's error name: "Method Not Allowed" -> "method-not-allowed"."""
    return (exc.name or "error").lower().replace(" ", "-")


def register(app: Flask) -> None:
    @app.errorhandler(ImporterError)
    def importer_error(exc: ImporterError):
        response, status = error_response(exc.status, exc.code, exc.message, exc.details)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response, status

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge):
        limit = app.config["MAX_CONTENT_LENGTH"]
        return error_response(
            413,
            "payload-too-large",
            f"The request body exceeds the upload limit of {limit} bytes.",
            {"limit_bytes": limit, "setting": "IMPORTER_MAX_UPLOAD_BYTES"},
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error_response(exc.code or 500, http_error_code(exc), exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal-error", "An unexpected error occurred.")
