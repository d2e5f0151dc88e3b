"""Errors a client can cause, each with a stable code and an HTTP status."""

from __future__ import annotations

from typing import Any


class ImporterError(Exception):
    """An error the API reports as ``{"error": {"code", "message", "details"}}``."""

    status = 400
    code = "bad-request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidUpload(ImporterError):
    """The upload's content cannot become records (422)."""

    status = 422
    code = "invalid-upload"


class UnsupportedMediaType(ImporterError):
    status = 415
    code = "unsupported-media-type"


class PayloadTooLarge(ImporterError):
    status = 413
    code = "payload-too-large"


class NotFound(ImporterError):
    status = 404
    code = "not-found"


class Conflict(ImporterError):
    status = 409
    code = "conflict"


class Unauthorized(ImporterError):
    status = 401
    code = "unauthorized"


class ServiceUnavailable(ImporterError):
    status = 503
    code = "service-unavailable"
