"""Dependency targets of a record, and the circular dependencies among assets."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from importer.discovery.normalize import split_list


def parse_targets(raw: Any) -> list[str]:
    """Target names from "db-01; cache-01", a JSON list, or a single value, in order, once each.

    Split as the cleansing splits list cells (importer.discovery.normalize.split_list): on ";",
    "," and new lines and ServiceNow's "::", never on spaces.
    """
    items = raw if isinstance(raw, list) else [raw]
    targets: dict[str, None] = {}
    for item in items:
        # Integers can name an asset ("1001"); bools, floats and objects cannot.
        if isinstance(item, bool) or not isinstance(item, str | int):
            continue
        targets.update(dict.fromkeys(split_list(str(item))))
    return list(targets)


def find_cycles(edges: Iterable[tuple[Hashable, Hashable]]) -> list[list[Hashable]]:
    """Each group of assets that depend on one another in a circle, once.

    A group is a strongly connected component of more than one node, or a node depending on
    itself alone. A component may hold several intertwined cycles, so it is given as its nodes
    in the order they first appear in the edges rather than as one cycle's path. Groups come
    in the same order, by their first node.

    The components are scipy's (compiled): a million edges took 6 s in a Python Tarjan, most
    of what is left is numbering the nodes.
    """
    # Imported here: the API's processes, which import this module and never look for cycles,
    # would each carry some 20 MB more.
    import numpy as np
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import connected_components

    position: dict[Hashable, int] = {}
    numbered = [position.setdefault(node, len(position)) for edge in edges for node in edge]
    if not numbered:
        return []
    pairs = np.array(numbered, dtype=np.int32).reshape(-1, 2)
    sources, targets = pairs[:, 0], pairs[:, 1]
    size = len(position)
    # float64 is the type csgraph works in; repeated edges add up, they never cancel out.
    graph = csr_array((np.ones(len(pairs)), (sources, targets)), shape=(size, size))
    count, labels = connected_components(graph, directed=True, connection="strong")
    cyclic = np.bincount(labels, minlength=count) > 1
    cyclic[labels[sources[sources == targets]]] = True
    groups: dict[int, list[Hashable]] = {}
    nodes = list(position)
    # Ascending positions: each group in first-appearance order, groups by their first node.
    for member in np.flatnonzero(cyclic[labels]).tolist():
        groups.setdefault(labels[member], []).append(nodes[member])
    return list(groups.values())
