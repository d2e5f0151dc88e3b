"""Charts as plain geometry, drawn as inline SVG by the templates: horizontal bar charts, and an
asset's dependencies both ways as a graph."""

from __future__ import annotations

from dataclasses import dataclass

LABEL_WIDTH = 170
BAR_AREA = 300
ROW_HEIGHT = 24
BAR_HEIGHT = 16


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    y: int
    width: int


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    height: int
    label_width: int = LABEL_WIDTH
    bar_area: int = BAR_AREA
    bar_height: int = BAR_HEIGHT

    @property
    def width(self) -> int:
        # Room after the longest bar for its count.
        return self.label_width + self.bar_area + 60


def bar_chart(counts: list[tuple[str, int]]) -> BarChart:
    largest = max((count for _, count in counts), default=0)
    bars = [
        Bar(
            label=label,
            count=count,
            y=position * ROW_HEIGHT,
            # Every non-zero count gets a visible bar, however small beside the largest.
            width=max(2, round(BAR_AREA * count / largest)) if count else 0,
        )
        for position, (label, count) in enumerate(counts)
    ]
    return BarChart(bars=bars, height=max(ROW_HEIGHT, len(bars) * ROW_HEIGHT))


# An asset's graph: what depends on it on the left, the asset in the middle, what it depends on
# on the right, an arrow from each dependant to what it depends on.
NODE_WIDTH = 210
NODE_HEIGHT = 26
NODE_GAP = 10
COLUMN_GAP = 90
# A node's label fits its box at the SVG text size; the full name is the node's tooltip.
LABEL_CHARACTERS = 28
NODES_SHOWN = 15


@dataclass(frozen=True)
class Node:
    label: str
    title: str
    x: int
    y: int
    # The asset's page, or None: an unresolved target, or the asset itself.
    asset_id: str | None
    kind: str  # "asset", "dependant", "dependency", "unresolved"

    @property
    def middle(self) -> int:
        return self.y + NODE_HEIGHT // 2


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int
    label: str


@dataclass(frozen=True)
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    # Neighbours left out on each side, past NODES_SHOWN.
    more_dependants: int
    more_dependencies: int
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT


@dataclass(frozen=True)
class Neighbour:
    """One asset (or unresolved reference) at the other end of one or more edges."""

    name: str
    asset_id: str | None
    # How the edges to it are known: "TCP/443", "declared".
    via: list[str]


def dependency_graph(name: str, dependants: list[Neighbour], dependencies: list[Neighbour]):
    left, right = dependants[:NODES_SHOWN], dependencies[:NODES_SHOWN]
    rows = max(len(left), len(right), 1)
    height = rows * (NODE_HEIGHT + NODE_GAP) - NODE_GAP
    middle_x = NODE_WIDTH + COLUMN_GAP
    right_x = 2 * (NODE_WIDTH + COLUMN_GAP)
    asset = Node(_label(name), name, middle_x, (height - NODE_HEIGHT) // 2, None, "asset")
    nodes, edges = [asset], []
    for column, x, kind in ((left, 0, "dependant"), (right, right_x, "dependency")):
        # Each side centred on the asset.
        top = (height - (len(column) * (NODE_HEIGHT + NODE_GAP) - NODE_GAP)) // 2
        for position, other in enumerate(column):
            node = Node(
                _label(other.name),
                other.name,
                x,
                top + position * (NODE_HEIGHT + NODE_GAP),
                other.asset_id,
                kind if other.asset_id else "unresolved",
            )
            nodes.append(node)
            via = ", ".join(other.via)
            if kind == "dependant":
                edges.append(Edge(NODE_WIDTH, node.middle, middle_x, asset.middle, via))
            else:
                edges.append(Edge(middle_x + NODE_WIDTH, asset.middle, x, node.middle, via))
    return Graph(
        nodes,
        edges,
        width=right_x + NODE_WIDTH,
        height=height,
        more_dependants=len(dependants) - len(left),
        more_dependencies=len(dependencies) - len(right),
    )


def _label(name: str) -> str:
    return name if len(name) <= LABEL_CHARACTERS else name[: LABEL_CHARACTERS - 1] + "…"
