"""A small client for the REST API, used by the CLI (which never reads the database directly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class ApiClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 300.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.is_error:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise ApiError(
                response.status_code,
                error.get("code", "http-error"),
                error.get("message", response.reason_phrase),
                error.get("details"),
            )
        return body

    def upload(self, path: Path, import_type: str, engagement: str) -> dict[str, Any]:
        with path.open("rb") as handle:
            response = self._http.post(
                "/api/v1/imports",
                files={"file": (path.name, handle)},
                data={"import_type": import_type, "engagement": engagement},
            )
        return self._json(response)

    def get(self, import_id: str) -> dict[str, Any]:
        return self._json(self._http.get(f"/api/v1/imports/{import_id}"))

    def list(self, status: str | None = None, limit: int = 50) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return self._json(self._http.get("/api/v1/imports", params=params))

    def cancel(self, import_id: str) -> dict[str, Any]:
        return self._json(self._http.post(f"/api/v1/imports/{import_id}/cancel"))

    def retry(self, import_id: str) -> dict[str, Any]:
        return self._json(self._http.post(f"/api/v1/imports/{import_id}/retry"))

    def undo(self, import_id: str) -> dict[str, Any]:
        return self._json(self._http.post(f"/api/v1/imports/{import_id}/undo"))

    def commit(self, import_id: str) -> dict[str, Any]:
        return self._json(self._http.post(f"/api/v1/imports/{import_id}/commit"))

    def flow(self, flow_id: str) -> dict[str, Any]:
        return self._json(self._http.get(f"/api/v1/flows/{flow_id}"))

    def resume(self, flow_id: str) -> dict[str, Any]:
        return self._json(self._http.post(f"/api/v1/flows/{flow_id}/resume"))

    def errors(self, import_id: str, limit: int) -> dict[str, Any]:
        return self._json(
            self._http.get(f"/api/v1/imports/{import_id}/errors", params={"limit": limit})
        )

    def mappings(self, import_id: str) -> dict[str, Any]:
        return self._json(self._http.get(f"/api/v1/imports/{import_id}/mappings"))

    def put_mappings(self, import_id: str, changes: list[dict[str, Any]]) -> dict[str, Any]:
        return self._json(
            self._http.put(f"/api/v1/imports/{import_id}/mappings", json={"mappings": changes})
        )

    def close(self) -> None:
        self._http.close()
