"""Read-side queries, every one scoped to the caller's client account."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from importer.errors import NotFound
from importer.models import (
    STEP_ORDER,
    DataImport,
    DiscoveryFlow,
    ImportStatus,
    RawImportRecord,
    Run,
    RunKind,
    ValidationIssue,
)
from importer.pipeline import transitions
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
    ) -> tuple[Any, list[Any], Any | None]:
        """The import, its step runs and its flow, as read-only views with the attributes
        ImportResponseBuilder.detail reads: the GET clients poll, made of one statement.

        One statement sees one snapshot, so it runs without a transaction (no BEGIN and
        ROLLBACK round trips: call it first in its session), and plain columns rather than
        ORM objects cost a third of the CPU.
        """
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        rows = session.execute(
            _DETAIL, {"import_id": import_id, "client_account_id": client_account_id}
        ).all()
        if not rows:
            raise NotFound("No such import.", details={"id": str(import_id)})
        first = rows[0]
        data_import = _view(_IMPORT_FIELDS, first[:_RUNS_AT])
        flow = None if first[_FLOW_AT] is None else _view(_FLOW_FIELDS, first[_FLOW_AT:])
        runs = [_view(_RUN_FIELDS, row[_RUNS_AT:_FLOW_AT]) for row in rows if row[_RUNS_AT]]
        return data_import, sorted(runs, key=step_order), flow

    def steps(self, session: Session, data_import: DataImport) -> list[Run]:
        runs = session.scalars(
            select(Run).where(*transitions.of_import(data_import), Run.kind == RunKind.STEP)
        ).all()
        return sorted(runs, key=step_order)

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

    @staticmethod
    def _int_position(position: list[Any] | None, cursor: str | None) -> int:
        if position is None:
            return 0
        if len(position) != 1 or not isinstance(position[0], int):
            raise InvalidQuery("The cursor is not valid.", details={"cursor": cursor})
        return position[0]


def step_order(run: Any) -> tuple[int, int]:
    """Runs in the order they ran: attempt by attempt, each in the pipeline's order."""
    return run.attempt, STEP_ORDER.index(run.name)


def _view(fields: tuple[str, ...], values: Sequence[Any]) -> SimpleNamespace:
    return SimpleNamespace(**dict(zip(fields, values, strict=True)))


_IMPORT_FIELDS = (
    "id", "status", "filename", "import_type", "engagement", "records_stored", "valid_records",
    "invalid_records", "error", "created_at", "updated_at", "finished_at", "format", "encoding",
    "delimiter", "sheet", "profile", "columns",
)  # fmt: skip
# "name" first: it is never null, so a row without a step run has None there.
_RUN_FIELDS = ("name", "status", "task_id", "attempt", "started_at", "finished_at", "error")
# "id" first, likewise.
_FLOW_FIELDS = (
    "id", "import_id", "status", "current_phase", "progress", "error", "started_at", "finished_at",
)  # fmt: skip
_RUNS_AT = len(_IMPORT_FIELDS)
_FLOW_AT = _RUNS_AT + len(_RUN_FIELDS)


def _detail_statement():
    imports, runs, flows = DataImport.__table__, Run.__table__, DiscoveryFlow.__table__
    # The flow's status and error are read from its phase runs (DiscoveryFlow's properties).
    flow_columns = {"status": DiscoveryFlow.status, "error": DiscoveryFlow.error}
    return (
        select(
            *(imports.c[name] for name in _IMPORT_FIELDS),
            *(runs.c[name].label(f"run_{name}") for name in _RUN_FIELDS),
            *(
                (flow_columns[name] if name in flow_columns else flows.c[name]).label(
                    f"flow_{name}"
                )
                for name in _FLOW_FIELDS
            ),
        )
        .outerjoin(
            runs,
            and_(
                runs.c.import_id == imports.c.id,
                runs.c.client_account_id == imports.c.client_account_id,
                runs.c.kind == RunKind.STEP,
            ),
        )
        .outerjoin(
            flows,
            and_(
                flows.c.import_id == imports.c.id,
                flows.c.client_account_id == imports.c.client_account_id,
            ),
        )
        .where(
            imports.c.id == bindparam("import_id"),
            imports.c.client_account_id == bindparam("client_account_id"),
        )
    )


_DETAIL = _detail_statement()
