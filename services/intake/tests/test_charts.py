"""The report's bar charts as geometry: one bar per value, lengths proportional, a nice axis."""

from __future__ import annotations

from decimal import Decimal

import pytest

from microcred_intake.charts import (
    COLUMN_HEIGHT,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    Point,
    column_chart,
    row_chart,
    value_axis,
)

pytestmark = pytest.mark.unit

PLOT_HEIGHT = COLUMN_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM


def points(*values: str) -> list[Point]:
    return [Point(f"m{i}", f"month {i}", Decimal(v), v) for i, v in enumerate(values)]


def test_the_value_axis_holds_zero_and_every_value_in_nice_steps() -> None:
    def axis(*values: str, integer: bool = False) -> tuple[int, int, int]:
        bottom, top, step = value_axis([Decimal(v) for v in values], integer=integer)
        return int(bottom), int(top), int(step)

    assert axis("0", "3", "1", integer=True) == (0, 3, 1)
    assert axis("0", integer=True) == (0, 1, 1)  # nothing yet: still an axis
    assert axis("7.5") == (0, 8, 2)
    assert axis("120", "-30") == (-50, 150, 50)
    # Counts never step by fractions, however small the values.
    assert value_axis([Decimal(1), Decimal(2)], integer=True)[2] == 1


def test_one_bar_per_month_with_heights_proportional_to_the_values() -> None:
    chart = column_chart(
        "Awards per month",
        "…",
        points("0", "1", "0", "4", "2"),
        number=str,
        integer=True,
    )

    assert [c.point.value for c in chart.columns] == [0, 1, 0, 4, 2]
    heights = [c.height for c in chart.columns]
    assert heights == [0.0, PLOT_HEIGHT / 4, 0.0, PLOT_HEIGHT, PLOT_HEIGHT / 2]
    # Every bar stands on the zero line; they are evenly spaced and do not overlap.
    assert all(round(c.y + c.height, 2) == chart.zero == chart.bottom for c in chart.columns)
    xs = [c.x for c in chart.columns]
    assert xs == sorted(xs)
    assert all(b.x - a.x > a.width for a, b in zip(chart.columns, chart.columns[1:], strict=False))
    assert [t.label for t in chart.ticks] == ["0", "1", "2", "3", "4"]


def test_negative_months_hang_below_the_zero_line() -> None:
    chart = column_chart("Net hours", "…", points("60", "-30", "0"), number=str)

    up, down, flat = chart.columns
    assert chart.bottom > chart.zero > chart.top  # zero is inside the plot: the axis spans -40…60
    assert up.y + up.height == pytest.approx(chart.zero)
    assert down.y == chart.zero
    assert down.negative
    assert down.height == pytest.approx(up.height / 2)
    assert flat.height == 0


def test_long_periods_label_every_nth_month_and_always_the_newest() -> None:
    # 36 months from December 2023: a year per month, as the report gives them.
    years = ["2023"] + [str(2024 + i // 12) for i in range(35)]
    chart = column_chart(
        "Awards", "…", points(*["1"] * 36), number=str, integer=True, second_labels=years
    )

    labelled = [i for i, c in enumerate(chart.columns) if c.label]
    assert len(chart.columns) == 36
    assert labelled == list(range(2, 36, 3))  # every third month, back from the newest
    # The year under the first labelled month, then only where it changes.
    assert [(i, c.second_label) for i, c in enumerate(chart.columns) if c.second_label] == [
        (2, "2024"),
        (14, "2025"),
        (26, "2026"),
    ]
    assert not chart.values_shown  # 36 values above 36 bars would collide


def test_horizontal_bars_are_as_long_as_their_share_of_the_largest() -> None:
    chart = row_chart(
        "Awards per competence",
        "…",
        [
            Point("Data literacy", "Data literacy", Decimal(4), "4"),
            Point("Netiquette", "Netiquette", Decimal(1), "1"),
            Point("Safety " * 30, "Safety", Decimal(0), "0"),
        ],
    )

    longest, short, empty = chart.rows
    assert short.width == pytest.approx(longest.width / 4)
    assert empty.width == 0
    assert longest.y < short.y < empty.y
    assert empty.label.endswith("…")  # a long title is shortened on the chart
    assert chart.height > empty.y + empty.height
