"""ImportTransactionManager: each write runs in one explicit transaction, rolled back on error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from importer.models import DataImport


def work_lock_key(run_id: uuid.UUID) -> int:
    """A 64-bit advisory lock key from a run's id (a UUID's high half, as a signed bigint)."""
    return int.from_bytes(run_id.bytes[:8], "big", signed=True)


class ImportTransactionManager:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed when the block ends, rolled back on error."""
        with self._session_factory() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._session_factory() as session:
            yield session

    @staticmethod
    def lock_import(
        session: Session, import_id: uuid.UUID, client_account_id: uuid.UUID, share: bool = False
    ) -> DataImport | None:
        """The import's row, locked until the transaction ends: status changes are serialised.

        ``share``: a share lock, which the chunks of one import hold together while they commit,
        and which waits for (and makes wait) whoever changes the import's status.
        """
        return session.scalars(
            select(DataImport)
            .where(DataImport.id == import_id, DataImport.client_account_id == client_account_id)
            # NO KEY UPDATE: the work writes rows referencing the import, which takes KEY SHARE
            # locks on it; a plain FOR UPDATE would make a cancel wait for the step to finish.
            .with_for_update(read=share, key_share=not share)
            .execution_options(populate_existing=True)
        ).one_or_none()

    @staticmethod
    def lock_engagement(session: Session, client_account_id: uuid.UUID, engagement: str) -> None:
        """Serialise uploads into one engagement, so two cannot both pass the conflict check."""
        session.execute(
            select(
                func.pg_advisory_xact_lock(
                    func.hashtextextended(f"{client_account_id}/{engagement}", 0)
                )
            )
        )

    @staticmethod
    def try_lock_work(session: Session, run_id: uuid.UUID) -> bool:
        """A run's work lock, held until the transaction ends; False if another holds it.

        Held by whichever worker works on the run; PostgreSQL releases it when that worker's
        connection dies, so a free lock on a "running" run means its worker is gone.
        """
        return bool(session.scalar(select(func.pg_try_advisory_xact_lock(work_lock_key(run_id)))))

    @staticmethod
    def driver_connection(session: Session) -> psycopg.Connection:
        """The psycopg connection under the session, in the same transaction (for COPY)."""
        return session.connection().connection.driver_connection
