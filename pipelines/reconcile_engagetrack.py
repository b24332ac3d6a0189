"""Reconciliation for EngageTrack: do the visitors' timelines add up to the API's own figures?

Every synced EngageTrack range is recomputed from the synced timeline events
(``stg_engagetrack.events``: every event of every visitor seen in the window) and compared with
what the API answered for the same site and range; integers must be equal, rates and means
equal to 2 decimals. Each comparison is a :class:`pipelines.reconcile.Outcome` and says what
it compares:

``stats``       analytics/stats: visitors, sessions, pageviews, events, bounce rate (% of
                sessions with exactly one pageview), mean session duration (last − first
                event, from the timelines' millisecond times), views per session; for the
                window and each of its days
``breakdowns``  each value of pages, sources, channels, devices, browsers, OSes, countries and
                cities: visitors, sessions, pageviews (pages count pageviews only)
``revenue``     analytics/revenue: total, orders, paying visitors, average order value
``goals``       goals/stats per goal: completions, visitors, conversion rate, revenue, the goal
                matched as the API matches it (a pageview's path or another event's name;
                ``exact``, ``contains``, else a regular expression)
``funnels``     funnels/{id}/analyze per step: visitors, conversion and drop-off rates (a
                visitor reaches a step at their first matching event strictly after the
                previous step's; no conversion window, the API's default); also for the
                funnel reports' periods the sync asked for beyond its windows
                (``raw_engagetrack.report_ranges``) once every day of such a period has been
                synced (before that its events are not all in the warehouse: not compared)

Everything the API reports here is rebuildable from timelines: sessions are seen only through
their events inside the range on both sides. What is not compared: a breakdown row's rank
(ties are ordered by the API), the funnel steps' top sources/countries and revenue.

    outcomes = reconcile(conn, date(2026, 2, 1), date(2026, 2, 7))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import orjson
import polars as pl

from pipelines.reconcile import Outcome, _differences, _text
from pipelines.validation_engagetrack import BREAKDOWN_DIMENSIONS

__all__ = ["FAMILIES", "EngageTrackOutcome", "reconcile"]

FAMILIES = ("stats", "breakdowns", "revenue", "goals", "funnels")
# Timelines give event times with the milliseconds the API computes from, so every figure,
# session durations and funnel order included, is rebuilt exactly: rates and means to 2 decimals.
TOLERANCE = 0.005 + 1e-9
# breakdown row name -> the event column it groups by
COLUMNS = {"path": "path", "source": "referrer_source", "channel": "channel", "device": "device",
           "browser": "browser", "os": "os", "country": "country", "city": "city"}
STATS = ("visitors", "sessions", "pageviews", "events", "bounce_rate", "avg_session_duration",
         "views_per_session")
REVENUE = ("total_revenue", "orders", "paying_visitors", "average_order_value")
GOALS = ("completions", "visitors", "conversion_rate", "revenue")
STEPS = ("visitors", "conversion_rate", "dropoff_rate")
LABELS = {"stats": "totals", "revenue": "totals", "goals": "per goal"}


@dataclass
class EngageTrackOutcome(Outcome):
    """An Outcome whose family is ``engagetrack_<kind>``, ``kind`` one of :data:`FAMILIES`."""

    @property
    def family(self) -> str:
        return f"engagetrack_{self.kind}"


def reconcile(conn: duckdb.DuckDBPyConnection, first: date | None = None,
              last: date | None = None) -> list[Outcome]:
    """Compare every EngageTrack range synced inside ``first``..``last`` (all when None);
    nothing on a warehouse whose models were built before EngageTrack's existed."""
    if not _has(conn, "stg_engagetrack", "events") or not _has(conn, "raw_engagetrack", "stats"):
        return []
    outcomes: list[Outcome] = []
    for site, date_from, date_to in _ranges(conn, first, last):
        events = _events(conn, site, date_from, date_to)
        outcomes.append(_stats(conn, site, date_from, date_to, events))
        if _asked(conn, "revenue", site, date_from, date_to):
            outcomes.append(_revenue(conn, site, date_from, date_to, events))
            outcomes += _breakdowns(conn, site, date_from, date_to, events)
            outcomes.append(_goals(conn, site, date_from, date_to, events))
        outcomes += _funnels(conn, site, date_from, date_to, events)
    for site, date_from, date_to in _report_ranges(conn, first, last):
        outcomes += _funnels(conn, site, date_from, date_to,
                             _events(conn, site, date_from, date_to))
    # grouped by family, in FAMILIES' order (a summary lists them so), ranges in order within
    return sorted(outcomes, key=lambda o: FAMILIES.index(o.kind))


def _has(conn, schema: str, table: str) -> bool:
    return conn.execute("select count(*) > 0 from information_schema.tables "
                        "where table_schema = $s and table_name = $t",
                        {"s": schema, "t": table}).fetchone()[0]


def _ranges(conn, first, last) -> list[tuple]:
    return conn.execute(
        "select distinct site_id, date_from, date_to from raw_engagetrack.stats "
        "where ($first is null or date_from >= $first) and ($last is null or date_to <= $last) "
        "order by all", {"first": first, "last": last}).fetchall()


def _report_ranges(conn, first, last) -> list[tuple]:
    """Funnel analyses of ranges no sync window had (report periods), ending inside
    ``first``..``last``, every day of which a sync covered (so all their events are synced)."""
    # Synced days from raw_engagetrack.stats, as stg_engagetrack.synced_days has them (that
    # view may not be built yet when the check on stg_engagetrack.events runs).
    return conn.execute("""
        with synced as (
            select distinct site_id,
                   cast(unnest(generate_series(date_from, date_to, interval 1 day)) as date) as day
            from raw_engagetrack.stats
        ),
        periods as (
            select distinct a.site_id, a.date_from, a.date_to
            from raw_engagetrack.funnel_analyses a
            where ($first is null or a.date_to >= $first) and ($last is null or a.date_to <= $last)
              and not exists (select 1 from raw_engagetrack.stats s where s.site_id = a.site_id
                              and s.date_from = a.date_from and s.date_to = a.date_to)
        )
        select p.site_id, p.date_from, p.date_to
        from periods p join synced d on d.site_id = p.site_id
                                     and d.day between p.date_from and p.date_to
        group by all
        having count(*) = date_diff('day', p.date_from, p.date_to) + 1
        order by all""", {"first": first, "last": last}).fetchall()


def _asked(conn, table: str, site: str, date_from: date, date_to: date) -> bool:
    return conn.execute(
        f"select count(*) > 0 from raw_engagetrack.{table} where site_id = $s "
        "and date_from = $f and date_to = $t", {"s": site, "f": date_from, "t": date_to}
    ).fetchone()[0]


def _events(conn, site: str, date_from: date, date_to: date) -> pl.DataFrame:
    return conn.execute(
        "select user_id as visitor_id, session_id, event_type as type, name, path, "
        "occurred_at, referrer_source, channel, device, browser, os, country, city, revenue "
        "from stg_engagetrack.events where site_id = $s and day between $f and $t",
        {"s": site, "f": date_from, "t": date_to}).pl()


def _api(conn, table: str, site: str, date_from: date, date_to: date, extra: str = "",
         params: dict | None = None) -> pl.DataFrame:
    return conn.execute(
        f"select * from raw_engagetrack.{table} where site_id = $s and date_from = $f "
        f"and date_to = $t {extra}", {"s": site, "f": date_from, "t": date_to, **(params or {})}
    ).pl()


def _rate(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


# --- comparisons -------------------------------------------------------------------------------

def _stats(conn, site, date_from, date_to, events: pl.DataFrame) -> Outcome:
    api = _api(conn, "stats", site, date_from, date_to).row(0, named=True)
    return _outcome("stats", "stats", date_from, date_to, [("", api, _local_stats(events))],
                    STATS)


def _local_stats(events: pl.DataFrame) -> dict:
    sessions = events.group_by("session_id").agg(
        (pl.col("type") == "pageview").sum().alias("pageviews"),
        ((pl.col("occurred_at").max() - pl.col("occurred_at").min()).dt.total_milliseconds()
         / 1000).alias("duration"))
    pageviews = int((events["type"] == "pageview").sum())
    count = sessions.height
    return {
        "visitors": events["visitor_id"].n_unique(), "sessions": count, "pageviews": pageviews,
        "events": events.height - pageviews,
        "bounce_rate": _rate(int((sessions["pageviews"] == 1).sum()), count),
        "avg_session_duration": round(float(sessions["duration"].mean()), 2) if count else 0.0,
        "views_per_session": round(pageviews / count, 2) if count else 0.0,
    }


def _revenue(conn, site, date_from, date_to, events: pl.DataFrame) -> Outcome:
    api = _api(conn, "revenue", site, date_from, date_to).row(0, named=True)
    paid = events.filter(pl.col("revenue") > 0)
    total = round(float(paid["revenue"].sum()), 2)
    local = {"total_revenue": total, "orders": paid.height,
             "paying_visitors": paid["visitor_id"].n_unique(),
             "average_order_value": round(total / paid.height, 2) if paid.height else 0.0}
    return _outcome("revenue", "revenue", date_from, date_to, [("", api, local)], REVENUE)


def _breakdowns(conn, site, date_from, date_to, events: pl.DataFrame) -> list[Outcome]:
    outcomes = []
    for name, dimensions in BREAKDOWN_DIMENSIONS.items():
        for dimension in dimensions:
            api = _api(conn, "breakdowns", site, date_from, date_to,
                       "and breakdown = $b and dimension = $d", {"b": name, "d": dimension})
            local = _local_breakdown(events, name, COLUMNS[dimension])
            pairs = _paired(api.rows(named=True), local, "value")
            outcomes.append(_outcome("breakdowns", f"{name}:{dimension}", date_from, date_to,
                                     pairs, ("visitors", "sessions", "pageviews")))
    return outcomes


def _local_breakdown(events: pl.DataFrame, name: str, column: str) -> list[dict]:
    rows = events.filter(pl.col("type") == "pageview") if name == "pages" else events
    return rows.group_by(pl.col(column).alias("value")).agg(
        pl.col("visitor_id").n_unique().alias("visitors"),
        pl.col("session_id").n_unique().alias("sessions"),
        (pl.col("type") == "pageview").sum().cast(pl.Int64).alias("pageviews"),
    ).to_dicts()


def _goals(conn, site, date_from, date_to, events: pl.DataFrame) -> Outcome:
    api = _api(conn, "goal_stats", site, date_from, date_to)
    goals = {g["id"]: g for g in conn.execute(
        "select id, type, pattern, match_type from raw_engagetrack.goals where site_id = $s",
        {"s": site}).pl().to_dicts()}
    everyone = events["visitor_id"].n_unique()
    local = []
    for goal_id in api["goal_id"]:
        goal = goals.get(goal_id)
        if goal is None:
            continue  # no such goal synced: shows as a missing local row
        hits = events.filter(_matches(goal["type"], goal["pattern"], goal["match_type"]))
        visitors = hits["visitor_id"].n_unique()
        local.append({"goal_id": goal_id, "completions": hits.height, "visitors": visitors,
                      "conversion_rate": _rate(visitors, everyone),
                      "revenue": round(float(hits["revenue"].sum()), 2)})
    return _outcome("goals", "goals", date_from, date_to,
                    _paired(api.rows(named=True), local, "goal_id"), GOALS)


def _matches(kind: str, pattern: str, match_type: str) -> pl.Expr:
    """A goal's or step's events: a pageview's path, or another event's name."""
    if kind == "pageview":
        target, of_kind = pl.col("path"), pl.col("type") == "pageview"
    else:
        target, of_kind = pl.col("name"), pl.col("type") != "pageview"
    if match_type == "exact":
        return of_kind & (target == pattern)
    if match_type == "contains":
        return of_kind & target.str.contains(pattern, literal=True)
    return of_kind & target.str.contains(pattern)


def _funnels(conn, site, date_from, date_to, events: pl.DataFrame) -> list[Outcome]:
    funnels = conn.execute(
        "select distinct a.funnel_id, f.steps from raw_engagetrack.funnel_analyses a "
        "left join raw_engagetrack.funnels f on f.site_id = a.site_id and f.id = a.funnel_id "
        "where a.site_id = $s and a.date_from = $f and a.date_to = $t order by 1",
        {"s": site, "f": date_from, "t": date_to}).fetchall()
    outcomes = []
    for funnel_id, steps in funnels:
        api = _api(conn, "funnel_analyses", site, date_from, date_to,
                   "and funnel_id = $id order by \"order\"", {"id": funnel_id})
        local = _local_funnel(events, orjson.loads(steps)) if steps else []
        outcomes.append(_outcome("funnels", funnel_id, date_from, date_to,
                                 _paired(api.rows(named=True), local, "step_id"), STEPS))
    return outcomes


def _local_funnel(events: pl.DataFrame, steps: list[dict]) -> list[dict]:
    reached: pl.DataFrame | None = None
    rows, previous = [], 0
    for step in steps:
        hits = events.filter(_matches(step["type"], step["pattern"], step["match_type"]))
        hits = hits.select("visitor_id", "occurred_at")
        if reached is not None:
            hits = hits.join(reached.rename({"occurred_at": "after"}), on="visitor_id").filter(
                pl.col("occurred_at") > pl.col("after")).select("visitor_id", "occurred_at")
        reached = hits.group_by("visitor_id").agg(pl.col("occurred_at").min())
        count = reached.height
        if step["order"] == 1:
            conversion, dropoff = (100.0 if count else 0.0), 0.0
        elif not previous:
            conversion, dropoff = 0.0, 0.0
        else:
            conversion = _rate(count, previous)
            dropoff = round(100.0 - conversion, 2)
        rows.append({"step_id": step["id"], "visitors": count, "conversion_rate": conversion,
                     "dropoff_rate": dropoff})
        previous = count
    return rows


# --- comparing -------------------------------------------------------------------------------

def _paired(api_rows: list[dict], local_rows: list[dict], key: str) -> list[tuple]:
    """``(key, api row or {}, local row or {})`` for every key either side has."""
    api = {str(r[key]): r for r in api_rows}
    local = {str(r[key]): r for r in local_rows}
    return [(k, api.get(k, {}), local.get(k, {})) for k in sorted(api.keys() | local.keys())]


def _outcome(family: str, subject: str, date_from: date, date_to: date, pairs: list[tuple],
             metrics: tuple[str, ...]) -> Outcome:
    differences = [
        {"value": value, "metric": metric, "api": _text(api.get(metric)),
         "local": _text(local.get(metric))}
        for value, api, local in pairs for metric in metrics
        if not _same(api.get(metric), local.get(metric), TOLERANCE)
    ]
    return EngageTrackOutcome(
        kind=family, subject=subject, first=date_from, last=date_to,
        status="failed" if differences else "passed", rows=len(pairs),
        differences=_differences(differences), label=LABELS.get(family, subject))


def _same(api, local, tolerance: float = TOLERANCE) -> bool:
    if api is None or local is None:
        return api is None and local is None
    if isinstance(api, float) or isinstance(local, float):
        return abs(float(api) - float(local)) <= tolerance
    return api == local
