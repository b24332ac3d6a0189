"""Report periods: the days a report covers, and the period it is compared with.

A period is a run of whole UTC days, ``first`` to ``last`` inclusive, the same days the
warehouse partitions by. It is resolved from a preset name and the moment the report is made
(``as_of``, read in the schedule's timezone, so "last week" on a Monday 07:00 in Berlin is the
Monday-to-Sunday week that just ended there)::

    period = resolve_period("last_week", datetime(2026, 2, 16, 7, tzinfo=BERLIN))
    period.first, period.last      # 2026-02-09, 2026-02-15
    period.previous().first        # 2026-02-02: the same length, just before
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = ["RANGES", "Period", "resolve_period"]


@dataclass(frozen=True, order=True)
class Period:
    """Whole days ``first`` to ``last``, inclusive."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"period ends ({self.last}) before it starts ({self.first})")

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.days)]

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts."""
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def label(self) -> str:
        """``9–15 Feb 2026``, ``28 Jan – 3 Feb 2026`` or ``29 Dec 2025 – 4 Jan 2026``."""
        if self.first == self.last:
            return _day(self.last, year=True)
        if (self.first.year, self.first.month) == (self.last.year, self.last.month):
            return f"{self.first.day}\u2013{_day(self.last, year=True)}"
        return f"{_day(self.first, year=self.first.year != self.last.year)} \u2013 " \
               f"{_day(self.last, year=True)}"


def _day(day: date, *, year: bool) -> str:
    text = f"{day.day} {day.strftime('%b')}"
    return f"{text} {day.year}" if year else text


def _last_week(today: date) -> Period:
    monday = today - timedelta(days=today.weekday())
    return Period(monday - timedelta(days=7), monday - timedelta(days=1))


def _last_days(count: int):
    def resolve(today: date) -> Period:
        return Period(today - timedelta(days=count), today - timedelta(days=1))
    return resolve


def _last_month(today: date) -> Period:
    end = today.replace(day=1) - timedelta(days=1)
    return Period(end.replace(day=1), end)


# Every preset ends with the last *complete* day before ``as_of``: a report never shows a day
# that is still being synced.
RANGES = {
    "last_week": _last_week,          # the previous Monday-to-Sunday week
    "last_7_days": _last_days(7),
    "last_14_days": _last_days(14),
    "last_28_days": _last_days(28),
    "last_month": _last_month,        # the previous calendar month
}


def resolve_period(name: str, as_of: datetime) -> Period:
    """The period preset ``name`` covers when the report is made at ``as_of``."""
    if name not in RANGES:
        raise ValueError(f"unknown range {name!r}: expected one of {', '.join(RANGES)}")
    return RANGES[name](as_of.date())
