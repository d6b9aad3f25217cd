"""Formatting in the page's language: dates, durations, sizes, numbers, months (Babel)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.dates import format_date, format_datetime, format_skeleton, format_timedelta
from babel.numbers import format_decimal


def moment(value: Any) -> datetime | None:
    """A timestamp from another service's JSON (ISO 8601; naive ones are UTC)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Formats:
    """Dates, durations, sizes and numbers as the page's language writes them."""

    language: str

    def when(self, value: Any) -> str:
        parsed = moment(value)
        if parsed is None:
            return "—"
        return format_datetime(parsed, "medium", tzinfo=UTC, locale=self.language) + " UTC"

    def day(self, value: Any) -> str:
        try:
            return format_date(date.fromisoformat(str(value)), "medium", locale=self.language)
        except ValueError:
            return str(value)

    def duration(self, delta: timedelta) -> str:
        return format_timedelta(
            max(delta, timedelta(minutes=1)), granularity="minute", locale=self.language
        )

    def age(self, value: Any, now: datetime) -> str:
        parsed = moment(value)
        return self.duration(now - parsed) if parsed else "—"

    def hours(self, value: float | None) -> str:
        return "—" if value is None else self.duration(timedelta(hours=value))

    def size(self, size: int) -> str:
        if size < 1024 * 1024:
            return f"{format_decimal(max(size / 1024, 0.1), '#,##0.#', locale=self.language)} KB"
        return f"{format_decimal(size / (1024 * 1024), '#,##0.#', locale=self.language)} MB"

    def number(self, value: Any, decimals: int = 2) -> str:
        """A decimal (as accounting's JSON has them, strings) without needless zeros."""
        try:
            parsed = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        if not parsed.is_finite():
            return str(value)
        return format_decimal(parsed, "#,##0." + "#" * decimals, locale=self.language)

    def month(self, value: str) -> str:
        """A month as ``YYYY-MM``, written out: "Nov 2026", "nov. de 2026", "Nov. 2026"."""
        first = month_start(value)
        if first is None:
            return value
        return format_skeleton("yMMM", first, locale=self.language)

    def month_short(self, value: str) -> str:
        """A month's abbreviated name alone (a chart's axis), "Nov", "nov.", "Nov."."""
        first = month_start(value)
        return format_date(first, "LLL", locale=self.language) if first else value


def month_start(value: str) -> date | None:
    """The first day of a ``YYYY-MM`` month; None for anything else."""
    try:
        return date.fromisoformat(f"{value}-01")
    except ValueError:
        return None
