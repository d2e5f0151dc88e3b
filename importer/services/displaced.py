"""What a chunked phase's chunks displaced that was not their import's own, kept until the phase
ends (importer.models.staging.DisplacedRow).

A chunk commits on its own, long before its phase succeeds: when it deletes another import's
rows or overwrites an asset's columns, what it replaced is kept beside, in the same transaction,
so that a discard of the cancelled phase puts it back (the state before the phase) and its finish
forgets it. Deleted rows are kept whole and inserted again; overwritten ones as their key and old
columns, of which the first kept per key (the value before the phase) is written back.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

# Appended to "WITH gone AS (DELETE ... RETURNING ...)": keeps each row the statement deleted.
KEEP_DELETED = """
    INSERT INTO displaced_rows (import_id, phase, relation, data)
    SELECT CAST(:import_id AS uuid), :phase, :relation, to_jsonb(gone) FROM gone
"""
KEEP = text(
    """
    INSERT INTO displaced_rows (import_id, phase, relation, data)
    SELECT CAST(:import_id AS uuid), :phase, :relation, CAST(d AS jsonb)
    FROM unnest(CAST(:data AS text[])) AS d
    """
)
# Deleted rows back as they were, ids included (a sequence never hands them out again), those
# that ``still`` holds for (what they refer to was not deleted since).
RESTORE_DELETED = """
    INSERT INTO {relation}
    SELECT (r.row).* FROM (
        SELECT jsonb_populate_record(NULL::{relation}, data) AS row FROM displaced_rows
        WHERE import_id = :import_id AND phase = :phase AND relation = :relation ORDER BY id
    ) r
    WHERE {still}
"""
OVERWRITTEN = text(
    """
    SELECT DISTINCT ON (data ->> 'id') data FROM displaced_rows
    WHERE import_id = :import_id AND phase = :phase AND relation = :relation
    ORDER BY data ->> 'id', id
    """
)
FORGET = text("DELETE FROM displaced_rows WHERE import_id = :import_id AND phase = :phase")


class Displaced:
    """The displaced rows of one phase of an import."""

    def __init__(self, session: Session, import_id: uuid.UUID, phase: str) -> None:
        self._session = session
        self._params = {"import_id": import_id, "phase": phase}

    def delete(self, relation: str, deleting: str, params: dict[str, Any]) -> int:
        """Runs ``deleting`` (a DELETE from ``relation`` ... RETURNING *) and keeps what it
        deleted; how many rows."""
        statement = text(f"WITH gone AS ({deleting}) {KEEP_DELETED}")
        return self._session.execute(
            statement, {**params, **self._params, "relation": relation}
        ).rowcount

    def overwriting(self, relation: str, old: list[dict[str, Any]]) -> None:
        """Keeps ``old`` (each row's "id" and the columns about to be overwritten)."""
        if old:
            data = [orjson.dumps(row).decode() for row in old]
            self._session.execute(KEEP, {**self._params, "relation": relation, "data": data})

    def restore_deleted(self, relation: str, still: str = "true") -> None:
        """The deleted rows of ``relation`` back, those for which ``still`` holds (SQL of the
        restored row, ``(r.row)``)."""
        statement = text(RESTORE_DELETED.format(relation=relation, still=still))
        self._session.execute(statement, {**self._params, "relation": relation})

    def overwritten(self, relation: str) -> list[dict[str, Any]]:
        """Each overwritten row's key and columns as they were before the phase."""
        return list(self._session.scalars(OVERWRITTEN, {**self._params, "relation": relation}))

    def forget(self) -> None:
        self._session.execute(FORGET, self._params)
