"""The analytics ``period`` parameter: which whole days a query covers.

``period`` is one of ``day``, ``7d``, ``30d``, ``month``, ``12mo``, ``custom``; ``date`` (ISO
date, default today on the server clock) is the base day of the first five, ``from`` and
``to`` (ISO dates, inclusive, both required) bound ``custom``. The public docs do not say
whether ``7d``/``30d`` include the base day; here they do (``7d`` on 2026-02-17 is
2026-02-11 .. 2026-02-17), and ``12mo`` is the base day's month and the 11 before it.
Days are UTC days (the site's ``timezone`` is served but not applied).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pipelines.reference.engagetrack.errors import bad_request

PERIODS = ("day", "7d", "30d", "month", "12mo", "custom")
DEFAULT_PERIOD = "30d"


@dataclass(frozen=True)
class Period:
    """Whole days ``first``..``last`` (inclusive)."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

    def json(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad_request(f"Invalid {name}: expected a date YYYY-MM-DD, got {value!r}") from None


def _month_start(day: date, back: int = 0) -> date:
    months = day.year * 12 + day.month - 1 - back
    return date(months // 12, months % 12 + 1, 1)


def resolve(period: str | None, base: str | None, start: str | None, end: str | None,
            today: date) -> Period:
    """The days a query covers, or a 400 naming the bad parameter."""
    period = period or DEFAULT_PERIOD
    if period not in PERIODS:
        raise bad_request(f"Invalid period: expected one of {', '.join(PERIODS)}, got {period!r}")
    if period == "custom":
        if not start or not end:
            raise bad_request("Invalid period: custom needs both from and to")
        first, last = _day(start, "from"), _day(end, "to")
        if last < first:
            raise bad_request(f"Invalid period: to ({last}) is before from ({first})")
        return Period(first, last)
    day = _day(base, "date") if base else today
    if period == "day":
        return Period(day, day)
    if period in ("7d", "30d"):
        return Period(day - timedelta(days=int(period[:-1]) - 1), day)
    next_month = _month_start(day, -1)
    if period == "month":
        return Period(_month_start(day), next_month - timedelta(days=1))
    return Period(_month_start(day, 11), next_month - timedelta(days=1))
