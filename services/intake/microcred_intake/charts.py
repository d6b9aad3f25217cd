"""Bar charts as geometry for server-side SVG (``templates/pages/charts.html.j2``); pure functions.

No chart library and no script: the report must render where scripts are off, cost nothing to
load, and keep its numbers in the page (each chart's figures are also in a table beside it). The
functions here place bars, ticks and labels on a fixed canvas (the SVG's ``viewBox``); the
browser scales the whole drawing to the page's width.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

#: The canvas: SVG user units, scaled to the page's width by the browser.
WIDTH = 640
COLUMN_HEIGHT = 260
#: Room for the value axis' labels on the left, the month labels (two lines) below.
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 12, 22, 44
#: The share of a month's slot its bar fills; the rest is the gap between bars.
BAR_SHARE = 0.68
#: At most this many month labels fit under the axis; beyond, every n-th month is labelled.
MAX_AXIS_LABELS = 12
#: Values are written above the bars up to this many bars; beyond, they would collide.
MAX_VALUE_LABELS = 24
#: Horizontal bars: one row per item (its label above, its bar below).
ROW_HEIGHT, ROW_BAR_HEIGHT, ROW_LABEL_HEIGHT, ROWS_TOP = 46, 18, 18, 6
ROW_VALUE_ROOM = 64
ROW_LABEL_X = 4
MAX_LABEL_CHARS = 90
#: Steps of a "nice" value axis, within one power of ten.
NICE_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
INTEGER_STEPS = (Decimal(1), Decimal(2), Decimal(5), Decimal(10))
TICKS_WANTED = 4


@dataclass(frozen=True)
class Point:
    """One value to draw: its short axis label, its full description, the value as written."""

    label: str
    description: str
    value: Decimal
    shown: str


@dataclass(frozen=True)
class Column:
    """A vertical bar; ``y`` is its top edge, negative values hang below the zero line."""

    point: Point
    x: float
    y: float
    width: float
    height: float
    label: str
    second_label: str

    @property
    def negative(self) -> bool:
        return self.point.value < 0

    @property
    def center(self) -> float:
        return round(self.x + self.width / 2, 2)

    @property
    def value_y(self) -> float:
        """Where the value is written: above a bar, below a negative one."""
        return round(self.y + self.height + 14 if self.negative else self.y - 5, 2)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class ColumnChart:
    title: str
    description: str
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    zero: float
    columns: tuple[Column, ...]
    ticks: tuple[Tick, ...]
    values_shown: bool


@dataclass(frozen=True)
class RowBar:
    point: Point
    label: str
    label_y: float
    y: float
    width: float
    height: float

    @property
    def value_x(self) -> float:
        return round(ROW_LABEL_X + self.width + 6, 2)

    @property
    def value_y(self) -> float:
        return round(self.y + self.height - 4, 2)


@dataclass(frozen=True)
class RowChart:
    title: str
    description: str
    width: int
    height: int
    left: float
    rows: tuple[RowBar, ...]


def _nice_step(span: Decimal, *, integer: bool) -> Decimal:
    """The axis step: 1, 2, 2.5 or 5 times a power of ten, about ``TICKS_WANTED`` per span."""
    raw = span / TICKS_WANTED
    power = Decimal(10) ** math.floor(math.log10(raw))
    for step in INTEGER_STEPS if integer else NICE_STEPS:
        if raw <= step * power:
            chosen = step * power
            # Counts step by whole numbers: no tick says "0.5 awards".
            return Decimal(max(math.ceil(chosen), 1)) if integer else chosen
    return 10 * power  # pragma: no cover - NICE_STEPS ends with 10


def value_axis(values: Sequence[Decimal], *, integer: bool) -> tuple[Decimal, Decimal, Decimal]:
    """Bottom, top and step of a value axis that holds ``values`` and zero."""
    low = min([Decimal(0), *values])
    high = max([Decimal(0), *values])
    if low == high:
        return Decimal(0), Decimal(1), Decimal(1)
    step = _nice_step(high - low, integer=integer)
    bottom = (low / step).to_integral_value(rounding=ROUND_FLOOR) * step
    top = (high / step).to_integral_value(rounding=ROUND_CEILING) * step
    return bottom, top, step


def column_chart(
    title: str,
    description: str,
    points: Sequence[Point],
    *,
    number: Callable[[Decimal], str],
    integer: bool = False,
    second_labels: Sequence[str] = (),
) -> ColumnChart:
    """One vertical bar per point, heights proportional to the values (zero is a flat bar).

    ``second_labels`` (a year per month) are written under the labels where they change.
    """
    left, right = float(MARGIN_LEFT), float(WIDTH - MARGIN_RIGHT)
    top, bottom = float(MARGIN_TOP), float(COLUMN_HEIGHT - MARGIN_BOTTOM)
    low, high, step = value_axis([p.value for p in points], integer=integer)
    scale = (bottom - top) / float(high - low)
    zero = bottom - float(-low) * scale
    slot = (right - left) / max(len(points), 1)
    every = math.ceil(len(points) / MAX_AXIS_LABELS) if points else 1
    columns = []
    last_second = ""
    for index, point in enumerate(points):
        height = abs(float(point.value)) * scale
        # The newest month is always labelled; others every ``every`` months back from it.
        labelled = (len(points) - 1 - index) % every == 0
        # A second line (the year) under the first labelled bar and wherever it changes.
        second = second_labels[index] if labelled and index < len(second_labels) else ""
        if second == last_second:
            second = ""
        elif second:
            last_second = second
        columns.append(
            Column(
                point=point,
                x=round(left + index * slot + slot * (1 - BAR_SHARE) / 2, 2),
                y=round(zero if point.value < 0 else zero - height, 2),
                width=round(slot * BAR_SHARE, 2),
                height=round(height, 2),
                label=point.label if labelled else "",
                second_label=second,
            )
        )
    ticks = []
    value = low
    while value <= high:
        ticks.append(Tick(round(zero - float(value) * scale, 2), number(value)))
        value += step
    return ColumnChart(
        title=title,
        description=description,
        width=WIDTH,
        height=COLUMN_HEIGHT,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        zero=round(zero, 2),
        columns=tuple(columns),
        ticks=tuple(ticks),
        values_shown=len(points) <= MAX_VALUE_LABELS,
    )


def _shortened(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def row_chart(title: str, description: str, points: Sequence[Point]) -> RowChart:
    """One horizontal bar per point, its label above it, lengths proportional to the values."""
    room = WIDTH - ROW_LABEL_X - ROW_VALUE_ROOM
    highest = max([p.value for p in points if p.value > 0], default=Decimal(0))
    rows = []
    for index, point in enumerate(points):
        row_top = ROWS_TOP + index * ROW_HEIGHT
        length = float(point.value / highest) * room if highest and point.value > 0 else 0.0
        rows.append(
            RowBar(
                point=point,
                label=_shortened(point.label),
                label_y=row_top + ROW_LABEL_HEIGHT - 5,
                y=row_top + ROW_LABEL_HEIGHT,
                width=round(length, 2),
                height=ROW_BAR_HEIGHT,
            )
        )
    return RowChart(
        title=title,
        description=description,
        width=WIDTH,
        height=ROWS_TOP * 2 + max(len(points), 1) * ROW_HEIGHT,
        left=ROW_LABEL_X,
        rows=tuple(rows),
    )
