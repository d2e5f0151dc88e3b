"""ImportValidator: is this upload acceptable before anything is stored?"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from importer.canonical import IMPORT_TYPES
from importer.errors import Conflict, InvalidUpload, ServiceUnavailable
from importer.models import FINAL_IMPORT_STATUSES, DataImport, DiscoveryFlow
from importer.services.transactions import ImportTransactionManager

MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class ImportOptions:
    import_type: str
    engagement: str
    filename: str | None
    idempotency_key: str | None


def is_storable_text(value: str) -> bool:
    """PostgreSQL text holds neither NUL nor unpaired surrogates."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ImportValidator:
    def validate_options(self, options: ImportOptions) -> None:
        if options.import_type not in IMPORT_TYPES:
            raise InvalidUpload(
                f"Unknown import_type {options.import_type!r}.",
                code="invalid-import-type",
                details={"import_type": options.import_type, "allowed": list(IMPORT_TYPES)},
            )
        for name in ("engagement", "filename", "idempotency_key"):
            value = getattr(options, name)
            if value is None:
                continue
            if len(value) > MAX_NAME_LENGTH:
                raise InvalidUpload(
                    f"{name} is longer than {MAX_NAME_LENGTH} characters.",
                    code="value-too-long",
                    details={"field": name, "limit": MAX_NAME_LENGTH},
                )
            if not is_storable_text(value):
                raise InvalidUpload(
                    f"{name} holds characters that cannot be stored (NUL or lone surrogates).",
                    code="invalid-field",
                    details={"field": name},
                )
        if not options.engagement.strip():
            raise InvalidUpload(
                "engagement must not be blank.", code="invalid-engagement", details={}
            )

    def ensure_no_unfinished_import(
        self,
        session: Session,
        client_account_id: uuid.UUID,
        engagement: str,
        *,
        excluding: uuid.UUID | None = None,
    ) -> None:
        """Refuse while the engagement has an import whose discovery has not finished.

        The check fails closed: when it cannot be made, the upload is refused (503), never let
        through.
        """
        try:
            ImportTransactionManager.lock_engagement(session, client_account_id, engagement)
            query = (
                select(DataImport, DiscoveryFlow)
                .outerjoin(DiscoveryFlow, DiscoveryFlow.import_id == DataImport.id)
                .where(
                    DataImport.client_account_id == client_account_id,
                    DataImport.engagement == engagement,
                    DataImport.status.not_in(FINAL_IMPORT_STATUSES),
                )
                .order_by(DataImport.created_at)
                .limit(1)
            )
            if excluding is not None:
                query = query.where(DataImport.id != excluding)
            running = session.execute(query).first()
        except SQLAlchemyError as exc:
            raise ServiceUnavailable(
                "Could not check for a running discovery flow; the upload was refused.",
                code="conflict-check-failed",
            ) from exc
        if running is None:
            return
        data_import, flow = running
        raise Conflict(
            f"Engagement {engagement!r} already has an import whose discovery has not finished.",
            code="discovery-in-progress",
            details={
                "import_id": str(data_import.id),
                "import_status": data_import.status,
                "flow": None
                if flow is None
                else {
                    "id": str(flow.id),
                    "status": flow.status,
                    "current_phase": flow.current_phase,
                },
            },
        )
