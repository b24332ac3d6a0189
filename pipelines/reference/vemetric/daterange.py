"""Vemetric's ``dateRange``: presets and custom ranges, resolved against "now" (spec §5.1).

A preset floors "now" to its interval unit and steps back; it has no upper bound and its
``period.to`` is now. A custom ``[start, end]`` range is half-open ``[start, end)``; a
date-only end means 23:59:59 of that day (so that last second is excluded, as in Vemetric).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipelines.reference.clock import format_seconds

DATE_ONLY = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
TIMESTAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"
DATE_INPUT_MESSAGE = (
    "UTC date input must be either YYYY-MM-DD or UTC ISO-8601 with second precision"
)

# (auto interval, how far back from the floored "now") in Vemetric's preset order.
PRESETS: dict[str, str] = {
    "live": "thirty_seconds",
    "1hr": "ten_minutes",
    "24hrs": "hourly",
    "7days": "daily",
    "30days": "daily",
    "3months": "weekly",
    "6months": "monthly",
    "1year": "monthly",
}
PLAN_RESTRICTED_PRESETS = frozenset({"3months", "6months", "1year"})
FREE_PLAN_RETENTION = timedelta(days=32)


@dataclass(frozen=True)
class Resolved:
    start: datetime
    end: datetime | None  # exclusive; None for presets
    interval: str
    period: dict[str, str]  # the response's {"from", "to"}


def parse_date_input(text: str) -> datetime | None:
    """A ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SSZ`` value, or None when it is not a real date."""
    if not (re.fullmatch(DATE_ONLY, text, re.ASCII) or re.fullmatch(TIMESTAMP, text, re.ASCII)):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC)
    except ValueError:  # e.g. 2026-02-30 or 25:00:00: matches the pattern, names no moment
        return None


def custom_bounds(start_text: str, end_text: str) -> tuple[datetime, datetime]:
    """The half-open ``[start, end)`` of an already validated custom range."""
    start = parse_date_input(start_text)
    end = parse_date_input(end_text)
    assert start is not None and end is not None, "validated before resolving"
    if re.fullmatch(DATE_ONLY, end_text, re.ASCII):
        end = end.replace(hour=23, minute=59, second=59)
    return start, end


def start_after_end(date_range: object) -> bool:
    """The ``Start date must be before or equal to end date`` rule (unparseable dates pass)."""
    if not isinstance(date_range, list) or len(date_range) < 2:
        return False
    start, end = (parse_date_input(v) if isinstance(v, str) else None for v in date_range[:2])
    return start is not None and end is not None and start > end


def resolve(date_range: str | list[str], now: datetime) -> Resolved:
    if isinstance(date_range, str):
        start = preset_start(date_range, now)
        return Resolved(start, None, PRESETS[date_range], _period(start, now))
    start, end = custom_bounds(date_range[0], date_range[1])
    return Resolved(start, end, custom_interval(start, end), _period(start, end))


def _period(start: datetime, end: datetime) -> dict[str, str]:
    return {"from": format_seconds(start), "to": format_seconds(end)}


def preset_start(preset: str, now: datetime) -> datetime:
    now = now.astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if preset == "live":
        floored = now.replace(second=now.second - now.second % 30, microsecond=0)
        return floored - timedelta(minutes=4, seconds=30)
    if preset == "1hr":
        floored = now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0)
        return floored - timedelta(minutes=50)
    if preset == "24hrs":
        return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    if preset in ("7days", "30days"):
        return day - timedelta(days=6 if preset == "7days" else 29)
    if preset == "3months":
        monday = day - timedelta(days=day.weekday())  # preset flooring uses Monday weeks
        return monday - timedelta(weeks=11)
    first = day.replace(day=1)
    return _add_months(first, -5 if preset == "6months" else -12)


def _add_months(first_of_month: datetime, months: int) -> datetime:
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return first_of_month.replace(year=index // 12, month=index % 12 + 1)


def custom_interval(start: datetime, end: datetime) -> str:
    """``getCustomDateRangeInterval``: by the range's length in whole days (JS Math.round)."""
    days = int((end - start) / timedelta(days=1) + 0.5)
    if days <= 2:
        return "hourly"
    if days <= 31:
        return "daily"
    if days <= 90:
        return "weekly"
    return "monthly"


def plan_restricted(date_range: str | list[str], start: datetime, now: datetime) -> bool:
    """Whether a project without an active subscription may not see this range (§4)."""
    if isinstance(date_range, str):
        return date_range in PLAN_RESTRICTED_PRESETS
    return start < now - FREE_PLAN_RETENTION
