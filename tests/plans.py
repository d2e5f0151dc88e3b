"""The plans PostgreSQL really ran, with the rows each node handled, captured by auto_explain.

auto_explain sends every statement's executed plan to the client as a notice (``log_level``),
so plans are caught on every connection of the engine whoever opens them: the phases' sessions,
their range readers and the raw driver cursors alike. Rows, not timings: a plan's work is the
rows its nodes produced or threw away, which does not depend on how busy the machine is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, event

SETTINGS = (
    "LOAD 'auto_explain'",
    "SET auto_explain.log_min_duration = 0",
    "SET auto_explain.log_analyze = on",
    "SET auto_explain.log_timing = off",
    "SET auto_explain.log_format = 'json'",
    "SET auto_explain.log_level = 'notice'",
    "SET auto_explain.log_nested_statements = on",
)
# Rows a node read and dropped: the work a filter hides behind a small "Actual Rows".
REMOVED = ("Rows Removed by Filter", "Rows Removed by Join Filter", "Rows Removed by Index Recheck")


@dataclass(frozen=True)
class ExecutedPlan:
    query: str
    plan: dict

    @property
    def work(self) -> int:
        """Rows produced or removed by every node, over all of its loops."""
        return sum(_node_work(node) for node in _nodes(self.plan))

    def nodes_reading(self, table: str) -> list[dict]:
        """The nodes that read ``table`` (scans, not the writes into it)."""
        return [
            node
            for node in _nodes(self.plan)
            if node.get("Relation Name") == table and node["Node Type"] != "ModifyTable"
        ]

    def heaviest_node(self) -> str:
        node = max(_nodes(self.plan), key=_node_work)
        where = " ".join(
            f"{key.lower()} {node[key]}"
            for key in ("Relation Name", "Index Name", "Index Cond", "Filter", "Join Filter")
            if key in node
        )
        return f"{node['Node Type']} ({_node_work(node)} rows) {where}".strip()


def _nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def _node_work(node: dict) -> int:
    per_loop = node.get("Actual Rows", 0) + sum(node.get(key, 0) for key in REMOVED)
    return round(per_loop * node.get("Actual Loops", 0))


@contextmanager
def captured_plans(engine: Engine) -> Iterator[list[ExecutedPlan]]:
    """Every plan executed on ``engine``'s connections while the block runs."""
    plans: list[ExecutedPlan] = []

    def on_notice(diagnostic) -> None:
        message = diagnostic.message_primary or ""
        _, marker, body = message.partition("plan:\n")
        if marker:
            document = json.loads(body)
            plans.append(ExecutedPlan(document["Query Text"], document["Plan"]))

    def on_checkout(dbapi_connection, record, _proxy) -> None:
        if record.info.get("auto_explain"):
            return
        record.info["auto_explain"] = True
        with dbapi_connection.cursor() as cursor:
            for statement in SETTINGS:
                cursor.execute(statement)
        dbapi_connection.commit()
        dbapi_connection.add_notice_handler(on_notice)

    # Connections opened before the block have no auto_explain; those opened in it keep it.
    engine.dispose()
    event.listen(engine, "checkout", on_checkout)
    try:
        yield plans
    finally:
        event.remove(engine, "checkout", on_checkout)
        engine.dispose()
