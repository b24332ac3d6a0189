"""Schema ``raw_vemetric``: what a Vemetric sync lands, and the functions that land it.

Tables (snake_case columns named after the API fields, plus ``synced_at``):

``project``         the project, one row, replaced each run
``funnels``         one row per funnel, ``steps`` as canonical JSON, replaced each run
``users``           one row per (user, day the user has events in the synced range), the
                    profile as the API lists it for the whole range; ``partition_date``
``user_events``     one row per distinct event, ``user_id``, ``event_id``, ``occurrences``,
                    ``partition_date``
``analytics``       the API's own aggregates: one row per (date_from, date_to, group_by,
                    group_value); ``group_by`` is ``''`` for the aggregate row, whose
                    ``group_value`` is ``''``; interval rows have ``group_by = 'interval:auto'``
                    and the bucket start (``YYYY-MM-DDTHH:MM:SSZ``) as value
``funnel_results``  one row per (funnel_id, date_from, date_to), ``steps`` as JSON
``filter_values``   one row per (date_from, date_to, field, value), ``position`` as returned
``_quarantine``     rows that failed validation: table_name, checks, reason, raw JSON

``date_from``/``date_to`` are the first and last day (inclusive) of the range asked for.

**event_id.** Events have no id in the API. ``event_id`` is the md5 hex of the JSON array
``[user_id, session_id, created_at as YYYY-MM-DDTHH:MM:SSZ, name, is_page_view, origin, path,
hash, data]`` (``data`` as canonical JSON, nulls as JSON null). The issue names user, session,
time, name, path, hash and data; origin and is_page_view are hashed too so that two events
differing only there never share an id. Identical events in the same second (the API cannot
tell them apart) collapse into one row whose ``occurrences`` counts them, so
``sum(occurrences)`` still equals the API's event counts.

**Idempotence.** Every table is replaced for the run's window in one transaction: daily tables
by ``partition_date`` in [first, last]; range tables (analytics, funnel_results, filter_values)
for every range that lies inside [first, last]. Running a window twice gives identical tables
(``synced_at`` aside); a crash leaves the previous state of each table.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import orjson
import polars as pl

from pipelines import landing, warehouse
from pipelines.connectors.prefetch import read_ahead
from pipelines.connectors.vemetric import date_range
from pipelines.landing import (
    QUARANTINE_TABLE,
    Field,
    Landed,
    Observer,
    MalformedAnswer,
    Stage,
    column_dtype,
    create_view,
    frame_from_rows,
    replace_window,
    staging_dir,
)
from pipelines.validation import FIELD_TOKENS, QUARANTINE_COLUMNS, split_valid

SCHEMA = "raw_vemetric"
METRICS = ("users", "pageviews", "events", "bounceRate", "visitDuration")
EVENT_BATCH_ROWS = 10_000  # event rows per staged batch (whole users): bounded memory

PROJECT_FIELDS = (
    Field("id", "id", "str"), Field("name", "name", "str"), Field("domain", "domain", "str"),
    Field("token", "token", "str"), Field("createdAt", "created_at", "ts_ms"),
    Field("firstEventAt", "first_event_at", "ts_ms", nullable=True),
    Field("hasPublicDashboard", "has_public_dashboard", "bool"),
    Field("excludedIps", "excluded_ips", "str_list"),
    Field("excludedCountries", "excluded_countries", "str_list"),
)
FUNNEL_FIELDS = (
    Field("id", "id", "str"), Field("name", "name", "str"),
    Field("icon", "icon", "str", nullable=True), Field("steps", "steps", "json_array"),
    Field("createdAt", "created_at", "ts_ms"), Field("updatedAt", "updated_at", "ts_ms"),
)
USER_FIELDS = (
    Field("id", "id", "str"), Field("identifier", "identifier", "str", nullable=True),
    Field("displayName", "display_name", "str", nullable=True),
    Field("country", "country", "str", nullable=True),
    Field("city", "city", "str", nullable=True), Field("lastSeenAt", "last_seen_at", "ts"),
    Field("lastEventFiredAt", "last_event_fired_at", "ts", nullable=True),
    Field("avatarUrl", "avatar_url", "str", nullable=True), Field("data", "data", "json"),
    Field("anonymous", "anonymous", "bool"),
)
EVENT_FIELDS = (
    Field("sessionId", "session_id", "str"), Field("name", "name", "str"),
    Field("isPageView", "is_page_view", "bool"), Field("createdAt", "created_at", "ts"),
    Field("origin", "origin", "str", nullable=True), Field("path", "path", "str", nullable=True),
    Field("hash", "hash", "str", nullable=True), Field("data", "data", "json"),
)
METRIC_FIELDS = (
    Field("users", "users", "int"), Field("pageviews", "pageviews", "int"),
    Field("events", "events", "int"),
    Field("bounceRate", "bounce_rate", "float", nullable=True),
    Field("visitDuration", "visit_duration", "float", nullable=True),
)
PERIOD_FIELDS = (Field("from", "period_from", "ts"), Field("to", "period_to", "ts"))
FUNNEL_RESULT_FIELDS = (
    Field("activeUsers", "active_users", "int"), Field("conversionRate", "conversion_rate", "float"),
    Field("activeUserConversionRate", "active_user_conversion_rate", "float"),
    Field("steps", "steps", "json_array"),
)

TABLES: dict[str, str] = {
    "project": """id varchar, name varchar, domain varchar, token varchar,
        created_at timestamptz, first_event_at timestamptz, has_public_dashboard boolean,
        excluded_ips varchar[], excluded_countries varchar[], synced_at timestamptz""",
    "funnels": """id varchar, name varchar, icon varchar, steps varchar,
        created_at timestamptz, updated_at timestamptz, synced_at timestamptz""",
    "users": """id varchar, identifier varchar, display_name varchar, country varchar,
        city varchar, last_seen_at timestamptz, last_event_fired_at timestamptz,
        avatar_url varchar, data varchar, anonymous boolean, partition_date date,
        synced_at timestamptz""",
    "user_events": """event_id varchar, user_id varchar, session_id varchar, name varchar,
        is_page_view boolean, created_at timestamptz, origin varchar, path varchar,
        hash varchar, data varchar, occurrences integer, partition_date date,
        synced_at timestamptz""",
    "analytics": """date_from date, date_to date, group_by varchar, group_value varchar,
        users bigint, pageviews bigint, events bigint, bounce_rate double,
        visit_duration double, period_from timestamptz, period_to timestamptz,
        synced_at timestamptz""",
    "funnel_results": """funnel_id varchar, date_from date, date_to date, active_users bigint,
        conversion_rate double, active_user_conversion_rate double, steps varchar,
        period_from timestamptz, period_to timestamptz, synced_at timestamptz""",
    "filter_values": """date_from date, date_to date, field varchar, position integer,
        value varchar, synced_at timestamptz""",
    "_quarantine": QUARANTINE_TABLE,
}


class Connector(Protocol):
    """What landing needs from ``pipelines.connectors.vemetric.VemetricConnector``.

    An optional ``concurrency`` attribute (1 when absent) says how many users' event pages
    :func:`land_users_and_events` fetches at once; ``user_event_pages`` must then be safe to
    call from that many threads.
    """

    def project(self) -> dict: ...
    def funnels(self) -> list[dict]: ...
    def user_pages(self, date_range: list[str]) -> Iterator[list[dict]]: ...
    def user_event_pages(self, user_id: str, date_range: list[str]) -> Iterator[list[dict]]: ...
    def analytics_pages(self, date_range: list[str], *, metrics: list[str],
                        group_by: str | None = None) -> Iterator[tuple[dict, list[dict]]]: ...
    def funnel_results(self, funnel_id: str, date_range: list[str],
                       filters: list | None = None) -> dict: ...
    def filter_value_pages(self, date_range: list[str],
                           fields: list[str]) -> Iterator[dict[str, list[str]]]: ...


class Window(landing.Window):
    """The days a run syncs, ``first`` to ``last`` inclusive (a Dagster partition key range)."""

    def date_range(self) -> list[str]:
        """The API ``dateRange`` covering whole days (the connector's one definition)."""
        return date_range(self.first, self.last)


_Silent = landing.Silent


def ensure_schema(conn) -> None:
    conn.execute(f"create schema if not exists {SCHEMA}")
    for table, columns in TABLES.items():
        conn.execute(f"create table if not exists {SCHEMA}.{table} ({columns})")


# --- snapshots: project and funnels ------------------------------------------------------------

def land_project(connector: Connector, path: str | Path | None, window: Window,
                 synced_at: datetime) -> Landed:
    """Replace ``project`` with the project the key belongs to."""
    frame = frame_from_rows([connector.project()], PROJECT_FIELDS, "/v1/project")
    return _land_snapshot("project", frame, PROJECT_FIELDS, path, window, synced_at)


def land_funnels(connector: Connector, path: str | Path | None, window: Window,
                 synced_at: datetime) -> Landed:
    """Replace ``funnels`` with every funnel of the project."""
    frame = frame_from_rows(connector.funnels(), FUNNEL_FIELDS, "/v1/funnels")
    return _land_snapshot("funnels", frame, FUNNEL_FIELDS, path, window, synced_at)


def _land_snapshot(table: str, frame: pl.DataFrame, fields: Iterable[Field],
                   path: str | Path | None, window: Window, synced_at: datetime) -> Landed:
    good, quarantine = split_valid(table, frame, _api_names(fields))
    with warehouse.writer(path) as conn:
        ensure_schema(conn)
        conn.register("incoming", good)
        conn.register("bad", quarantine)
        replace_window(conn, [
            (f"delete from {SCHEMA}.{table}", {}),
            (f"insert into {SCHEMA}.{table} by name select *, $at as synced_at from incoming",
             {"at": synced_at}),
            *_quarantine_steps([table], window, snapshot=True, synced_at=synced_at),
        ])
    return Landed({table: good.height}, {table: quarantine.height})


# --- users and their events --------------------------------------------------------------------

def land_users_and_events(connector: Connector, path: str | Path | None, window: Window,
                          synced_at: datetime, observer: Observer | None = None) -> Landed:
    """List the window's users once, page each user's events once for the whole window, split
    the rows into days locally, and replace both tables' partitions in one transaction.

    Memory stays flat however large the window: the user list is staged as it is listed and
    handed out a page at a time (:class:`_ListedUsers`); events are typed, validated and
    staged in batches of whole users (:func:`_stage_events`), already in the tables' final
    rows, so the transaction at the end only streams staged files into the tables.
    """
    observer = observer or _Silent()
    with staging_dir() as tmp:
        users = _ListedUsers(connector, window, Path(tmp))
        # Each listed user costs at least one events request: the bulk of the run, so the
        # display's ETA counts these down.
        observer.expect(users.listing.rows - users.duplicates.len())
        staged, bad_events = _stage_events(connector, users, window, Path(tmp), observer)
        bad_users = users.quarantined()
        bad = Stage("quarantine", Path(tmp), QUARANTINE_COLUMNS)
        bad.add(pl.concat([bad_users, bad_events]))
        with warehouse.writer(path) as conn:
            ensure_schema(conn)
            create_view(conn, "bad", bad)
            replace_window(conn, [
                *_with_params([
                    *_replace_days("users", _users_insert(staged.users.source())),
                    *_replace_days("user_events", _events_insert(staged.events.source())),
                ], window, synced_at),
                *_quarantine_steps(["users", "user_events"], window, synced_at=synced_at),
            ])
            counts = _window_counts(conn, ["users", "user_events"], window)
    return Landed(counts, {"users": bad_users.height, "user_events": bad_events.height})


class _ListedUsers:
    """The window's users, listed once, then handed out in the listing's order a page at a
    time: every page is typed (a malformed page fails here, before any event is asked for)
    and staged as it arrives, so memory holds a page, not the list.

    Validation happens page by page as users are handed out, with the ids listed more than
    once found first over the whole staged listing: every row of such an id fails ``unique``
    and is quarantined, exactly as when the list is validated whole.
    """

    def __init__(self, connector: Connector, window: Window, tmp: Path) -> None:
        self.window = window
        self.listing = Stage("users-listed", tmp, _schema(USER_FIELDS))
        for number, page in enumerate(connector.user_pages(window.date_range()), 1):
            self.listing.add(frame_from_rows(page, USER_FIELDS, f"/v1/users page {number}"))
        if self.listing.files:
            counted = pl.scan_parquet(self.listing.files).group_by("id").len()
            self.duplicates = counted.filter(pl.col("len") > 1).collect()["id"]
        else:
            self.duplicates = pl.Series("id", [], pl.String())
        self.handed_out: deque[pl.DataFrame] = deque()  # validated, not taken yet
        self.bad = [pl.DataFrame(schema=QUARANTINE_COLUMNS)]

    def ids(self, observer: Observer) -> Iterator[str]:
        """The valid users' ids in listing order, validating each staged page when reached."""
        for part in self.listing.files:
            good, bad = split_valid("users", pl.read_parquet(part), _api_names(USER_FIELDS),
                                    (self.window.start, self.window.end),
                                    duplicates={"id": self.duplicates})
            self.bad.append(bad)
            self.handed_out.append(good)
            observer.rows("users", good.height)
            yield from good["id"]

    def take(self, count: int) -> pl.DataFrame:
        """The rows of the next ``count`` users handed out by :meth:`ids`."""
        taken = [pl.DataFrame(schema=_schema(USER_FIELDS))]
        while count:
            head = self.handed_out.popleft()
            taken.append(head.head(count))
            if head.height > count:
                self.handed_out.appendleft(head.slice(count))
            count -= taken[-1].height
        return pl.concat(taken)

    def quarantined(self) -> pl.DataFrame:
        return pl.concat(self.bad)


# The columns that identify an event row: identical events (the API cannot tell them apart)
# collapse into one row, and ``occurrences`` counts them.
EVENT_KEY = ("user_id", "session_id", "name", "is_page_view", "created_at", "origin", "path",
             "hash", "data", "partition_date")


class _Staged:
    """Both tables' rows for the window as parquet batches, each batch in its final shape
    (users once per active day; events grouped with their ``occurrences``) but for the
    ``event_id`` hash and ``synced_at``, which the insert adds row by row as it streams."""

    def __init__(self, tmp: Path) -> None:
        self.users = Stage("users", tmp, _schema(USER_FIELDS) | {"partition_date": pl.Date()})
        self.events = Stage("user_events", tmp, _event_schema() | {"occurrences": pl.Int32()})

    def add(self, users: pl.DataFrame, events: pl.DataFrame) -> None:
        """Stage ``users`` (whole users, in listing order) with their validated ``events``.

        A batch holds every event of its users, so grouping it groups them all."""
        self.events.add(events.group_by(EVENT_KEY, maintain_order=True)
                        .agg(occurrences=pl.len().cast(pl.Int32())))
        # A user lands on every day of the window they have events on (and on the day of
        # lastSeenAt, which the API guarantees is one of them).
        days = pl.concat([events.select(id="user_id", partition_date="partition_date"),
                          users.select("id", partition_date=pl.col("last_seen_at").dt.date())])
        self.users.add(users.join(days.unique(), on="id", maintain_order="left"))


def _stage_events(connector: Connector, users: _ListedUsers, window: Window, tmp: Path,
                  observer: Observer) -> tuple[_Staged, pl.DataFrame]:
    """Page every user's events and stage users and events in batches of whole users,
    ~EVENT_BATCH_ROWS event rows each (the largest user's events, if more).

    Rows of many users are gathered as the API sent them and typed in one go per batch:
    building a frame per (small) page would cost more than the HTTP round trip.

    The next ``connector.concurrency`` users' pages are fetched while this thread types and
    stages (:func:`~pipelines.connectors.prefetch.read_ahead`); they are handed over in the
    users' order, so batches, staged files and tables are the same as one user at a time.
    A failure of any fetch stops them all and is raised here, before anything lands.
    """
    staged = _Staged(tmp)
    batch = _EventBatch()
    quarantined: list[pl.DataFrame] = [pl.DataFrame(schema=QUARANTINE_COLUMNS)]
    paged = staged_users = 0  # users whose pages were read / whose rows are staged

    def flush() -> None:
        nonlocal staged_users
        if paged == staged_users:
            return
        good, bad = _typed_events(batch, window)
        staged.add(users.take(paged - staged_users), good)
        quarantined.append(bad)
        observer.rows("user_events", good.height)
        batch.clear()
        staged_users = paged

    span = window.date_range()
    fetched = read_ahead(users.ids(observer),
                         lambda user_id: connector.user_event_pages(user_id, span),
                         ahead=getattr(connector, "concurrency", 1))
    with closing(fetched):  # on any failure here, stop the fetches before landing gives up
        for user_id, pages in fetched:
            for number, page in enumerate(pages, 1):
                if not isinstance(page, list):
                    raise MalformedAnswer(
                        f"/v1/users/events?id={user_id} page {number}: not a list")
                batch.add(user_id, number, page)
            paged += 1
            if len(batch.rows) >= EVENT_BATCH_ROWS:
                flush()
    flush()
    return staged, pl.concat(quarantined)


def _typed_events(batch: _EventBatch, window: Window) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The batch's rows as a typed frame: ``(rows that pass, quarantine records)``."""
    frame = frame_from_rows(batch.rows, EVENT_FIELDS, batch.locate).with_columns(
        user_id=pl.Series(batch.user_ids, dtype=pl.String()))
    frame = frame.with_columns(partition_date=pl.col("created_at").dt.date())
    return split_valid("user_events", frame.select(list(_event_schema())),
                       {"user_id": "userId", **_api_names(EVENT_FIELDS)}, (window.start, window.end))


def _event_schema() -> dict[str, pl.DataType]:
    return {"user_id": pl.String(), **_schema(EVENT_FIELDS), "partition_date": pl.Date()}


class _EventBatch:
    """Event rows of several pages, remembering which page each row came from."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.rows: list = []
        self.user_ids: list[str] = []
        self.pages: list[tuple[int, str]] = []  # (first row in batch, page name)

    def add(self, user_id: str, number: int, page: list) -> None:
        self.pages.append((len(self.rows), f"/v1/users/events?id={user_id} page {number}"))
        self.rows.extend(page)
        self.user_ids.extend([user_id] * len(page))

    def locate(self, index: int) -> tuple[str, int]:
        starts = [start for start, _ in self.pages]
        at = bisect_right(starts, index) - 1
        start, name = self.pages[at]
        return name, index - start


def _users_insert(users: str) -> str:
    return f"""insert into {SCHEMA}.users by name select *, $at as synced_at from {users}"""


def _events_insert(events: str) -> str:
    return f"""insert into {SCHEMA}.user_events by name
        select md5(to_json([user_id, session_id, strftime(created_at, '%Y-%m-%dT%H:%M:%SZ'),
                            name, is_page_view::varchar, origin, path, hash, data]))
                   as event_id,
               *, $at as synced_at
        from {events}"""


def _replace_days(table: str, insert: str) -> list[str]:
    return [f"delete from {SCHEMA}.{table} where partition_date between $first and $last", insert]


def _with_params(statements: list[str], window: Window,
                 synced_at: datetime) -> list[tuple[str, dict[str, Any]]]:
    params = {**window.params(), "at": synced_at}
    return [(s, {k: v for k, v in params.items() if f"${k}" in s}) for s in statements]


def _window_counts(conn, tables: list[str], window: Window) -> dict[str, int]:
    return {
        t: conn.execute(f"select count(*) from {SCHEMA}.{t} where partition_date between "
                        "$first and $last", window.params()).fetchone()[0]
        for t in tables
    }


# --- the API's own aggregates ------------------------------------------------------------------

def analytics_groupings(properties: Iterable[str]) -> list[str | None]:
    """Every grouping asked for over the whole range: the aggregate (None), the daily series,
    the 15 field tokens and ``event:prop:<p>`` per property."""
    return [None, "interval:auto", *FIELD_TOKENS, *(f"event:prop:{p}" for p in sorted(properties))]


def event_properties(path: str | Path | None, window: Window) -> list[str]:
    """Names of the string-valued event properties landed for the window (only those can be
    grouped by, vemetric-api.md §12)."""
    with warehouse.writer(path) as conn:
        ensure_schema(conn)
        texts = conn.execute(
            f"select distinct data from {SCHEMA}.user_events where partition_date between "
            "$first and $last and data <> '{{}}'", window.params()).fetchall()
    return _string_property_names(texts)


def _string_property_names(texts: Iterable[tuple[str]]) -> list[str]:
    return sorted({k for (text,) in texts for k, v in orjson.loads(text).items()
                   if isinstance(v, str)})


def known_event_properties(path: str | Path | None, first: date, last: date) -> list[str]:
    """The string-valued event properties a sync of first..last is expected to break down by,
    read from the published snapshot without touching the writer's file: those of the range
    when it was synced before, else those of every synced day; [] without a warehouse."""
    try:
        conn = warehouse.connect(path)
    except warehouse.WarehouseError:
        return []
    try:
        for where in ("partition_date between $first and $last", "true"):
            texts = conn.execute(
                f"select distinct data from {SCHEMA}.user_events where {where} "
                "and data <> '{}'", {"first": first, "last": last} if "$" in where else {},
            ).fetchall()
            if texts:
                return _string_property_names(texts)
        return []
    except duckdb.CatalogException:  # a warehouse that never synced Vemetric
        return []
    finally:
        conn.close()


def land_analytics(connector: Connector, path: str | Path | None, window: Window,
                   synced_at: datetime, properties: Iterable[str],
                   observer: Observer | None = None) -> Landed:
    """Every grouping over the whole window (all five metrics, all pages), plus each day's own
    aggregate (the calls ``connectors.planning.vemetric_requests`` lists)."""
    observer = observer or _Silent()
    frames = [_analytics_frame(connector, window, g) for g in analytics_groupings(properties)]
    days = [_analytics_frame(connector, day, None) for day in window.days]
    frame = pl.concat(frames + _unless_repeated(frames[0], days))
    good, bad = split_valid("analytics", frame, _api_names(METRIC_FIELDS))
    observer.rows("analytics", good.height)
    return _land_ranges("analytics", good, bad, path, window, synced_at)


def _unless_repeated(whole: pl.DataFrame, days: list[pl.DataFrame]) -> list[pl.DataFrame]:
    """The per-day answers, except when the window is that one day: then the day's call
    repeats the window's, and must have said the same (anything else is a broken answer)."""
    if len(days) != 1 or days[0]["date_from"][0] != whole["date_from"][0]:
        return days
    if not days[0].equals(whole):
        raise MalformedAnswer("the same question asked twice got two different answers: "
                              f"{whole.rows()} vs {days[0].rows()}")
    return []


def _analytics_frame(connector: Connector, window: Window, grouping: str | None) -> pl.DataFrame:
    frames = []
    pages = connector.analytics_pages(window.date_range(), metrics=list(METRICS),
                                      group_by=grouping)
    for number, (period, rows) in enumerate(pages, start=1):
        where = f"/v1/analytics/query groupBy={grouping or '-'} page {number}"
        flat = [_flat_analytics_row(row, grouping, i, where) for i, row in enumerate(rows)]
        frame = frame_from_rows(flat, (Field("group", "group_value", "str"), *METRIC_FIELDS), where)
        frames.append(frame.with_columns(_period(period, where)))
    if not frames:
        raise MalformedAnswer(f"/v1/analytics/query groupBy={grouping or '-'}: no page returned")
    return pl.concat(frames).with_columns(
        date_from=pl.lit(window.first), date_to=pl.lit(window.last),
        group_by=pl.lit(grouping or ""),
    )


def _flat_analytics_row(row: Any, grouping: str | None, index: int, where: str) -> dict:
    if not isinstance(row, dict) or not isinstance(row.get("group"), dict) \
            or not isinstance(row.get("metrics"), dict):
        raise MalformedAnswer(f"{where}: row {index} is not {{group: {{}}, metrics: {{}}}}")
    key = "date" if grouping == "interval:auto" else grouping
    group = row["group"]
    if key is None:
        value = ""
    elif key in group:
        value = group[key]
    else:
        raise MalformedAnswer(f"{where}: row {index} has no group field '{key}'")
    return {"group": value, **row["metrics"]}


def _period(period: Any, where: str) -> list[pl.Expr]:
    """The answer's resolved ``period`` as two literal columns."""
    frame = frame_from_rows([period], PERIOD_FIELDS, f"{where} period")
    return [pl.lit(frame["period_from"][0], column_dtype(PERIOD_FIELDS[0])).alias("period_from"),
            pl.lit(frame["period_to"][0], column_dtype(PERIOD_FIELDS[1])).alias("period_to")]


def land_funnel_results(connector: Connector, path: str | Path | None, window: Window,
                        synced_at: datetime, funnel_ids: Iterable[str]) -> Landed:
    """``POST /v1/funnels/{id}`` per funnel for the window and for each of its days."""
    frames = []
    for fid in funnel_ids:
        whole = _funnel_frame(connector, fid, window)
        days = [_funnel_frame(connector, fid, day) for day in window.days]
        frames += [whole, *_unless_repeated(whole, days)]
    frame = pl.concat(frames) if frames else _empty_funnel_frame()
    good, bad = split_valid("funnel_results", frame,
                            {"funnel_id": "id", **_api_names(FUNNEL_RESULT_FIELDS)})
    return _land_ranges("funnel_results", good, bad, path, window, synced_at)


def _funnel_frame(connector: Connector, funnel_id: str, window: Window) -> pl.DataFrame:
    where = f"/v1/funnels/{funnel_id} {window.first}..{window.last}"
    body = connector.funnel_results(funnel_id, window.date_range())
    if not isinstance(body, dict) or not isinstance(body.get("results"), dict):
        raise MalformedAnswer(f"{where}: expected object 'results'")
    frame = frame_from_rows([body["results"]], FUNNEL_RESULT_FIELDS, where)
    return frame.with_columns(
        _period(body.get("period"), where), funnel_id=pl.lit(funnel_id),
        date_from=pl.lit(window.first), date_to=pl.lit(window.last),
    )


def _empty_funnel_frame() -> pl.DataFrame:
    return pl.DataFrame(schema={**_schema(FUNNEL_RESULT_FIELDS), **_schema(PERIOD_FIELDS),
                                "funnel_id": pl.String(), "date_from": pl.Date(),
                                "date_to": pl.Date()})


def land_filter_values(connector: Connector, path: str | Path | None, window: Window,
                       synced_at: datetime) -> Landed:
    """The 15 fields' values for the window, every page."""
    columns: dict[str, list] = {"field": [], "position": [], "value": []}
    seen = dict.fromkeys(FIELD_TOKENS, 0)
    for number, page in enumerate(connector.filter_value_pages(window.date_range(),
                                                               list(FIELD_TOKENS)), start=1):
        for name, values in _checked_values(page, number).items():
            columns["field"] += [name] * len(values)
            columns["position"] += range(seen[name], seen[name] + len(values))
            columns["value"] += values
            seen[name] += len(values)
    frame = frame_from_rows(
        [dict(zip(columns, row)) for row in zip(*columns.values())],
        (Field("field", "field", "str"), Field("position", "position", "int"),
         Field("value", "value", "str")), "/v1/filters/values")
    good, bad = split_valid("filter_values", frame, {})
    good = good.with_columns(date_from=pl.lit(window.first), date_to=pl.lit(window.last))
    return _land_ranges("filter_values", good, bad, path, window, synced_at)


def _checked_values(page: Any, number: int) -> dict[str, list]:
    where = f"/v1/filters/values page {number}"
    if not isinstance(page, dict) or not all(isinstance(v, list) for v in page.values()):
        raise MalformedAnswer(f"{where}: expected field -> list of values")
    unknown = set(page) - set(FIELD_TOKENS)
    if unknown:
        raise MalformedAnswer(f"{where}: unexpected fields {sorted(unknown)}")
    return page


def _land_ranges(table: str, good: pl.DataFrame, bad: pl.DataFrame, path: str | Path | None,
                 window: Window, synced_at: datetime) -> Landed:
    with warehouse.writer(path) as conn:
        ensure_schema(conn)
        conn.register("incoming", good)
        conn.register("bad", bad)
        replace_window(conn, [
            (f"delete from {SCHEMA}.{table} where date_from >= $first and date_to <= $last",
             window.params()),
            (f"insert into {SCHEMA}.{table} by name select *, $at as synced_at from incoming",
             {"at": synced_at}),
            *_quarantine_steps([table], window, synced_at=synced_at),
        ])
    return Landed({table: good.height}, {table: bad.height})


# --- quarantine --------------------------------------------------------------------------------

def _quarantine_steps(tables: list[str], window: Window, *, synced_at: datetime,
                      snapshot: bool = False) -> list[tuple[str, dict[str, Any]]]:
    return landing.quarantine_steps(SCHEMA, tables, window, synced_at=synced_at,
                                    snapshot=snapshot)


def quarantined(path: str | Path | None, table: str, window: Window) -> pl.DataFrame:
    """The quarantine records of ``table`` for exactly this window's ranges."""
    with warehouse.writer(path) as conn:
        ensure_schema(conn)
        return landing.quarantined_rows(conn, SCHEMA, table, window,
                                        snapshot=table in ("project", "funnels"))


def _schema(fields: Iterable[Field]) -> dict[str, pl.DataType]:
    return {f.column: column_dtype(f) for f in fields}


def _api_names(fields: Iterable[Field]) -> dict[str, str]:
    return {f.column: f.api for f in fields}

