"""Read-side queries, every one scoped to the caller's client account."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from importer.errors import NotFound
from importer.models import (
    STEP_ORDER,
    DataImport,
    DiscoveryFlow,
    ImportFieldMapping,
    ImportStatus,
    ImportStepRun,
    RawImportRecord,
    ValidationIssue,
)
from importer.services.pagination import InvalidQuery, decode_cursor, encode_cursor


class ImportQueryService:
    def get(
        self, session: Session, import_id: uuid.UUID, client_account_id: uuid.UUID
    ) -> DataImport:
        data_import = session.scalars(
            select(DataImport).where(
                DataImport.id == import_id, DataImport.client_account_id == client_account_id
            )
        ).one_or_none()
        if data_import is None:
            # The same answer whether the import does not exist or belongs to someone else.
            raise NotFound("No such import.", details={"id": str(import_id)})
        return data_import

    def detail(
        self, session: Session, import_id: uuid.UUID, client_account_id: uuid.UUID
    ) -> tuple[DataImport, list[ImportStepRun], DiscoveryFlow | None]:
        """The import with its step runs and flow, in one statement: the GET clients poll.

        One statement sees one snapshot, so it runs without a transaction: no BEGIN and
        ROLLBACK round trips (call it first in its session).
        """
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        rows = session.execute(
            select(DataImport, ImportStepRun, DiscoveryFlow)
            .outerjoin(
                ImportStepRun,
                and_(
                    ImportStepRun.import_id == DataImport.id,
                    ImportStepRun.client_account_id == DataImport.client_account_id,
                ),
            )
            .outerjoin(
                DiscoveryFlow,
                and_(
                    DiscoveryFlow.import_id == DataImport.id,
                    DiscoveryFlow.client_account_id == DataImport.client_account_id,
                ),
            )
            .where(DataImport.id == import_id, DataImport.client_account_id == client_account_id)
        ).all()
        if not rows:
            raise NotFound("No such import.", details={"id": str(import_id)})
        data_import, _, flow = rows[0]
        runs = [run for _, run, _ in rows if run is not None]
        return data_import, sorted(runs, key=_step_order), flow

    def steps(self, session: Session, data_import: DataImport) -> list[ImportStepRun]:
        runs = session.scalars(
            select(ImportStepRun).where(
                ImportStepRun.import_id == data_import.id,
                ImportStepRun.client_account_id == data_import.client_account_id,
            )
        ).all()
        return sorted(runs, key=_step_order)

    def flow(self, session: Session, data_import: DataImport) -> DiscoveryFlow | None:
        return session.scalars(
            select(DiscoveryFlow).where(
                DiscoveryFlow.import_id == data_import.id,
                DiscoveryFlow.client_account_id == data_import.client_account_id,
            )
        ).one_or_none()

    def list(
        self,
        session: Session,
        client_account_id: uuid.UUID,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[DataImport], str | None]:
        query = select(DataImport).where(DataImport.client_account_id == client_account_id)
        if status is not None:
            if status not in tuple(ImportStatus):
                raise InvalidQuery(
                    f"Unknown status {status!r}.",
                    details={"status": status, "allowed": list(ImportStatus)},
                )
            query = query.where(DataImport.status == status)
        position = decode_cursor(cursor)
        if position is not None:
            created, last_id = self._import_position(position, cursor)
            query = query.where(
                or_(
                    DataImport.created_at < created,
                    and_(DataImport.created_at == created, DataImport.id < last_id),
                )
            )
        rows = session.scalars(
            query.order_by(DataImport.created_at.desc(), DataImport.id.desc()).limit(limit + 1)
        ).all()
        page = list(rows[:limit])
        following = None
        if len(rows) > limit:
            last = page[-1]
            following = encode_cursor([last.created_at.isoformat(), str(last.id)])
        return page, following

    @staticmethod
    def _import_position(position: list[Any], cursor: str) -> tuple[datetime, uuid.UUID]:
        try:
            created, last_id = position
            return datetime.fromisoformat(created), uuid.UUID(last_id)
        except (TypeError, ValueError) as exc:
            raise InvalidQuery("The cursor is not valid.", details={"cursor": cursor}) from exc

    def records(
        self, session: Session, data_import: DataImport, cursor: str | None, limit: int
    ) -> tuple[list[RawImportRecord], str | None]:
        return self._page_after(
            session, RawImportRecord, RawImportRecord.row_number, data_import, cursor, limit
        )

    def issues(
        self, session: Session, data_import: DataImport, cursor: str | None, limit: int
    ) -> tuple[list[ValidationIssue], str | None]:
        return self._page_after(
            session, ValidationIssue, ValidationIssue.id, data_import, cursor, limit
        )

    def _page_after(self, session: Session, model, key, data_import, cursor, limit):
        """One page of an import's rows of ``model`` in ``key`` order, after the cursor's key."""
        after = self._int_position(decode_cursor(cursor), cursor)
        rows = session.scalars(
            select(model)
            .where(
                model.import_id == data_import.id,
                model.client_account_id == data_import.client_account_id,
                key > after,
            )
            .order_by(key)
            .limit(limit + 1)
        ).all()
        page = list(rows[:limit])
        following = encode_cursor([getattr(page[-1], key.key)]) if len(rows) > limit else None
        return page, following

    def mappings(self, session: Session, data_import: DataImport) -> list[ImportFieldMapping]:
        return list(
            session.scalars(
                select(ImportFieldMapping)
                .where(
                    ImportFieldMapping.import_id == data_import.id,
                    ImportFieldMapping.client_account_id == data_import.client_account_id,
                )
                .order_by(ImportFieldMapping.position)
            ).all()
        )

    @staticmethod
    def _int_position(position: list[Any] | None, cursor: str | None) -> int:
        if position is None:
            return 0
        if len(position) != 1 or not isinstance(position[0], int):
            raise InvalidQuery("The cursor is not valid.", details={"cursor": cursor})
        return position[0]


def _step_order(run: ImportStepRun) -> tuple[int, int]:
    return run.attempt, STEP_ORDER.index(run.step)
