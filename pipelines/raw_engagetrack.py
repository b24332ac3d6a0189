"""Schema ``raw_engagetrack``: what an EngageTrack sync lands, and the functions that land it.

One run syncs one site of one organization for a window of days. Tables (snake_case, as the
API names its fields, plus ``synced_at``); every table but ``sites`` has ``site_id``:

``sites``            every site of the organization, replaced each run
``goals``            the site's goals, archived ones included, replaced each run
``funnels``          the site's funnels, ``steps`` as canonical JSON, replaced each run
``annotations``      the site's annotations, replaced each run
``visitors``         one row per (visitor, day the visitor has events on in the window), the
                     profile and totals as ``/visitors`` lists them; ``partition_date``
``timeline_events``  one row per event of the visitors' timelines in the window; ``event_id``
                     is the API's own event id (stable across runs); ``partition_date``
``stats``            ``analytics/stats`` for the window and for each of its days
``breakdowns``       pages, sources, channels, devices (device/browser/os) and locations
                     (country/city) for the window, every row with its rank (``position``)
``revenue``          ``analytics/revenue`` for the window
``goal_stats``       ``goals/stats`` for the window, one row per active goal
``funnel_analyses``  ``funnels/{id}/analyze`` per funnel, one row per step, for the window and
                     for each of its days; ``top_sources``/``top_countries`` as JSON; and,
                     for the funnels EngageTrack funnel reports read, each report's period
                     that ends on a day of the window (:func:`report_ranges`)
``_quarantine``      rows that failed validation: table_name, checks, reason, raw JSON, site

Range tables carry ``date_from``/``date_to``, the first and last day (inclusive) asked for;
the API's answered ``period`` must say the same, or the answer is malformed.

**Idempotence** as for Vemetric (:mod:`pipelines.raw_vemetric`), per site: daily tables are
replaced by ``partition_date`` in the window, range tables for every range inside it, each
landing in one transaction through :func:`pipelines.landing.replace_window`. A report period
asked for beyond the window replaces exactly that funnel's rows of that range, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from pipelines import landing, warehouse
from pipelines.landing import (
    QUARANTINE_TABLE,
    Field,
    Landed,
    MalformedAnswer,
    Observer,
    Silent,
    Stage,
    Window,
    column_dtype,
    frame_from_rows,
    replace_window,
    staging_dir,
)
from pipelines.reports.periods import Period, resolve_period
from pipelines.validation import QUARANTINE_COLUMNS, split_valid
from pipelines.validation_engagetrack import BREAKDOWN_DIMENSIONS, MODELS, WINDOWED

if TYPE_CHECKING:
    from pipelines.reports.config import ReportConfig

SCHEMA = "raw_engagetrack"
SNAPSHOTS = ("sites", "goals", "funnels", "annotations")
DAILY = ("visitors", "timeline_events")
RANGED = ("stats", "breakdowns", "revenue", "goal_stats", "funnel_analyses")
EVENT_BATCH_ROWS = 50_000

SITE_FIELDS = (
    Field("id", "id", "str"), Field("name", "name", "str"), Field("domain", "domain", "str"),
    Field("timezone", "timezone", "str"), Field("public_id", "public_id", "str"),
    Field("created_at", "created_at", "ts"),
)
GOAL_FIELDS = (
    Field("id", "id", "str"), Field("name", "name", "str"), Field("type", "type", "str"),
    Field("pattern", "pattern", "str"), Field("match_type", "match_type", "str"),
    Field("archived", "archived", "bool"), Field("created_at", "created_at", "ts"),
)
FUNNEL_FIELDS = (
    Field("id", "id", "str"), Field("name", "name", "str"),
    Field("description", "description", "str"), Field("steps", "steps", "json_array"),
    Field("created_at", "created_at", "ts"), Field("updated_at", "updated_at", "ts"),
)
ANNOTATION_FIELDS = (
    Field("id", "id", "str"), Field("date", "date", "str"), Field("text", "text", "str"),
    Field("created_at", "created_at", "ts"),
)
VISITOR_FIELDS = (
    Field("id", "id", "str"), Field("uid", "uid", "str"),
    *(Field(name, name, "str", nullable=True)
      for name in ("email", "name", "avatar_url", "external_id")),
    # null for a visitor without events; such visitors are never in a window's sync
    # event times: with milliseconds (the served spec's choice), as are the timeline's
    Field("first_seen_at", "first_seen_at", "ts_ms", nullable=True),
    Field("last_seen_at", "last_seen_at", "ts_ms", nullable=True),
    *(Field(name, name, "int") for name in ("total_sessions", "total_pageviews", "total_goals")),
    Field("total_revenue", "total_revenue", "float"),
    *(Field(name, name, "str", nullable=True) for name in (
        "last_country", "last_browser", "last_os", "last_device", "last_referrer_source")),
)
EVENT_FIELDS = (
    Field("id", "event_id", "str"), Field("session_id", "session_id", "str"),
    Field("type", "type", "str"), Field("name", "name", "str"),
    Field("timestamp", "timestamp", "ts_ms"),
    *(Field(name, name, "str") for name in (
        "path", "title", "referrer", "referrer_source", "channel", "utm_source", "utm_medium",
        "utm_campaign", "country", "city", "browser", "os", "device")),
    Field("revenue", "revenue", "float"), Field("currency", "currency", "str"),
    Field("properties", "properties", "json"),
)
STATS_FIELDS = (
    *(Field(name, name, "int") for name in ("visitors", "sessions", "pageviews", "events")),
    *(Field(name, name, "float")
      for name in ("bounce_rate", "avg_session_duration", "views_per_session")),
)
BREAKDOWN_FIELDS = tuple(Field(n, n, "int") for n in ("visitors", "sessions", "pageviews"))
REVENUE_FIELDS = (
    Field("total_revenue", "total_revenue", "float"), Field("orders", "orders", "int"),
    Field("paying_visitors", "paying_visitors", "int"),
    Field("average_order_value", "average_order_value", "float"),
    Field("currency", "currency", "str"),
)
GOAL_STAT_FIELDS = (
    Field("goal_id", "goal_id", "str"), Field("name", "name", "str"),
    Field("completions", "completions", "int"), Field("visitors", "visitors", "int"),
    Field("conversion_rate", "conversion_rate", "float"), Field("revenue", "revenue", "float"),
)
FUNNEL_STEP_FIELDS = (
    Field("step_id", "step_id", "str"), Field("name", "name", "str"),
    Field("order", "order", "int"), Field("visitors", "visitors", "int"),
    Field("conversion_rate", "conversion_rate", "float"),
    Field("dropoff_rate", "dropoff_rate", "float"), Field("revenue", "revenue", "float"),
    Field("top_sources", "top_sources", "json_array"),
    Field("top_countries", "top_countries", "json_array"),
)

_RANGE = "site_id varchar, date_from date, date_to date"
TABLES: dict[str, str] = {
    "sites": """id varchar, name varchar, domain varchar, timezone varchar, public_id varchar,
        created_at timestamptz, synced_at timestamptz""",
    "goals": """site_id varchar, id varchar, name varchar, type varchar, pattern varchar,
        match_type varchar, archived boolean, created_at timestamptz, synced_at timestamptz""",
    "funnels": """site_id varchar, id varchar, name varchar, description varchar, steps varchar,
        created_at timestamptz, updated_at timestamptz, synced_at timestamptz""",
    "annotations": """site_id varchar, id varchar, date varchar, text varchar,
        created_at timestamptz, synced_at timestamptz""",
    "visitors": """site_id varchar, id varchar, uid varchar, email varchar, name varchar,
        avatar_url varchar, external_id varchar, first_seen_at timestamptz,
        last_seen_at timestamptz, total_sessions bigint, total_pageviews bigint,
        total_goals bigint, total_revenue double, last_country varchar, last_browser varchar,
        last_os varchar, last_device varchar, last_referrer_source varchar,
        partition_date date, synced_at timestamptz""",
    "timeline_events": """site_id varchar, event_id varchar, visitor_id varchar,
        session_id varchar, type varchar, name varchar, timestamp timestamptz, path varchar,
        title varchar, referrer varchar, referrer_source varchar, channel varchar,
        utm_source varchar, utm_medium varchar, utm_campaign varchar, country varchar,
        city varchar, browser varchar, os varchar, device varchar, revenue double,
        currency varchar, properties varchar, partition_date date, synced_at timestamptz""",
    "stats": f"""{_RANGE}, visitors bigint, sessions bigint, pageviews bigint, events bigint,
        bounce_rate double, avg_session_duration double, views_per_session double,
        synced_at timestamptz""",
    "breakdowns": f"""{_RANGE}, breakdown varchar, dimension varchar, position integer,
        value varchar, visitors bigint, sessions bigint, pageviews bigint,
        synced_at timestamptz""",
    "revenue": f"""{_RANGE}, total_revenue double, orders bigint, paying_visitors bigint,
        average_order_value double, currency varchar, synced_at timestamptz""",
    "goal_stats": f"""{_RANGE}, goal_id varchar, name varchar, completions bigint,
        visitors bigint, conversion_rate double, revenue double, synced_at timestamptz""",
    "funnel_analyses": f"""{_RANGE}, funnel_id varchar, step_id varchar, name varchar,
        "order" integer, visitors bigint, conversion_rate double, dropoff_rate double,
        revenue double, top_sources varchar, top_countries varchar, synced_at timestamptz""",
    "_quarantine": QUARANTINE_TABLE + ", site_id varchar",
}


class Connector(Protocol):
    """What landing needs from ``pipelines.connectors.engagetrack.EngageTrackConnector``."""

    def sites(self) -> list[dict]: ...
    def goals(self, site_id: str, include_archived: bool = False) -> list[dict]: ...
    def funnels(self, site_id: str) -> list[dict]: ...
    def annotations(self, site_id: str) -> list[dict]: ...
    def visitor_pages(self, site_id: str, search: str | None = None) -> Iterator[list[dict]]: ...
    def timeline_pages(self, site_id: str, visitor_id: str, first: date | None = None,
                       last: date | None = None) -> Iterator[list[dict]]: ...
    def site_stats(self, site_id: str, *, period: str = "custom", first: date | None = None,
                   last: date | None = None, base: date | None = None) -> dict: ...
    def revenue(self, site_id: str, first: date, last: date) -> dict: ...
    def breakdown_pages(self, site_id: str, name: str, first: date, last: date,
                        dimension: str | None = None) -> Iterator[list[dict]]: ...
    def goal_stats(self, site_id: str, first: date, last: date) -> list[dict]: ...
    def analyze_funnel(self, site_id: str, funnel_id: str, first: date,
                       last: date) -> list[dict]: ...


def ensure_schema(conn) -> None:
    conn.execute(f"create schema if not exists {SCHEMA}")
    for table, columns in TABLES.items():
        conn.execute(f"create table if not exists {SCHEMA}.{table} ({columns})")


def ranges(window: Window) -> list[Window]:
    """The ranges asked for per day-level figure: the window, and each day when it has several."""
    days = window.days
    return [window, *days] if len(days) > 1 else [window]


def report_ranges(window: Window, reports: Iterable[ReportConfig],
                  funnels: Iterable[tuple[str, str]]) -> dict[str, list[Window]]:
    """The analyses EngageTrack funnel reports read that :func:`ranges` does not ask for.

    Visitors of several ranges cannot be added up, so a report over any period needs the
    API's analysis of exactly that period. For each funnel report with ``source:
    engagetrack`` whose funnel (by id or name) is among ``funnels`` (``(id, name)`` pairs):
    the report's period ending on each day of the window, where its preset can end on that
    day (``last_N_days`` every day, ``last_week`` on Sundays, ``last_month`` on a month's
    last day), and the period before it when the report compares. A daily sync so lands
    every period a scheduled report will read. By funnel id, sorted; none when no such
    report is declared."""
    funnels = list(funnels)
    # Compared as (first, last): a caller's window may be a Window subclass (Dagster's).
    asked = {(span.first, span.last) for span in ranges(window)}
    wanted: dict[str, set[tuple[date, date]]] = {}
    for config in reports:
        if (config.template, config.source) != ("funnel", "engagetrack"):
            continue
        ids = [fid for fid, name in funnels if config.funnel in (fid, name)]
        for day in window.days:
            for period in _periods_ending(config, day.first):
                for fid in ids:
                    wanted.setdefault(fid, set()).add((period.first, period.last))
    return {fid: [Window(*span) for span in sorted(spans - asked)]
            for fid, spans in sorted(wanted.items()) if spans - asked}


def _periods_ending(config: ReportConfig, day: date) -> list[Period]:
    """The report's period (and the one it is compared with) when it ends on ``day``."""
    # A report made on the next day covers the days before it: its period ends on ``day``
    # exactly when the preset can end there.
    period = resolve_period(config.range, datetime.combine(day + timedelta(days=1), time(), UTC))
    if period.last != day:
        return []
    return [period, period.previous()] if config.comparison == "previous_period" else [period]


def _split(table: str, frame: pl.DataFrame, api_names: dict[str, str],
           window: Window | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    return split_valid(table, frame, api_names, (window.start, window.end) if window else None,
                       models=MODELS, windowed=WINDOWED)


def _site_path(site_id: str, rest: str = "") -> str:
    return f"/organizations/{{orgId}}/sites/{site_id}{rest}"


# --- snapshots: sites, goals, funnels, annotations ---------------------------------------------

def land_sites(connector: Connector, path: str | Path | None, window: Window,
               synced_at: datetime) -> Landed:
    """Replace ``sites`` with every site of the organization."""
    frame = frame_from_rows(_listed(connector.sites(), "/organizations/{orgId}/sites"),
                            SITE_FIELDS, "/organizations/{orgId}/sites")
    return _land_snapshot("sites", frame, SITE_FIELDS, path, window, synced_at, site_id=None)


def land_goals(connector: Connector, path: str | Path | None, window: Window,
               synced_at: datetime, site_id: str) -> Landed:
    """Replace the site's ``goals``, archived ones included."""
    where = _site_path(site_id, "/goals?include_archived=true")
    rows = _listed(connector.goals(site_id, include_archived=True), where)
    return _land_site_snapshot("goals", rows, GOAL_FIELDS, where, path, window, synced_at, site_id)


def land_funnels(connector: Connector, path: str | Path | None, window: Window,
                 synced_at: datetime, site_id: str) -> Landed:
    where = _site_path(site_id, "/funnels")
    rows = _listed(connector.funnels(site_id), where)
    return _land_site_snapshot("funnels", rows, FUNNEL_FIELDS, where, path, window, synced_at,
                               site_id)


def land_annotations(connector: Connector, path: str | Path | None, window: Window,
                     synced_at: datetime, site_id: str) -> Landed:
    where = _site_path(site_id, "/annotations")
    rows = _listed(connector.annotations(site_id), where)
    return _land_site_snapshot("annotations", rows, ANNOTATION_FIELDS, where, path, window,
                               synced_at, site_id)


def _listed(rows: Any, where: str) -> list:
    if not isinstance(rows, list):
        raise MalformedAnswer(f"{where}: expected a list, got {type(rows).__name__}")
    return rows


def _land_site_snapshot(table: str, rows: list, fields: Sequence[Field], where: str,
                        path: str | Path | None, window: Window, synced_at: datetime,
                        site_id: str) -> Landed:
    frame = frame_from_rows(rows, fields, where).with_columns(site_id=pl.lit(site_id))
    return _land_snapshot(table, frame, fields, path, window, synced_at, site_id=site_id)


def _land_snapshot(table: str, frame: pl.DataFrame, fields: Iterable[Field],
                   path: str | Path | None, window: Window, synced_at: datetime, *,
                   site_id: str | None) -> Landed:
    good, bad = _split(table, frame, _api_names(fields))
    scope, params = (" where site_id = $site", {"site": site_id}) if site_id else ("", {})
    with warehouse.writer(path) as conn:
        ensure_schema(conn)
        conn.register("incoming", good)
        conn.register("bad", bad.with_columns(site_id=pl.lit(site_id, pl.String())))
        replace_window(conn, [
            (f"delete from {SCHEMA}.{table}{scope}", params),
            (f"insert into {SCHEMA}.{table} by name select *, $at as synced_at from incoming",
             {"at": synced_at}),
            *_quarantine_steps([table], window, synced_at, site_id, snapshot=True),
        ])
    return Landed({table: good.height}, {table: bad.height})


# --- visitors and their timelines --------------------------------------------------------------

def land_visitors_and_events(connector: Connector, path: str | Path | None, window: Window,
                             synced_at: datetime, site_id: str,
                             observer: Observer | None = None) -> Landed:
    """List the visitors seen in the window (most recent first, stopping at the first page
    that reaches back before it), page each one's timeline for the window once, and replace
    both tables' days in one transaction."""
    observer = observer or Silent()
    visitors = _window_visitors(connector, window, site_id)
    good_visitors, bad_visitors = _split("visitors", visitors, _api_names(VISITOR_FIELDS))
    observer.rows("visitors", good_visitors.height)
    observer.expect(good_visitors.height)  # at least one timeline request per visitor
    with staging_dir() as tmp:
        events, bad_events = _stage_events(connector, site_id, good_visitors["id"], window,
                                           Path(tmp), observer)
        stage = Stage("visitors", Path(tmp), {**_schema(VISITOR_FIELDS), "site_id": pl.String()})
        stage.add(good_visitors)
        with warehouse.writer(path) as conn:
            ensure_schema(conn)
            conn.register("bad", pl.concat([bad_visitors, bad_events])
                          .with_columns(site_id=pl.lit(site_id)))
            params = {**window.params(), "site": site_id, "at": synced_at}
            replace_window(conn, [
                *_replace_days("visitors", _visitors_insert(stage.source(), events.source()),
                               params),
                *_replace_days("timeline_events", _events_insert(events.source()), params),
                *_quarantine_steps(["visitors", "timeline_events"], window, synced_at, site_id),
            ])
            counts = _window_counts(conn, DAILY, window, site_id)
    return Landed(counts, {"visitors": bad_visitors.height, "timeline_events": bad_events.height})


def _window_visitors(connector: Connector, window: Window, site_id: str) -> pl.DataFrame:
    return window_visitors(connector, window, site_id)[0]


def window_visitors(connector: Connector, window: Window, site_id: str
                    ) -> tuple[pl.DataFrame, int]:
    """Visitors whose first..last seen span meets the window (the others have no event in
    it; some of these have none either, but only their timeline can tell), and the listing
    pages read to find them.

    The listing is ordered by ``last_seen_at``, newest first, so it stops at the first page
    whose last visitor was last seen before the window began."""
    frames = []
    for number, page in enumerate(connector.visitor_pages(site_id), start=1):
        where = f"{_site_path(site_id, '/visitors')} page {number}"
        frame = frame_from_rows(_listed(page, where), VISITOR_FIELDS, where)
        frames.append(frame)
        oldest = frame["last_seen_at"][-1] if frame.height else None
        if oldest is None or oldest < window.start:
            break
    listed = pl.concat(frames) if frames else pl.DataFrame(schema=_schema(VISITOR_FIELDS))
    visitors = listed.filter((pl.col("last_seen_at") >= window.start)
                             & (pl.col("first_seen_at") < window.end)).with_columns(
        site_id=pl.lit(site_id)).unique("id", keep="first", maintain_order=True)
    return visitors, len(frames)


def _stage_events(connector: Connector, site_id: str, visitor_ids: pl.Series, window: Window,
                  tmp: Path, observer: Observer) -> tuple[Stage, pl.DataFrame]:
    """Page every visitor's timeline for the window, staging batches of ~EVENT_BATCH_ROWS rows
    (rows typed per batch, not per small page)."""
    schema = {"site_id": pl.String(), "visitor_id": pl.String(), **_schema(EVENT_FIELDS),
              "partition_date": pl.Date()}
    stage = Stage("timeline_events", tmp, schema)
    names = {"visitor_id": "visitor_id", **_api_names(EVENT_FIELDS)}
    rows: list = []
    owners: list[str] = []
    starts: list[tuple[int, str]] = []
    quarantined = [pl.DataFrame(schema=QUARANTINE_COLUMNS)]

    def locate(index: int) -> tuple[str, int]:
        start, name = next((s, n) for s, n in reversed(starts) if s <= index)
        return name, index - start

    def flush() -> None:
        if not rows:
            return
        frame = frame_from_rows(rows, EVENT_FIELDS, locate).with_columns(
            site_id=pl.lit(site_id), visitor_id=pl.Series(owners, dtype=pl.String()))
        frame = frame.with_columns(partition_date=pl.col("timestamp").dt.date())
        good, bad = _split("timeline_events", frame.select(list(schema)), names, window)
        stage.add(good)
        quarantined.append(bad)
        observer.rows("timeline_events", good.height)
        rows.clear(), owners.clear(), starts.clear()

    for visitor_id in visitor_ids:
        pages = connector.timeline_pages(site_id, visitor_id, window.first, window.last)
        for number, page in enumerate(pages, start=1):
            name = f"{_site_path(site_id, f'/visitors/{visitor_id}/timeline')} page {number}"
            starts.append((len(rows), name))
            rows.extend(_listed(page, name))
            owners.extend([visitor_id] * len(page))
            if len(rows) >= EVENT_BATCH_ROWS:
                flush()
    flush()
    return stage, pl.concat(quarantined)


def _visitors_insert(visitors: str, events: str) -> str:
    # A visitor lands on every day of the window they have events on.
    return f"""insert into {SCHEMA}.visitors by name
        select v.*, d.partition_date, $at as synced_at
        from {visitors} v
        join (select distinct visitor_id as id, partition_date from {events}) d using (id)"""


def _events_insert(events: str) -> str:
    # Offset paging over a timeline that grows while it is read can repeat an event on two
    # pages; the API's event id makes the repeat one row.
    return f"""insert into {SCHEMA}.timeline_events by name
        select *, $at as synced_at from {events}
        qualify row_number() over (partition by event_id order by timestamp) = 1"""


def _replace_days(table: str, insert: str, params: dict[str, Any]
                  ) -> list[tuple[str, dict[str, Any]]]:
    delete = (f"delete from {SCHEMA}.{table} where site_id = $site "
              "and partition_date between $first and $last")
    return [(delete, _used(delete, params)), (insert, _used(insert, params))]


def _used(statement: str, params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if f"${k}" in statement}


def _window_counts(conn, tables: Iterable[str], window: Window, site_id: str) -> dict[str, int]:
    return {
        t: conn.execute(f"select count(*) from {SCHEMA}.{t} where site_id = $site and "
                        "partition_date between $first and $last",
                        {**window.params(), "site": site_id}).fetchone()[0]
        for t in tables
    }


# --- the API's own aggregates ------------------------------------------------------------------

def land_stats(connector: Connector, path: str | Path | None, window: Window,
               synced_at: datetime, site_id: str) -> Landed:
    """``analytics/stats`` for the window and each of its days."""
    frames = []
    for span in ranges(window):
        where = f"{_site_path(site_id, '/analytics/stats')} {span.first}..{span.last}"
        body = _answer(connector.site_stats(site_id, first=span.first, last=span.last), span,
                       where)
        frames.append(_ranged(frame_from_rows([body], STATS_FIELDS, where), span, site_id))
    good, bad = _split("stats", pl.concat(frames), _api_names(STATS_FIELDS))
    return _land_ranges("stats", good, bad, path, window, synced_at, site_id)


def land_revenue(connector: Connector, path: str | Path | None, window: Window,
                 synced_at: datetime, site_id: str) -> Landed:
    where = f"{_site_path(site_id, '/analytics/revenue')} {window.first}..{window.last}"
    body = _answer(connector.revenue(site_id, window.first, window.last), window, where)
    frame = _ranged(frame_from_rows([body], REVENUE_FIELDS, where), window, site_id)
    good, bad = _split("revenue", frame, _api_names(REVENUE_FIELDS))
    return _land_ranges("revenue", good, bad, path, window, synced_at, site_id)


def land_breakdowns(connector: Connector, path: str | Path | None, window: Window,
                    synced_at: datetime, site_id: str) -> Landed:
    """Every breakdown by every dimension it offers, for the window, every page."""
    frames = [_breakdown_frame(connector, window, site_id, name, dimension)
              for name, dimensions in BREAKDOWN_DIMENSIONS.items() for dimension in dimensions]
    good, bad = _split("breakdowns", pl.concat(frames), _api_names(BREAKDOWN_FIELDS))
    return _land_ranges("breakdowns", good, bad, path, window, synced_at, site_id)


def breakdown_calls() -> list[tuple[str, str | None]]:
    """``(breakdown, dimension parameter)`` per call: the parameter only where there is a choice."""
    return [(name, dimension if len(dimensions) > 1 else None)
            for name, dimensions in BREAKDOWN_DIMENSIONS.items() for dimension in dimensions]


def _breakdown_frame(connector: Connector, window: Window, site_id: str, name: str,
                     dimension: str) -> pl.DataFrame:
    choice = dimension if len(BREAKDOWN_DIMENSIONS[name]) > 1 else None
    fields = (Field(dimension, "value", "str"), *BREAKDOWN_FIELDS)
    frames = []
    pages = connector.breakdown_pages(site_id, name, window.first, window.last, choice)
    for number, page in enumerate(pages, start=1):
        where = f"{_site_path(site_id, f'/analytics/{name}')} {dimension} page {number}"
        frames.append(frame_from_rows(_listed(page, where), fields, where))
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=_schema(fields))
    return _ranged(frame.with_row_index("position").with_columns(
        pl.col("position").cast(pl.Int64), breakdown=pl.lit(name), dimension=pl.lit(dimension)),
        window, site_id)


def land_goal_stats(connector: Connector, path: str | Path | None, window: Window,
                    synced_at: datetime, site_id: str) -> Landed:
    where = f"{_site_path(site_id, '/goals/stats')} {window.first}..{window.last}"
    rows = _listed(connector.goal_stats(site_id, window.first, window.last), where)
    frame = _ranged(frame_from_rows(rows, GOAL_STAT_FIELDS, where), window, site_id)
    good, bad = _split("goal_stats", frame, _api_names(GOAL_STAT_FIELDS))
    return _land_ranges("goal_stats", good, bad, path, window, synced_at, site_id)


def land_funnel_analyses(connector: Connector, path: str | Path | None, window: Window,
                         synced_at: datetime, site_id: str, funnel_ids: Iterable[str],
                         extra: Mapping[str, Sequence[Window]] | None = None) -> Landed:
    """``funnels/{id}/analyze`` per funnel, for the window and each of its days, and for the
    ``extra`` ranges of each funnel id (:func:`report_ranges`), in one transaction."""
    extra = extra or {}
    asked = [(fid, span) for fid in funnel_ids for span in ranges(window)]
    asked += [(fid, span) for fid, spans in extra.items() for span in spans]
    frames = [pl.DataFrame(schema={**_schema(FUNNEL_STEP_FIELDS), "funnel_id": pl.String(),
                                   "site_id": pl.String(), "date_from": pl.Date(),
                                   "date_to": pl.Date()})]
    for funnel_id, span in asked:
        where = (f"{_site_path(site_id, f'/funnels/{funnel_id}/analyze')} "
                 f"{span.first}..{span.last}")
        rows = _listed(connector.analyze_funnel(site_id, funnel_id, span.first, span.last),
                       where)
        frame = frame_from_rows(rows, FUNNEL_STEP_FIELDS, where)
        frames.append(_ranged(frame.with_columns(funnel_id=pl.lit(funnel_id)), span, site_id))
    good, bad = _split("funnel_analyses", pl.concat(frames, how="diagonal"),
                       _api_names(FUNNEL_STEP_FIELDS))
    return _land_ranges("funnel_analyses", good, bad, path, window, synced_at, site_id,
                        _replace_extra(extra, site_id))


def land_site_funnel_analyses(connector: Connector, path: str | Path | None, window: Window,
                              synced_at: datetime, site_id: str,
                              reports: Iterable[ReportConfig]) -> Landed:
    """What the sync's ``funnel_analyses`` asset lands: every funnel of the site already landed
    in ``funnels``, for the window's ranges, and the ``reports``' periods (:func:`report_ranges`)."""
    with warehouse.writer(path) as conn:
        ensure_schema(conn)
        funnels = conn.execute(f"select id, name from {SCHEMA}.funnels where site_id = $site "
                               "order by id", {"site": site_id}).fetchall()
    extra = report_ranges(window, reports, funnels)
    return land_funnel_analyses(connector, path, window, synced_at, site_id,
                                [fid for fid, _ in funnels], extra)


def _replace_extra(extra: Mapping[str, Sequence[Window]], site_id: str
                   ) -> list[tuple[str, dict[str, Any]]]:
    """One delete per funnel of exactly its extra ranges (they may lie outside the window)."""
    return [(f"delete from {SCHEMA}.funnel_analyses where site_id = $site and funnel_id = $id "
             "and concat(date_from, '/', date_to) in (select unnest($spans))",
             {"site": site_id, "id": funnel_id,
              "spans": [f"{span.first}/{span.last}" for span in spans]})
            for funnel_id, spans in extra.items() if spans]


def _answer(body: Any, span: Window, where: str) -> dict:
    """An aggregate's body, checked to be about the range asked for."""
    if not isinstance(body, dict):
        raise MalformedAnswer(f"{where}: expected an object, got {type(body).__name__}")
    asked = {"from": span.first.isoformat(), "to": span.last.isoformat()}
    if body.get("period") != asked:
        raise MalformedAnswer(f"{where}: answered period {body.get('period')!r}, asked {asked}")
    return body


def _ranged(frame: pl.DataFrame, span: Window, site_id: str) -> pl.DataFrame:
    return frame.with_columns(site_id=pl.lit(site_id), date_from=pl.lit(span.first),
                              date_to=pl.lit(span.last))


def _land_ranges(table: str, good: pl.DataFrame, bad: pl.DataFrame, path: str | Path | None,
                 window: Window, synced_at: datetime, site_id: str,
                 deletes: Sequence[tuple[str, dict[str, Any]]] = ()) -> Landed:
    delete = (f"delete from {SCHEMA}.{table} where site_id = $site "
              "and date_from >= $first and date_to <= $last")
    with warehouse.writer(path) as conn:
        ensure_schema(conn)
        conn.register("incoming", good)
        conn.register("bad", bad.with_columns(site_id=pl.lit(site_id)))
        replace_window(conn, [
            (delete, {**window.params(), "site": site_id}),
            *deletes,
            (f"insert into {SCHEMA}.{table} by name select *, $at as synced_at from incoming",
             {"at": synced_at}),
            *_quarantine_steps([table], window, synced_at, site_id),
        ])
    return Landed({table: good.height}, {table: bad.height})


# --- quarantine --------------------------------------------------------------------------------

def _quarantine_steps(tables: list[str], window: Window, synced_at: datetime,
                      site_id: str | None, *, snapshot: bool = False):
    scope, params = (" and site_id = $site", {"site": site_id}) if site_id else ("", {})
    return landing.quarantine_steps(SCHEMA, tables, window, synced_at=synced_at,
                                    snapshot=snapshot, scope=scope, scope_params=params)


def quarantined(path: str | Path | None, table: str, window: Window,
                site_id: str | None = None) -> pl.DataFrame:
    """The quarantine records of ``table`` (of ``site_id``'s sync) for exactly this window."""
    scope, params = (" and site_id = $site", {"site": site_id}) \
        if site_id and table != "sites" else ("", {})
    with warehouse.writer(path) as conn:
        ensure_schema(conn)
        return landing.quarantined_rows(conn, SCHEMA, table, window,
                                        snapshot=table in SNAPSHOTS, scope=scope,
                                        scope_params=params)


def window_rows(path: str | Path | None, window: Window, site_id: str) -> dict[str, int]:
    """Rows per raw table that belong to the site's window (snapshot tables: all its rows)."""
    counts = {}
    params = {**window.params(), "site": site_id}
    with warehouse.writer(path) as conn:
        ensure_schema(conn)
        for table in (*SNAPSHOTS, *DAILY, *RANGED):
            where = ("where true" if table == "sites" else "where site_id = $site") + (
                " and partition_date between $first and $last" if table in DAILY else
                " and date_from >= $first and date_to <= $last" if table in RANGED else "")
            counts[table] = conn.execute(f"select count(*) from {SCHEMA}.{table} {where}",
                                         _used(where, params)).fetchone()[0]
    return counts


def _schema(fields: Iterable[Field]) -> dict[str, pl.DataType]:
    return {f.column: column_dtype(f) for f in fields}


def _api_names(fields: Iterable[Field]) -> dict[str, str]:
    return {f.column: f.api for f in fields}
