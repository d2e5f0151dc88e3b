"""ImportStorageHandler: the upload, from request to answer, composed of the import services.

validate the options → in one transaction: idempotency, conflict check, import row, raw records by
COPY, step runs with their task ids → commit → send the first step's task → answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from importer import metrics
from importer.errors import InvalidUpload
from importer.models import STEP_ORDER, DataImport
from importer.parsing import ParseLimits
from importer.services.background import BackgroundExecutionService
from importer.services.import_validator import ImportValidator
from importer.services.responses import ImportResponseBuilder
from importer.services.storage import ImportStorageManager
from importer.services.transactions import ImportTransactionManager
from importer.uploads import Upload
from web.schemas import ImportAccepted


@dataclass(frozen=True)
class HandlerResult:
    status: int
    data_import: DataImport  # the import stored, or the one replayed
    body: ImportAccepted
    replayed: bool = False


class ImportStorageHandler:
    def __init__(
        self,
        validator: ImportValidator,
        storage: ImportStorageManager,
        transactions: ImportTransactionManager,
        background: BackgroundExecutionService,
        responses: ImportResponseBuilder,
        limits: ParseLimits,
    ) -> None:
        self._validator = validator
        self._storage = storage
        self._tx = transactions
        self._background = background
        self._responses = responses
        self._limits = limits

    def handle(self, client_account_id: uuid.UUID, upload: Upload) -> HandlerResult:
        options = upload.options
        self._validator.validate_options(options)
        try:
            with self._tx.transaction() as session:
                self._tx.lock_engagement(session, client_account_id, options.engagement)
                if options.idempotency_key:
                    existing = self._storage.find_by_idempotency_key(
                        session, client_account_id, options.idempotency_key
                    )
                    if existing is not None:
                        return self._replay(existing, upload)
                self._validator.ensure_no_unfinished_import(
                    session, client_account_id, options.engagement
                )
                source = upload.open(self._limits)
                data_import = self._storage.create_import(
                    session, client_account_id, options, source, content_sha256=None
                )
                self._storage.store_records(session, data_import, source)
                data_import.content_sha256 = upload.content_sha256()
                self._background.plan_steps(session, data_import, STEP_ORDER)
        except IntegrityError:
            # A concurrent upload with the same idempotency key in another engagement won.
            if not options.idempotency_key:
                raise
            with self._tx.reading() as session:
                existing = self._storage.find_by_idempotency_key(
                    session, client_account_id, options.idempotency_key
                )
            return self._replay(existing, upload)
        metrics.rows_ingested(data_import.records_stored)
        self._background.send_next(data_import.id, client_account_id)
        return HandlerResult(202, data_import, self._responses.accepted(data_import))

    def _replay(self, existing: DataImport, upload: Upload) -> HandlerResult:
        """The first import made with this key, provided the body is the same one."""
        if existing.content_sha256 != upload.content_sha256():
            raise InvalidUpload(
                "This Idempotency-Key was used before with a different body.",
                code="idempotency-key-reused",
                details={"import_id": str(existing.id)},
            )
        return HandlerResult(202, existing, self._responses.accepted(existing), replayed=True)
