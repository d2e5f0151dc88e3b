"""Horizontal bar charts as plain geometry, drawn as inline SVG by the template."""

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
