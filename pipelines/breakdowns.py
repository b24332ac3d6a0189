"""Breakdowns with Vemetric's rules over any range, rebuilt from the marts.

One query (``sql/queries/breakdown.sql``) answers every grouping the models can rebuild: the
whole range, time buckets, ``page:origin``, ``page:path``, ``event:name``,
``event:prop:<key>``, and the user-level ``user:country`` / ``user:city``. Which metric
applies to which grouping, row restrictions and empty-value labels follow
``specs/vemetric-api.md`` §7.2. The grouping is chosen by parameters, never by editing SQL.

    frame = breakdown_frame(conn, "page:path", date(2026, 1, 1), date(2026, 1, 31))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb
import polars as pl

from pipelines.models import SQL_DIR, install_macros

__all__ = ["FIELDS", "INTERVALS", "BreakdownError", "Grouping", "auto_interval",
           "breakdown_frame"]

QUERY = SQL_DIR / "queries" / "breakdown.sql"
FIELDS = ("page:origin", "page:path", "event:name", "user:country", "user:city")
INTERVALS = ("hourly", "daily", "weekly", "monthly")
PROPERTY_PREFIX = "event:prop:"


class BreakdownError(ValueError):
    """A grouping or interval the marts cannot break down by."""


def auto_interval(first: date, last: date) -> str:
    """Vemetric's ``interval:auto`` for whole days first..last (§5.1): up to 2 days hourly, up
    to 31 daily, up to 90 weekly, else monthly."""
    days = (last - first).days + 1
    return "hourly" if days <= 2 else "daily" if days <= 31 else "weekly" if days <= 90 \
        else "monthly"


@dataclass(frozen=True)
class Grouping:
    """A parsed grouping: ``kind`` none | interval | field | property."""

    kind: str
    token: str = ""
    property: str = ""
    interval: str = ""

    @classmethod
    def parse(cls, token: str | None, first: date, last: date) -> Grouping:
        if not token:
            return cls("none")
        if token == "interval:auto":
            return cls("interval", token, interval=auto_interval(first, last))
        if token.startswith("interval:") and token.removeprefix("interval:") in INTERVALS:
            return cls("interval", token, interval=token.removeprefix("interval:"))
        if token.startswith(PROPERTY_PREFIX) and len(token) > len(PROPERTY_PREFIX):
            return cls("property", token, property=token.removeprefix(PROPERTY_PREFIX))
        if token in FIELDS:
            return cls("field", token)
        raise BreakdownError(
            f"cannot break down by {token!r}: expected one of {', '.join(FIELDS)}, "
            "event:prop:<key>, interval:auto or interval:<hourly|daily|weekly|monthly>")


def breakdown_frame(conn: duckdb.DuckDBPyConnection, grouping: str | None, first: date,
                    last: date, *, over: str | None = None) -> pl.DataFrame:
    """Users, pageviews, events, bounce rate and visit duration per group for days
    ``first``..``last`` (UTC, inclusive). ``over`` (an interval) splits each group by time
    bucket (column ``bucket``, '' without it). Rate components are returned too, so callers
    can recombine or compare rates exactly."""
    if last < first:
        raise BreakdownError(f"range ends ({last}) before it starts ({first})")
    if over is not None and over not in INTERVALS:
        raise BreakdownError(f"over must be one of {', '.join(INTERVALS)}, got {over!r}")
    parsed = Grouping.parse(grouping, first, last)
    install_macros(conn)
    params = {
        "kind": parsed.kind, "token": parsed.token, "property": parsed.property,
        "interval": parsed.interval or "daily", "over": over or "none",
        "start": datetime.combine(first, time(), UTC),
        "end": datetime.combine(last + timedelta(days=1), time(), UTC),
        "first_day": first, "last_day": last,
    }
    frame = conn.execute(_query(), params).pl()
    if parsed.kind == "none" and over is None and frame.is_empty():
        # The API's aggregate is always one row, all zeros when nothing happened.
        frame = pl.DataFrame([_zero_row(frame.schema)], schema=frame.schema)
    return frame


def _zero_row(schema: pl.Schema) -> dict:
    return {name: "" if dtype == pl.String else 0 for name, dtype in schema.items()}


def _query(path: Path = QUERY) -> str:
    return path.read_text()
