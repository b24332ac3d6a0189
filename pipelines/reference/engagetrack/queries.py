"""EngageTrack's answers, computed in polars from a site's events (never from warehouse SQL).

Definitions (the public docs give names, not formulas; these are the reference's):

- visitors: distinct ``visitor_id``; sessions: distinct ``session_id``; pageviews: events of
  type ``pageview``; events: events of any other type. All over the period's events (after
  ``filters``); a session is seen only through its events inside the period.
- bounce_rate: % of sessions with exactly one pageview; avg_session_duration: mean of
  (last event − first event) per session, in seconds; views_per_session: pageviews ÷
  sessions. Rates and means are rounded to 2 decimals; 0 when nothing was seen.
- Breakdowns rank by visitors, then pageviews (descending), then the value (ascending).
- Funnels: a visitor reaches step 1 at their first matching event in the period, and step
  k at their first matching event strictly after step k−1 (and, with a conversion window,
  within it of step 1). ``conversion_rate`` is the % of the previous step's visitors kept,
  ``dropoff_rate`` the % lost (100 and 0 for step 1; both 0 after an empty step).
  ``revenue`` sums the period's revenue of the step's visitors; ``top_sources`` and
  ``top_countries`` (3 each) count them by the source and country of the matching event.
- Precision: every figure is computed from the events' millisecond times, and the event times
  the API shows (timelines, goal completions, visitors' ``first_seen_at``/``last_seen_at``)
  carry those milliseconds (``YYYY-MM-DDTHH:MM:SS.mmmZ``), so all of it can be rebuilt from
  timelines exactly (two events in one second are still ordered).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import polars as pl

from pipelines.reference.clock import format_millis
from pipelines.reference.engagetrack.dataset import Site
from pipelines.reference.engagetrack.filters import filter_expr, match_expr
from pipelines.reference.engagetrack.periods import Period

BREAKDOWNS = {
    "pages": ("path",),
    "sources": ("referrer_source",),
    "channels": ("channel",),
    "devices": ("device", "browser", "os"),
    "locations": ("country", "city"),
}
# The name each grouping column has in a breakdown row.
ROW_NAMES = {"path": "path", "referrer_source": "source", "channel": "channel",
             "device": "device", "browser": "browser", "os": "os", "country": "country",
             "city": "city"}
TOP = 3


def _rate(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def period_events(site: Site, period: Period, filters: list[dict[str, str]]) -> pl.DataFrame:
    events = site.events.filter(
        (pl.col("timestamp") >= period.start) & (pl.col("timestamp") < period.end)
    )
    return events.filter(filter_expr(filters)) if filters else events


def stats(site: Site, period: Period, filters: list[dict[str, str]]) -> dict[str, Any]:
    events = period_events(site, period, filters)
    sessions = events.group_by("session_id").agg(
        (pl.col("type") == "pageview").sum().alias("pageviews"),
        ((pl.col("timestamp").max() - pl.col("timestamp").min()).dt.total_milliseconds() / 1000)
        .alias("duration"),
    )
    pageviews = int((events["type"] == "pageview").sum())
    count = sessions.height
    return {
        "period": period.json(),
        "visitors": events["visitor_id"].n_unique(),
        "sessions": count,
        "pageviews": pageviews,
        "events": events.height - pageviews,
        "bounce_rate": _rate(int((sessions["pageviews"] == 1).sum()), count),
        "avg_session_duration": round(float(sessions["duration"].mean()), 2) if count else 0.0,
        "views_per_session": round(pageviews / count, 2) if count else 0.0,
    }


def breakdown(site: Site, period: Period, filters: list[dict[str, str]],
              column: str) -> list[dict[str, Any]]:
    """Every value of ``column`` with its visitors, sessions and pageviews, ranked."""
    events = period_events(site, period, filters)
    if column == "path":
        events = events.filter(pl.col("type") == "pageview")
    rows = (
        events.group_by(column)
        .agg(
            pl.col("visitor_id").n_unique().alias("visitors"),
            pl.col("session_id").n_unique().alias("sessions"),
            (pl.col("type") == "pageview").sum().cast(pl.Int64).alias("pageviews"),
        )
        .sort(["visitors", "pageviews", column], descending=[True, True, False])
        .rename({column: ROW_NAMES[column]})
    )
    return rows.to_dicts()


def revenue(site: Site, period: Period, filters: list[dict[str, str]]) -> dict[str, Any]:
    paid = period_events(site, period, filters).filter(pl.col("revenue") > 0)
    total = round(float(paid["revenue"].sum()), 2)
    currencies = paid.filter(pl.col("currency") != "")["currency"].mode().sort()
    return {
        "period": period.json(),
        "total_revenue": total,
        "orders": paid.height,
        "paying_visitors": paid["visitor_id"].n_unique(),
        "average_order_value": round(total / paid.height, 2) if paid.height else 0.0,
        "currency": currencies[0] if len(currencies) else "",
    }


# --- goals -----------------------------------------------------------------------------------


def _goal_expr(goal: dict[str, Any]) -> pl.Expr:
    return match_expr(goal["type"], goal["pattern"], goal["match_type"])


def goal_stats(site: Site, period: Period, filters: list[dict[str, str]],
               goals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = period_events(site, period, filters)
    everyone = events["visitor_id"].n_unique()
    rows = []
    for goal in goals:
        hits = events.filter(_goal_expr(goal))
        visitors = hits["visitor_id"].n_unique()
        rows.append({
            "goal_id": goal["id"], "name": goal["name"], "completions": hits.height,
            "visitors": visitors, "conversion_rate": _rate(visitors, everyone),
            "revenue": round(float(hits["revenue"].sum()), 2),
        })  # fmt: skip
    return rows


def goal_completions(site: Site, period: Period, goal: dict[str, Any]) -> pl.DataFrame:
    """Matching events, newest first (a frame; the caller pages it)."""
    hits = period_events(site, period, []).filter(_goal_expr(goal))
    return hits.sort(["timestamp", "id"], descending=True).select(
        pl.col("id").alias("event_id"), "visitor_id", "session_id", "timestamp", "type", "name",
        "path", "revenue",
    )


# --- funnels ---------------------------------------------------------------------------------


def analyze_funnel(site: Site, period: Period, filters: list[dict[str, str]],
                   funnel: dict[str, Any], window: timedelta | None = None) -> list[dict[str, Any]]:
    """One row per step (see the module docstring for the rules)."""
    events = period_events(site, period, filters)
    money = events.group_by("visitor_id").agg(pl.col("revenue").sum())
    reached: pl.DataFrame | None = None
    rows, previous = [], 0
    for step in funnel["steps"]:
        reached = _reach(events, step, reached, window)
        count = reached.height
        conversion, dropoff = _step_rates(step["order"], count, previous)
        rows.append({
            "step_id": step["id"], "name": step["name"], "order": step["order"],
            "visitors": count, "conversion_rate": conversion, "dropoff_rate": dropoff,
            "revenue": round(float(reached.join(money, on="visitor_id")["revenue"].sum()), 2),
            "top_sources": _top(reached, "referrer_source", "source"),
            "top_countries": _top(reached, "country", "country"),
        })  # fmt: skip
        previous = count
    return rows


def _step_rates(order: int, count: int, previous: int) -> tuple[float, float]:
    """(conversion_rate, dropoff_rate) from the previous step; step 1 keeps everyone."""
    if order == 1:
        return (100.0 if count else 0.0), 0.0
    if not previous:
        return 0.0, 0.0
    conversion = _rate(count, previous)
    return conversion, round(100.0 - conversion, 2)


def _reach(events: pl.DataFrame, step: dict[str, Any], before: pl.DataFrame | None,
           window: timedelta | None) -> pl.DataFrame:
    """Per visitor who reaches ``step``: when, where from, and when they entered (step 1)."""
    hits = events.filter(match_expr(step["type"], step["pattern"], step["match_type"]))
    hits = hits.select("visitor_id", "timestamp", "id", "referrer_source", "country")
    if before is None:
        hits = hits.with_columns(entered=pl.col("timestamp"))
    else:
        hits = hits.join(before.select("visitor_id", pl.col("timestamp").alias("after"), "entered"),
                         on="visitor_id").filter(pl.col("timestamp") > pl.col("after"))
        if window is not None:
            hits = hits.filter(pl.col("timestamp") <= pl.col("entered") + window)
    first = hits.sort(["timestamp", "id"]).group_by("visitor_id", maintain_order=True).first()
    return first.select("visitor_id", "timestamp", "entered", "referrer_source", "country")


def _top(reached: pl.DataFrame, column: str, name: str) -> list[dict[str, Any]]:
    counts = reached.group_by(column).agg(pl.len().alias("visitors"))
    ranked = counts.sort(["visitors", column], descending=[True, False]).head(TOP)
    return [{name: value, "visitors": n} for value, n in ranked.iter_rows()]


# --- visitors --------------------------------------------------------------------------------


def visitor_table(site: Site, goals: list[dict[str, Any]]) -> pl.DataFrame:
    """Every visitor with the documented totals, most recently seen first (cached per goals)."""
    key = ("visitors", tuple((g["id"], g["pattern"], g["match_type"], g["type"]) for g in goals))
    if key not in site.cache:
        site.cache.clear()
        site.cache[key] = _visitor_table(site, goals)
    return site.cache[key]


def _visitor_table(site: Site, goals: list[dict[str, Any]]) -> pl.DataFrame:
    is_goal = pl.lit(False)
    for goal in goals:
        is_goal = is_goal | _goal_expr(goal)
    latest = [pl.col(c).last().alias(f"last_{n}") for c, n in
              (("country", "country"), ("browser", "browser"), ("os", "os"), ("device", "device"),
               ("referrer_source", "referrer_source"))]
    totals = site.events.sort(["timestamp", "id"]).group_by("visitor_id").agg(
        pl.col("timestamp").min().alias("first_seen_at"),
        pl.col("timestamp").max().alias("last_seen_at"),
        pl.col("session_id").n_unique().alias("total_sessions"),
        (pl.col("type") == "pageview").sum().cast(pl.Int64).alias("total_pageviews"),
        is_goal.sum().cast(pl.Int64).alias("total_goals"),
        pl.col("revenue").sum().round(2).alias("total_revenue"),
        *latest,
    )
    table = site.visitors.join(totals, left_on="id", right_on="visitor_id", how="left")
    return table.with_columns(
        pl.col("total_sessions", "total_pageviews", "total_goals").fill_null(0),
        pl.col("total_revenue").fill_null(0.0),
    ).sort(["last_seen_at", "id"], descending=[True, False], nulls_last=True)


def search_visitors(table: pl.DataFrame, search: str | None) -> pl.DataFrame:
    """Visitors whose email, name, uid or external id contains ``search`` (any case)."""
    if not search:
        return table
    needle = search.lower()
    hit = pl.lit(False)
    for column in ("email", "name", "uid", "external_id"):
        hit = hit | pl.col(column).str.to_lowercase().str.contains(needle, literal=True).fill_null(False)
    return table.filter(hit)


VISITOR_FIELDS = (
    "id", "uid", "email", "name", "avatar_url", "external_id", "first_seen_at", "last_seen_at",
    "total_sessions", "total_pageviews", "total_goals", "total_revenue", "last_country",
    "last_browser", "last_os", "last_device", "last_referrer_source",
)  # fmt: skip
TIMELINE_FIELDS = (
    "id", "session_id", "type", "name", "timestamp", "path", "title", "referrer",
    "referrer_source", "channel", "utm_source", "utm_medium", "utm_campaign", "country", "city",
    "browser", "os", "device", "revenue", "currency", "properties",
)  # fmt: skip


def visitor_json(rows: pl.DataFrame) -> list[dict[str, Any]]:
    return [_timestamps_as_text(row) for row in rows.select(VISITOR_FIELDS).to_dicts()]


def timeline(site: Site, visitor_id: str, period: Period | None) -> pl.DataFrame:
    """The visitor's events (in ``period`` if given), newest first."""
    events = site.events.filter(pl.col("visitor_id") == visitor_id)
    if period is not None:
        events = events.filter((pl.col("timestamp") >= period.start) & (pl.col("timestamp") < period.end))
    return events.sort(["timestamp", "id"], descending=True)


def timeline_json(rows: pl.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in rows.select(TIMELINE_FIELDS).to_dicts():
        row["properties"] = orjson.loads(row["properties"])
        out.append(_timestamps_as_text(row))
    return out


def completions_json(rows: pl.DataFrame) -> list[dict[str, Any]]:
    return [_timestamps_as_text(row) for row in rows.to_dicts()]


def _timestamps_as_text(row: dict[str, Any]) -> dict[str, Any]:
    # Event times (and a visitor's first/last seen, which are event times) keep the
    # milliseconds every figure above is computed from, so a client can rebuild them exactly.
    for name in ("first_seen_at", "last_seen_at", "timestamp"):
        if row.get(name) is not None:
            row[name] = format_millis(row[name])
    return row
