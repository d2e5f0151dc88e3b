"""Dependency targets of a record, and the circular dependencies among assets."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

_SEPARATORS = re.compile(r"[;,\s]+")


def parse_targets(raw: Any) -> list[str]:
    """Target names from "db-01; cache-01", a JSON list, or a single value, in order, once each."""
    items = raw if isinstance(raw, list) else [raw]
    targets: dict[str, None] = {}
    for item in items:
        # Integers can name an asset ("1001"); bools, floats and objects cannot.
        if isinstance(item, bool) or not isinstance(item, str | int):
            continue
        for target in _SEPARATORS.split(str(item)):
            if target:
                targets[target] = None
    return list(targets)


def find_cycles(edges: Iterable[tuple[Hashable, Hashable]]) -> list[list[Hashable]]:
    """Each group of assets that depend on one another in a circle, once.

    A group is a strongly connected component of more than one node, or a node depending on
    itself alone. A component may hold several intertwined cycles, so it is given as its nodes
    in the order they first appear in the edges rather than as one cycle's path. Groups come
    in the same order, by their first node.
    """
    graph: dict[Hashable, list[Hashable]] = {}
    self_loops: set[Hashable] = set()
    for source, target in edges:
        graph.setdefault(source, []).append(target)
        graph.setdefault(target, [])
        if source == target:
            self_loops.add(source)
    position = {node: index for index, node in enumerate(graph)}
    cycles = [
        sorted(component, key=position.__getitem__)
        for component in _strongly_connected_components(graph)
        if len(component) > 1 or component[0] in self_loops
    ]
    cycles.sort(key=lambda cycle: position[cycle[0]])
    return cycles


def _strongly_connected_components(
    graph: dict[Hashable, list[Hashable]],
) -> Iterator[list[Hashable]]:
    """Tarjan's algorithm with an explicit stack: a 1M-edge chain would overflow recursion."""
    index: dict[Hashable, int] = {}
    low: dict[Hashable, int] = {}
    stack: list[Hashable] = []
    on_stack: set[Hashable] = set()
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(graph[successor])))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.remove(member)
                        component.append(member)
                        if member == node:
                            break
                    yield component
