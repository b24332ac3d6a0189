"""The numbers a report shows, gathered from the warehouse's marts (one named query each).

Every figure is computed here, typed, before a template sees it. A report reads a read-only
snapshot (``warehouse.connect()``), never the writer's file::

    conn = warehouse.connect()
    report = gather(conn, load_reports()["weekly"], as_of=datetime.now(UTC))

Where the numbers come from:

- headline metrics, users per day, pages, events: ``marts.events`` and ``marts.daily_metrics``
  (rates recombined from their components, so a week's bounce rate is exact, not an average
  of daily rates; distinct users are counted over the whole period, never summed by day);
- countries: the users' country in ``marts.users``, as the API reports it per user;
- channels, referrers and devices: the API exposes these only in its own aggregates, not per
  event, so they come from ``raw_vemetric.analytics`` for the synced ranges that cover the
  period (each section's note says which);
- funnels: ``pipelines.funnels`` (Vemetric's semantics over ``marts.events``) for exactly the
  report's periods;
- completeness: ``stg_vemetric.synced_days`` and the quarantine, so a report over missing or
  partly failed syncs says so instead of showing zeros.

A report with ``source: engagetrack`` reads the same marts; what the marts do not hold comes
from EngageTrack's own tables (:data:`SOURCES`): its synced days and quarantine, the site's
name, channels/sources/devices from ``raw_engagetrack.breakdowns``, and funnels from its own
analysis of exactly the report's period (``stg_engagetrack.funnel_analyses``), which the sync
asks for every declared funnel report (``raw_engagetrack.report_ranges``). Such a report's
completeness is that analysis: synced, or named as missing with the command that syncs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import duckdb
import orjson
import polars as pl

from pipelines.funnels import VEMETRIC_WINDOW
from pipelines.reports.charts import bar_chart, compared_bar_chart
from pipelines.reports.config import ReportConfig
from pipelines.reports.content import (
    Column,
    DataStatus,
    FunnelReport,
    FunnelStep,
    Metric,
    ReportHeader,
    Section,
    Table,
    WeeklyReport,
)
from pipelines.reports.periods import Period, resolve_period

__all__ = ["FUNNEL_RULES", "NOT_GIVEN", "READS", "AnalysisStatus", "ReportDataError",
           "data_status", "funnel_report", "gather", "report_periods", "weekly_report"]

REQUIRED = ("marts.events", "marts.users", "marts.daily_metrics", "stg_vemetric.synced_days",
            "raw_vemetric.funnels", "raw_vemetric.analytics", "raw_vemetric._quarantine")
NOT_SYNCED = "No data has been synced for this period."


@dataclass(frozen=True)
class SourceTables:
    """Where a source keeps what the conformed marts do not hold."""

    label: str
    synced_days: str
    quarantine: str
    project: str            # select name, domain
    breakdowns: str         # the API's own breakdowns: label, users, pageviews, date_from/to,
                            # token (which breakdown)
    tokens: dict[str, str]  # report token -> the source's own breakdown token
    funnels: str            # select id, name, steps


# The EngageTrack site a report describes: the one whose analytics were synced (lowest id when
# several were), the same for its name, its funnels and their analyses.
ENGAGETRACK_SITE = "(select min(site_id) from raw_engagetrack.stats)"

SOURCES = {
    "vemetric": SourceTables(
        "Vemetric", "stg_vemetric.synced_days", "raw_vemetric._quarantine",
        "select name, domain from raw_vemetric.project limit 1",
        "select group_value as label, users, pageviews, date_from, date_to, group_by as token "
        "from raw_vemetric.analytics", {},
        "select id, name, steps from raw_vemetric.funnels order by name, id"),
    "engagetrack": SourceTables(
        "EngageTrack", "stg_engagetrack.synced_days", "raw_engagetrack._quarantine",
        f"select name, domain from raw_engagetrack.sites where id = {ENGAGETRACK_SITE}",
        "select value as label, visitors as users, pageviews, date_from, date_to, "
        "breakdown || ':' || dimension as token from raw_engagetrack.breakdowns",
        {"referrerType": "channels:channel", "referrer": "sources:source",
         "deviceType": "devices:device"},
        "select id, name, steps from raw_engagetrack.funnels "
        f"where site_id = {ENGAGETRACK_SITE} order by name, id"),
}


WEEKLY_MARTS = ("marts.events", "marts.users", "marts.daily_metrics")
# Every table a report reads, by (template, source): pipelines/defs/reports.py makes them the
# report asset's deps, so the Dagster graph shows where each report's numbers come from. (The
# quarantine tables are written by the raw assets named here; they are no assets of their own.)
READS: dict[tuple[str, str], tuple[str, ...]] = {
    ("weekly", "vemetric"): (*WEEKLY_MARTS, "stg_vemetric.synced_days", "raw_vemetric.project",
                             "raw_vemetric.analytics"),
    ("weekly", "engagetrack"): (*WEEKLY_MARTS, "stg_engagetrack.synced_days",
                                "raw_engagetrack.sites", "raw_engagetrack.stats",
                                "raw_engagetrack.breakdowns"),
    # Vemetric's funnels are computed from the events (pipelines.funnels)...
    ("funnel", "vemetric"): ("marts.events", "stg_vemetric.synced_days", "raw_vemetric.project",
                             "raw_vemetric.funnels"),
    # ...EngageTrack's are its own analysis of the period, synced with the site.
    ("funnel", "engagetrack"): ("stg_engagetrack.synced_days", "stg_engagetrack.funnel_analyses",
                                "raw_engagetrack.sites", "raw_engagetrack.stats",
                                "raw_engagetrack.funnels"),
}


class ReportDataError(RuntimeError):
    """The warehouse lacks what a report reads (no marts yet, an unknown funnel)."""


def gather(conn: duckdb.DuckDBPyConnection, config: ReportConfig, as_of: datetime,
           generated_at: datetime | None = None) -> WeeklyReport | FunnelReport:
    """The report ``config`` declares, for the period that ends before ``as_of``."""
    _check_tables(conn)
    if config.template == "funnel":
        return funnel_report(conn, config, as_of, generated_at)
    return weekly_report(conn, config, as_of, generated_at)


def report_periods(config: ReportConfig, as_of: datetime) -> tuple[Period, Period | None]:
    """The period and, when compared, the previous one; ``as_of`` read in the schedule's zone."""
    if as_of.tzinfo is None:
        raise ValueError(f"as_of must carry a timezone, got {as_of.isoformat()}")
    period = resolve_period(config.range, as_of.astimezone(config.schedule.zone))
    return period, period.previous() if config.comparison == "previous_period" else None


def _check_tables(conn: duckdb.DuckDBPyConnection) -> None:
    present = {f"{s}.{t}" for s, t in conn.execute(
        "select table_schema, table_name from information_schema.tables").fetchall()}
    missing = [name for name in REQUIRED if name not in present]
    if missing:
        raise ReportDataError(f"the warehouse has no {', '.join(missing)}: sync and build the "
                              "models (funnelhouse sync; funnelhouse build) before reporting")


# --- completeness ----------------------------------------------------------------------------

def data_status(conn: duckdb.DuckDBPyConnection, period: Period,
                source: str = "vemetric") -> DataStatus:
    """Which days of ``period`` a sync covered, rows quarantined there, the last sync."""
    tables = SOURCES[source]
    synced = conn.execute(
        f"select distinct day from {tables.synced_days} where day between $first and $last "
        "order by day", _bounds(period)).fetchall()
    days = tuple(d for (d,) in synced)
    quarantined, = conn.execute(
        f"select count(*) from {tables.quarantine} "
        "where date_from <= $last and date_to >= $first", _bounds(period)).fetchone()
    last, = conn.execute(f"select max(synced_at) from {tables.synced_days}").fetchone()
    missing = tuple(d for d in period.dates() if d not in set(days))
    return DataStatus(period, days, missing, quarantined,
                      last.astimezone(UTC) if last is not None else None)


def _header(conn: duckdb.DuckDBPyConnection, config: ReportConfig, as_of: datetime,
            generated_at: datetime | None) -> ReportHeader:
    period, previous = report_periods(config, as_of)
    return ReportHeader(
        name=config.name, title=config.title, project=_project(conn, config.source),
        period=period, previous=previous, generated_at=generated_at or datetime.now(UTC),
        status=data_status(conn, period, config.source),
        previous_status=data_status(conn, previous, config.source) if previous else None,
    )


def _project(conn: duckdb.DuckDBPyConnection, source: str) -> str:
    row = conn.execute(SOURCES[source].project).fetchone()
    return f"{row[0]} \u00b7 {row[1]}" if row else source.capitalize()


def _bounds(period: Period, **more: object) -> dict[str, object]:
    return {"first": period.first, "last": period.last, **more}


# --- weekly overview -------------------------------------------------------------------------

def weekly_report(conn: duckdb.DuckDBPyConnection, config: ReportConfig, as_of: datetime,
                  generated_at: datetime | None = None) -> WeeklyReport:
    """Headline metrics against the previous period, then the breakdowns."""
    header = _header(conn, config, as_of, generated_at)
    current = _totals(conn, header.status, config.source)
    previous = _totals(conn, header.previous_status, config.source) \
        if header.previous_status else {}
    metrics = tuple(
        Metric(label, unit, current[key], previous.get(key), lower_is_better=key == "bounce_rate")
        for key, label, unit in (("users", "Users", "count"), ("pageviews", "Pageviews", "count"),
                                 ("events", "Events", "count"),
                                 ("bounce_rate", "Bounce rate", "percent"),
                                 ("visit_duration", "Visit duration", "seconds")))
    return WeeklyReport(header, metrics, _weekly_sections(conn, config, header))


def _totals(conn: duckdb.DuckDBPyConnection, status: DataStatus | None,
            source: str) -> dict[str, float | None]:
    """The five metrics over the synced days of the period; all None when none was synced."""
    keys = ("users", "pageviews", "events", "bounce_rate", "visit_duration")
    if status is None or status.empty:
        return dict.fromkeys(keys)
    counts = conn.execute("""
        select count(distinct user_id),
               coalesce(sum(occurrences) filter (where is_pageview), 0)::bigint,
               coalesce(sum(occurrences) filter (where not is_pageview), 0)::bigint
        from marts.events
        where source = $source and day between $first and $last""",
                          _bounds(status.period, source=source)).fetchone()
    # The rates' components add up across days; an empty period's rate is 0, as the API says.
    rates = conn.execute("""
        select coalesce(round(100.0 * sum(bounced_buckets) / nullif(sum(pageview_buckets), 0),
                              2), 0)::double,
               coalesce(round(sum(duration_seconds_total) / nullif(sum(duration_sessions), 0),
                              2), 0)::double
        from marts.daily_metrics
        where dimension = '' and day between $first and $last""",
                         _bounds(status.period)).fetchone()
    return dict(zip(keys, (*counts, *rates)))


def _weekly_sections(conn: duckdb.DuckDBPyConnection, config: ReportConfig,
                     header: ReportHeader) -> tuple[Section, ...]:
    status, top = header.status, config.top
    return (
        _days_section(conn, header, config.source),
        _top_section(conn, status, config.source, "page", top),
        _api_section(conn, status, "referrerType", "Channels", "Channel", top, chart=True,
                     source=config.source),
        _api_section(conn, status, "referrer", "Top referrers", "Referrer", top,
                     source=config.source),
        _countries_section(conn, status, config.source, top),
        _api_section(conn, status, "deviceType", "Devices", "Device", top,
                     source=config.source),
        _top_section(conn, status, config.source, "event", top),
    )


def _days_section(conn: duckdb.DuckDBPyConnection, header: ReportHeader, source: str) -> Section:
    """Users and pageviews per day; unsynced days are unknown, not zero."""
    current = _per_day(conn, header.status, source)
    columns = [Column("Day"), Column("Users", "count"), Column("Pageviews", "count")]
    frame = current
    if header.previous_status is not None:
        previous = _per_day(conn, header.previous_status, source)
        frame = current.with_columns(previous_users=previous["users"])
        columns.append(Column("Previous users", "count"))
    table = Table(tuple(columns), tuple(frame.drop("day").iter_rows()))
    if header.status.empty:
        return Section("Users per day", Table(table.columns, (), NOT_SYNCED))
    chart = compared_bar_chart(
        "users_per_day", "Users per day", frame, "label", "users",
        "previous_users" if header.previous_status is not None else None, value_title="Users")
    return Section("Users per day", table, chart)


def _per_day(conn: duckdb.DuckDBPyConnection, status: DataStatus, source: str) -> pl.DataFrame:
    # From marts.events, not marts.daily_metrics: the events say which source they came from
    # (daily_metrics adds the sources up); the same counts as its '' rows for one source.
    rows = {day: (users, views) for day, users, views in conn.execute("""
        select day, count(distinct user_id),
               coalesce(sum(occurrences) filter (where is_pageview), 0)::bigint
        from marts.events
        where source = $source and day between $first and $last
        group by day""", _bounds(status.period, source=source)).fetchall()}
    synced = set(status.synced_days)
    weekly = status.period.days == 7
    records = []
    for day in status.period.dates():
        users, views = rows.get(day, (0, 0)) if day in synced else (None, None)
        records.append({"day": day, "label": _day_label(day, weekly), "users": users,
                        "pageviews": views})
    return pl.DataFrame(records, schema={"day": pl.Date, "label": pl.String,
                                         "users": pl.Int64, "pageviews": pl.Int64})


def _day_label(day: date, weekly: bool) -> str:
    return day.strftime("%a") if weekly else f"{day.day} {day.strftime('%b')}"


TOP_QUERIES = {
    # kind: (title, first column, filter, grouping column, count column title)
    "page": ("Top pages", "Page", "is_pageview and path <> ''", "path", "Pageviews"),
    "event": ("Top events", "Event", "not is_pageview and event_name <> ''", "event_name",
              "Events"),
}


def _top_section(conn: duckdb.DuckDBPyConnection, status: DataStatus, source: str, kind: str,
                 top: int) -> Section:
    """The most viewed pages or most fired events, with their distinct users."""
    title, label, where, column, count_title = TOP_QUERIES[kind]
    columns = (Column(label), Column(count_title, "count"), Column("Users", "count"))
    if status.empty:
        return Section(title, Table(columns, (), NOT_SYNCED))
    frame = conn.execute(f"""
        select {column} as label, sum(occurrences)::bigint as n,
               count(distinct user_id) as users
        from marts.events
        where source = $source and day between $first and $last and {where}
        group by all order by n desc, label limit $top""",
                         _bounds(status.period, source=source, top=top)).pl()
    chart = None
    if kind == "page" and frame.height:
        chart = bar_chart("top_pages", title, frame, "label", "n", horizontal=True,
                          value_title=count_title)
    return Section(title, Table(columns, tuple(frame.iter_rows())), chart)


def _countries_section(conn: duckdb.DuckDBPyConnection, status: DataStatus, source: str,
                       top: int) -> Section:
    columns = (Column("Country"), Column("Users", "count"), Column("Pageviews", "count"))
    note = "Each user's country as the API reports it for the user (it has no per-event location)."
    if status.empty:
        return Section("Countries", Table(columns, (), NOT_SYNCED))
    frame = conn.execute("""
        select coalesce(nullif(u.country, ''), 'Unknown') as country,
               count(distinct e.user_id) as users,
               coalesce(sum(e.occurrences) filter (where e.is_pageview), 0)::bigint as pageviews
        from marts.events e
        left join marts.users u on u.user_id = e.user_id and u.source = e.source
        where e.source = $source and e.day between $first and $last
        group by all order by users desc, country limit $top""",
                         _bounds(status.period, source=source, top=top)).pl()
    return Section("Countries", Table(columns, tuple(frame.iter_rows())), note=note)


# --- the API's own breakdowns ----------------------------------------------------------------

def _api_section(conn: duckdb.DuckDBPyConnection, status: DataStatus, token: str, title: str,
                 label: str, top: int, *, chart: bool = False,
                 source: str = "vemetric") -> Section:
    """A breakdown the marts cannot give (no per-event referrer or device): the API's own
    aggregates for the synced ranges that make up the period."""
    columns = (Column(label), Column("Users", "count"), Column("Pageviews", "count"))
    if status.empty:
        return Section(title, Table(columns, (), NOT_SYNCED))
    tables = SOURCES[source]
    own = tables.tokens.get(token, token)
    ranges, note = _covering_ranges(conn, own, status.period, tables)
    if not ranges:
        return Section(title, Table(columns, (), note))
    frame = conn.execute(f"""
        select label, sum(users)::bigint as users, sum(pageviews)::bigint as pageviews
        from ({tables.breakdowns})
        where token = $token and (date_from, date_to) in ({_range_list(ranges)})
        group by all order by users desc, pageviews desc, label limit $top""",
                         {"token": own, "top": top}).pl()
    image = None
    if chart and frame.height:
        image = bar_chart(f"api_{token}", title, frame, "label", "users", horizontal=True,
                          value_title="Users")
    return Section(title, Table(columns, tuple(frame.iter_rows())), image, note)


def _range_list(ranges: Sequence[Period]) -> str:
    # Dates are rendered from date objects (never from text), so this cannot inject SQL.
    return ", ".join(f"(date '{r.first.isoformat()}', date '{r.last.isoformat()}')"
                     for r in ranges)


def _covering_ranges(conn: duckdb.DuckDBPyConnection, token: str, period: Period,
                     tables: SourceTables = SOURCES["vemetric"]) -> tuple[list[Period], str]:
    """Synced ranges whose breakdowns together are the period, and a note saying so.

    Preferred: ranges inside the period that tile it exactly (fewest first). Otherwise the
    smallest synced range that contains the period, named in the note. Otherwise none.
    """
    synced = [Period(a, b) for a, b in conn.execute(
        f"select distinct date_from, date_to from ({tables.breakdowns}) "
        "where token = $token", {"token": token}).fetchall()]
    tiles = _tile(period, [r for r in synced if period.first <= r.first and r.last <= period.last])
    source = f"{tables.label}'s own breakdown of the synced days"
    if tiles and len(tiles) == 1:
        return tiles, f"{source}."
    if tiles:
        return tiles, (f"{source}, added up over {len(tiles)} synced ranges: a user active in "
                       "several of them counts once per range.")
    containing = sorted((r for r in synced if r.first <= period.first and period.last <= r.last),
                        key=lambda r: r.days)
    if containing:
        return containing[:1], (f"{tables.label}'s breakdown covers {containing[0].label()}, the "
                                "smallest synced range containing this period (the API gives "
                                "no breakdown for the period itself).")
    return [], (f"{tables.label}'s breakdown is not available: no synced range covers this "
                "period.")


def _tile(period: Period, ranges: Sequence[Period]) -> list[Period]:
    """The fewest ``ranges`` that cover ``period`` day for day without overlap, or []."""
    days = period.days
    best: list[list[Period] | None] = [[]] + [None] * days   # best[k]: cover of days [0, k)
    for k in range(1, days + 1):
        for r in ranges:
            start = (r.first - period.first).days
            end = (r.last - period.first).days + 1
            if end == k and best[start] is not None and (best[k] is None
                                                         or len(best[start]) + 1 < len(best[k])):
                best[k] = [*best[start], r]
    return best[days] or []


# --- funnels ---------------------------------------------------------------------------------

def funnel_report(conn: duckdb.DuckDBPyConnection, config: ReportConfig, as_of: datetime,
                  generated_at: datetime | None = None) -> FunnelReport:
    """One funnel over the period: steps, conversion, drop-off and time to convert.

    Vemetric: computed by ``pipelines.funnels`` with Vemetric's semantics over exactly the
    report's days (``marts.funnel_steps`` only holds the ranges the API was asked about).
    EngageTrack: the API's own analysis of exactly the period and of the comparison period
    (:func:`_analysed_rows`); the header says whether each was synced (:class:`AnalysisStatus`).
    """
    header = _header(conn, config, as_of, generated_at)
    funnel_id, name, steps = _find_funnel(conn, config)
    rows = _funnel_rows
    if config.source == "engagetrack":
        header, rows = _analysis_header(conn, header, funnel_id, name), _analysed_rows
    current = rows(conn, funnel_id, steps, header.status)
    previous = rows(conn, funnel_id, steps, header.previous_status) \
        if header.previous_status else None
    report_steps = tuple(_step(i, row, previous) for i, row in enumerate(current))
    return FunnelReport(header, name, _funnel_metrics(current, previous, config.source),
                        report_steps, _funnel_chart(report_steps, previous is not None),
                        FUNNEL_RULES[config.source])


def _find_funnel(conn: duckdb.DuckDBPyConnection,
                 config: ReportConfig) -> tuple[str, str, list]:
    """The funnel's id, name and steps (the source API's format), by id or name."""
    funnels = conn.execute(SOURCES[config.source].funnels).fetchall()
    found = [f for f in funnels if config.funnel in (f[0], f[1])]
    if len(found) == 1:
        return found[0][0], found[0][1], orjson.loads(found[0][2])
    if not funnels and config.source == "engagetrack":
        raise ReportDataError(f"report {config.name!r}: no EngageTrack funnels have been "
                              "synced; sync the site first (funnelhouse sync engagetrack)")
    known = "; ".join(f"{name!r} ({fid})" for fid, name, _ in funnels) or "none"
    if found:
        raise ReportDataError(f"report {config.name!r}: several funnels are named "
                              f"{config.funnel!r}; name one by id: {known}")
    raise ReportDataError(f"report {config.name!r}: no funnel named or with id "
                          f"{config.funnel!r}; the warehouse has: {known}")


# How each source counts a step, as the report's note says it (reports/funnel.*.j2).
FUNNEL_RULES = {
    "vemetric": "A step counts the users who reached it, in order, within "
                f"{VEMETRIC_WINDOW.days} days of the first step.",
    # docs/engagetrack-fixture-format.md: no conversion window unless the server sets one.
    "engagetrack": "A step counts the visitors who reached it, each step after the previous "
                   "one, at any time in the period (EngageTrack's analysis sets no window).",
}
# EngageTrack's analysis gives visitors per step but no times: said so, not "no data".
NOT_GIVEN = {"engagetrack": "not given by EngageTrack's analysis"}

UNKNOWN_STEP = ("users", "conversion_from_previous", "conversion_from_first", "dropoff",
                "median_seconds_to_convert")


def _funnel_rows(conn: duckdb.DuckDBPyConnection, funnel_id: str, steps: list,
                 status: DataStatus) -> list[dict]:
    """One dict per step for the period; its numbers are None when nothing was synced."""
    from pipelines.funnels import funnel_frame

    frame = funnel_frame(conn, steps, status.period.first, status.period.last,
                         source="vemetric")
    rows = frame.sort("step_index").to_dicts()
    if status.empty:
        rows = [{**row, **dict.fromkeys(UNKNOWN_STEP)} for row in rows]
    return rows


@dataclass(frozen=True)
class AnalysisStatus(DataStatus):
    """An EngageTrack funnel report's completeness: the API's analysis of exactly the period
    was synced (complete, whichever days the timelines cover), or it was not, and then the
    notice names the range and the command that syncs it."""

    funnel: str = ""
    site_id: str = ""

    def notices(self, what: str = "this period", numbers: str = "the numbers below") -> list[str]:
        notes = super().notices(what, numbers)
        if self.empty:
            first, last = self.period.first, self.period.last
            notes.insert(1, (
                f"EngageTrack's analysis of the funnel {self.funnel!r} for {what} "
                f"({first}..{last}) has not been synced; a sync of its last day asks for it "
                f"while this report is declared: funnelhouse sync engagetrack --site "
                f"{self.site_id} --from {last} --to {last}"))
        return notes


ANALYSIS_STATUS = f"""
    select count(*), max(synced_at), any_value(site_id) from stg_engagetrack.funnel_analyses
    where site_id = {ENGAGETRACK_SITE} and funnel_id = $id and date_from = $first
      and date_to = $last"""


def _analysis_header(conn: duckdb.DuckDBPyConnection, header: ReportHeader, funnel_id: str,
                     name: str) -> ReportHeader:
    previous = header.previous
    return replace(header, status=_analysis_status(conn, header.period, funnel_id, name),
                   previous_status=_analysis_status(conn, previous, funnel_id, name)
                   if previous else None)


def _analysis_status(conn: duckdb.DuckDBPyConnection, period: Period, funnel_id: str,
                     name: str) -> AnalysisStatus:
    rows, synced_at, site = conn.execute(ANALYSIS_STATUS, _bounds(period, id=funnel_id)).fetchone()
    if site is None:
        site, = conn.execute(f"select {ENGAGETRACK_SITE}").fetchone()
    if not rows:
        return AnalysisStatus(period, (), tuple(period.dates()), funnel=name, site_id=site or "")
    # Rows of the analysis that failed validation, from the syncs that overlap the period.
    quarantined, = conn.execute(
        "select count(*) from raw_engagetrack._quarantine where table_name = 'funnel_analyses' "
        "and date_from <= $last and date_to >= $first", _bounds(period)).fetchone()
    return AnalysisStatus(period, tuple(period.dates()), (), quarantined,
                          synced_at.astimezone(UTC), funnel=name, site_id=site)


def _analysed_rows(conn: duckdb.DuckDBPyConnection, funnel_id: str, steps: list,
                   status: DataStatus) -> list[dict]:
    """EngageTrack's own analysis of the funnel for exactly the period, one dict per step;
    numbers None when it was not synced (visitors of several ranges cannot be added up).

    Read from the staging view, not ``marts.funnel_steps``: the mart is rebuilt for the ranges
    that overlap the synced window, and a comparison period the sync asked for beyond it
    reaches the mart only on a later build; the view always holds every synced range."""
    if status.empty:
        return [{"step_index": i, "step_name": s.get("name") or f"Step {i + 1}",
                 **dict.fromkeys(UNKNOWN_STEP)} for i, s in enumerate(steps)]
    return conn.execute(
        f"select step_index, step_name, {', '.join(UNKNOWN_STEP)} "
        "from stg_engagetrack.funnel_analyses "
        f"where site_id = {ENGAGETRACK_SITE} and funnel_id = $id and date_from = $first "
        "and date_to = $last order by step_index",
        _bounds(status.period, id=funnel_id)).pl().to_dicts()


def _step(index: int, row: dict, previous: list[dict] | None) -> FunnelStep:
    return FunnelStep(
        position=index + 1, name=row["step_name"], users=row["users"],
        conversion_from_previous=row["conversion_from_previous"],
        conversion_from_first=row["conversion_from_first"],
        drop_off=row["dropoff"] if index > 0 else None,   # nobody drops off before step 1
        previous_users=previous[index]["users"] if previous and index < len(previous) else None,
    )


def _conversion(rows: list[dict] | None) -> float | None:
    """Last step's users in percent of the first's (the API's ``conversionRate``)."""
    if not rows or rows[0]["users"] is None:
        return None
    first, last = rows[0]["users"], rows[-1]["users"]
    return round(100.0 * last / first, 2) if first else 0.0


def _funnel_metrics(current: list[dict], previous: list[dict] | None,
                    source: str = "vemetric") -> tuple[Metric, ...]:
    def pick(rows: list[dict] | None, position: int, key: str):
        if key == "median_seconds_to_convert" and source in NOT_GIVEN:
            return NOT_GIVEN[source] if rows is not None else None
        return rows[position][key] if rows else None

    return (
        Metric("Conversion", "percent", _conversion(current), _conversion(previous)),
        Metric("Entered (step 1)", "count", pick(current, 0, "users"), pick(previous, 0, "users")),
        Metric("Converted (last step)", "count", pick(current, -1, "users"),
               pick(previous, -1, "users")),
        Metric("Median time to convert", "seconds",
               pick(current, -1, "median_seconds_to_convert"),
               pick(previous, -1, "median_seconds_to_convert"), lower_is_better=True),
    )


def _funnel_chart(steps: Sequence[FunnelStep], compared: bool):
    if not steps or all(s.users is None for s in steps):
        return None
    frame = pl.DataFrame({"step": [f"{s.position}. {s.name}" for s in steps],
                          "users": [s.users for s in steps],
                          "previous": [s.previous_users for s in steps]},
                         schema={"step": pl.String, "users": pl.Int64, "previous": pl.Int64})
    return compared_bar_chart("funnel_steps", "Users per step", frame, "step", "users",
                              "previous" if compared else None, value_title="Users")
