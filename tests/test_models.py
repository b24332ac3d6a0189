"""The SQL runner and the models, on raw rows written by hand (no API, no Dagster)."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta

import duckdb
import orjson
import pytest

from pipelines import models, raw_vemetric
from pipelines.breakdowns import BreakdownError, auto_interval, breakdown_frame
from pipelines.funnels import FunnelError, funnel_frame, load_funnel_file, parse_steps

SYNCED = datetime(2026, 2, 1, tzinfo=UTC)
FUNNEL_ID = "f-1"
STEPS = [
    {"id": "s1", "name": "", "filter": {"type": "page", "path": {"operator": "eq", "value": "/"}}},
    {"id": "s2", "name": "Pricing", "filter": {"type": "page",
                                               "path": {"operator": "startsWith", "value": "/pri"}}},
    {"id": "s3", "name": "Signed up", "filter": {
        "type": "event", "name": {"operator": "eq", "value": "signup"},
        "properties": [{"property": "plan", "operator": "eq", "value": "pro"}]}},
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def land(conn, events, *, synced=SYNCED, days=None, users=None):
    """Write events (user, session, name, iso time, path, data) as a sync would, plus the
    users and the per-day analytics rows that mark the days as synced."""
    raw_vemetric.ensure_schema(conn)
    rows = []
    for user, session, name, when, path, data in events:
        created = at(when)
        rows.append((f"{user}|{session}|{when}|{name}|{path}|{data}", user, session, name,
                     name == "$$pageView", created, "https://example.com", path, None,
                     orjson.dumps(data).decode(), 1, created.date(), synced))
    conn.executemany("insert into raw_vemetric.user_events values "
                     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    for user, country in (users or {}).items():
        for day in sorted({r[11] for r in rows if r[1] == user}):
            conn.execute("insert into raw_vemetric.users (id, country, city, last_seen_at, data, "
                         "anonymous, partition_date, synced_at) values (?, ?, '', ?, '{}', true, "
                         "?, ?)", [user, country, datetime.combine(day, datetime.min.time(), UTC),
                                   day, synced])
    for day in days or sorted({r[11] for r in rows}):
        conn.execute("insert into raw_vemetric.analytics (date_from, date_to, group_by, "
                     "group_value, users, pageviews, events, synced_at) values (?, ?, '', '', "
                     "0, 0, 0, ?)", [day, day, synced])


@pytest.fixture
def conn(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as connection:
        connection.execute("set TimeZone = 'UTC'")
        raw_vemetric.ensure_schema(connection)
        connection.execute("insert into raw_vemetric.funnels values (?, 'Signup', null, ?, "
                           "?, ?, ?)", [FUNNEL_ID, orjson.dumps(STEPS).decode(), SYNCED, SYNCED,
                                        SYNCED])
        yield connection


PV = "$$pageView"


def test_models_are_discovered_in_dependency_order_with_what_they_read():
    found = models.discover()
    names = [m.name for m in found]
    by_name = {m.name: m for m in found}
    assert set(names) == {"stg_vemetric.events", "stg_vemetric.user_days",
                          "stg_vemetric.funnel_steps",
                          "stg_vemetric.synced_days", "marts.events", "marts.users",
                          "marts.sessions", "marts.daily_metrics", "marts.funnel_steps",
                          "stg_engagetrack.events", "stg_engagetrack.users",
                          "stg_engagetrack.synced_days", "stg_engagetrack.funnel_analyses"}
    assert by_name["marts.sessions"].reads == {"marts.events", "marts.users"}
    assert by_name["marts.events"].reads == {"stg_vemetric.events", "stg_engagetrack.events"}
    assert by_name["stg_vemetric.events"].reads == {"raw_vemetric.user_events"}
    assert by_name["marts.funnel_steps"].reads == {
        "raw_vemetric.funnel_results", "stg_vemetric.funnel_steps", "marts.events",
        "stg_engagetrack.funnel_analyses"}
    for model in found:
        assert all(names.index(r) < names.index(model.name) for r in model.reads if r in names)
    assert (by_name["marts.sessions"].partition, by_name["marts.sessions"].lookback) == ("day", 1)
    assert by_name["marts.funnel_steps"].params == {"window_seconds": 604800}
    users = by_name["marts.users"]
    assert (users.partition, users.key, users.span) == (
        "key", (("source", "varchar"), ("user_id", "varchar")),
        ("first_active_day", "last_active_day"))


def test_partition_statements_replace_exactly_the_days_asked_for():
    by_name = {m.name: m for m in models.discover()}
    sessions, steps = by_name["marts.sessions"], by_name["marts.funnel_steps"]
    days = models.DayRange(date(2026, 1, 2), date(2026, 1, 3))
    (delete, bounds), (insert, params) = sessions.statements(days)
    assert delete == "delete from marts.sessions where day between $first and $last"
    assert bounds == {"first": date(2026, 1, 2), "last": date(2026, 1, 3)}
    assert insert.startswith("insert into marts.sessions by name\n")
    assert params == {"first": date(2026, 1, 2), "last": date(2026, 1, 3)}
    (delete, _), (_, params) = steps.statements(days)
    assert delete == "delete from marts.funnel_steps where date_to >= $first and date_from <= $last"
    assert params["window_seconds"] == 604800
    (create, params), = sessions.statements(None)
    assert create.startswith("create or replace table marts.sessions as\n")
    assert params == {"first": models.ALL_DAYS.first, "last": models.ALL_DAYS.last}


def test_key_statements_replace_the_rows_of_the_keys_seen_on_the_days_or_spanning_them():
    users, = (m for m in models.discover() if m.name == "marts.users")
    days = models.DayRange(date(2026, 1, 2), date(2026, 1, 3))
    sql = [text.split("\n")[0] for text, _ in users.statements(days)]
    assert sql == [
        "create or replace temp table fh_keys (source varchar, user_id varchar)",
        "insert into fh_keys select distinct source, user_id from marts.users "
        "where first_active_day <= $last and last_active_day >= $first",
        "create or replace temp table fh_rows as",
        "insert into fh_keys select distinct source, user_id from fh_rows "
        "except select source, user_id from fh_keys",
        "delete from marts.users t using fh_keys k where t.source is not distinct from k.source "
        "and t.user_id is not distinct from k.user_id",
        "insert into marts.users by name select * from fh_rows",
        "drop table fh_rows",
        "drop table fh_keys"]
    assert users.statements(days)[2][1] == {"first": days.first, "last": days.last}
    full = [text.split("\n")[0] for text, _ in users.statements(None)]
    assert full == ["create or replace temp table fh_keys (source varchar, user_id varchar)",
                    "create or replace table marts.users as", "drop table fh_keys"]


def test_events_are_a_view_over_the_sources_not_a_copy():
    events, = (m for m in models.discover() if m.name == "marts.events")
    assert (events.materialized, events.partition) == ("view", None)
    (create, params), = events.statements(models.DayRange(date(2026, 1, 2), date(2026, 1, 3)))
    assert create.startswith("create or replace view marts.events as\n")
    assert params == {}


def test_bad_model_files_are_refused_with_the_file_named(tmp_path):
    (tmp_path / "marts").mkdir(parents=True)
    (tmp_path / "marts" / "a.sql").write_text("-- partition: week\nselect 1 as day")
    with pytest.raises(models.ModelError,
                       match=r"a\.sql: partition must be 'day', 'range' or 'key'"):
        models.discover(tmp_path)
    (tmp_path / "marts" / "a.sql").write_text("-- partition: key\n-- key: user_id\nselect 1")
    with pytest.raises(models.ModelError,
                       match=r"a\.sql: partition 'key' needs '-- key: column type"):
        models.discover(tmp_path)
    (tmp_path / "marts" / "a.sql").write_text("-- partition: day\n-- span: a, b\nselect 1 as day")
    with pytest.raises(models.ModelError, match=r"a\.sql: key and span go with 'partition: key'"):
        models.discover(tmp_path)
    (tmp_path / "marts" / "a.sql").write_text("select * from marts.b")
    (tmp_path / "marts" / "b.sql").write_text("select * from marts.a")
    with pytest.raises(models.ModelError, match="cycle"):
        models.discover(tmp_path)


def test_sessions_split_after_30_minutes_and_measure_duration_landing_and_bounce(conn):
    land(conn, [
        ("u1", "s1", PV, "2026-01-05T10:00:00Z", "/", {}),
        ("u1", "s1", PV, "2026-01-05T10:20:00Z", "/pricing", {}),
        ("u1", "s1", "click", "2026-01-05T10:25:00Z", "/pricing", {}),
        # 31 minutes without an event: the same session id, but a new session
        ("u1", "s1", PV, "2026-01-05T10:56:00Z", "/docs", {}),
        # crosses midnight: belongs to the day it started, lasts 10 minutes
        ("u2", "s2", PV, "2026-01-05T23:55:00Z", "/blog", {}),
        ("u2", "s2", PV, "2026-01-06T00:05:00Z", "/", {}),
    ], users={"u1": "DE", "u2": ""})
    models.build_models(conn)
    sessions = conn.execute("select session_id, day, duration_seconds, pageviews, events, "
                            "is_bounce, landing_path, exit_path, country from marts.sessions "
                            "order by started_at").fetchall()
    assert sessions == [
        ("s1", date(2026, 1, 5), 1500, 2, 1, False, "/", "/pricing", "DE"),
        ("s1~1", date(2026, 1, 5), 0, 1, 0, True, "/docs", "/docs", "DE"),
        ("s2", date(2026, 1, 5), 600, 2, 0, False, "/blog", "/", None),
    ]


def test_daily_metrics_follow_the_api_rules_per_dimension(conn):
    land(conn, [
        ("u1", "s1", PV, "2026-01-05T10:00:00Z", "/", {}),
        ("u1", "s1", PV, "2026-01-05T10:01:00Z", "/pricing", {}),
        ("u1", "s1", "signup", "2026-01-05T10:02:00Z", "/pricing", {"plan": "pro"}),
        ("u2", "s2", PV, "2026-01-05T11:00:00Z", "/", {}),
        ("u3", "s3", "click", "2026-01-05T12:00:00Z", "", {}),
    ], users={"u1": "DE", "u2": "", "u3": "DE"})
    models.build_models(conn)
    rows = {(r[0], r[1]): r[2:] for r in conn.execute(
        "select dimension, value, users, pageviews, events, bounce_rate, visit_duration "
        "from marts.daily_metrics where day = '2026-01-05'").fetchall()}
    assert rows[("", "")] == (3, 3, 2, 50.0, 120.0)       # s1 of 2 pageviews, s2 of one
    assert rows[("page:path", "/")] == (2, 2, 0, None, None)
    assert rows[("page:path", "/pricing")] == (1, 1, 0, None, None)
    assert rows[("event:name", "signup")] == (1, 0, 1, None, None)
    assert rows[("user:country", "DE")] == (2, 2, 2, 0.0, 120.0)
    assert rows[("user:country", "Unknown")] == (1, 1, 0, 100.0, 0.0)   # '' gets the API's label
    assert ("page:path", "") not in rows and ("page:path", "Unknown") not in rows


def test_an_incremental_build_rebuilds_only_the_changed_days_and_agrees_with_a_full_one(conn):
    land(conn, [("u1", "s1", PV, f"2026-01-0{d}T10:00:00Z", "/", {}) for d in (5, 6, 7)],
         users={"u1": "DE"})
    models.build_models(conn)
    assert [m.mode for m in models.build_models(conn).models if m.name.startswith("marts.")] \
        == ["view"] + ["unchanged"] * 4   # marts.events is a view
    later = SYNCED + timedelta(hours=1)
    conn.execute("delete from raw_vemetric.user_events where partition_date = '2026-01-07'")
    land(conn, [("u1", "s9", PV, "2026-01-07T12:00:00Z", "/pricing", {}),
                ("u2", "s8", PV, "2026-01-07T12:00:00Z", "/", {})],
         synced=later, users={"u2": "FR"})
    report = {m.name: m for m in models.build_models(conn).models}
    assert report["marts.events"].mode == "view"
    # no session crosses midnight into the 7th: the 6th's sessions cannot change (lookback_when)
    assert report["marts.sessions"].days == models.DayRange(date(2026, 1, 7), date(2026, 1, 7))
    assert (report["marts.users"].mode, report["marts.users"].days) == (
        "days", models.DayRange(date(2026, 1, 7), date(2026, 1, 7)))
    incremental = conn.execute("select * from marts.daily_metrics order by all").fetchall()
    models.build_models(conn, full=True)
    assert conn.execute("select * from marts.daily_metrics order by all").fetchall() == incremental
    assert conn.execute("select count(*), sum(pageviews) from marts.daily_metrics "
                        "where dimension = '' and day = '2026-01-07'").fetchone() == (1, 2)


MARTS = ("events", "users", "sessions", "daily_metrics", "funnel_steps")


def reland(conn, day: str, events, *, synced, users):
    """Replace one day's raw rows as a sync landing it again would, with its funnel range."""
    for table in ("user_events", "users"):
        conn.execute(f"delete from raw_vemetric.{table} where partition_date = ?", [day])
    conn.execute("delete from raw_vemetric.analytics where date_from = ? and date_to = ?",
                 [day, day])
    conn.execute("delete from raw_vemetric.funnel_results where date_from = ? and date_to = ?",
                 [day, day])
    land(conn, events, synced=synced, days=[date.fromisoformat(day)], users=users)
    conn.execute("insert into raw_vemetric.funnel_results (funnel_id, date_from, date_to, "
                 "synced_at) values (?, ?, ?, ?)", [FUNNEL_ID, day, day, synced])


def assert_marts_equal_a_full_rebuild(conn) -> None:
    """Every mart as the incremental build left it equals a full rebuild, EXCEPT ALL both ways."""
    for mart in MARTS:
        conn.execute(f"create or replace temp table incremental_{mart} as "
                     f"select * from marts.{mart}")
    models.build_models(conn, full=True)
    for mart in MARTS:
        for a, b in ((f"incremental_{mart}", f"marts.{mart}"),
                     (f"marts.{mart}", f"incremental_{mart}")):
            extra = conn.execute(f"select * from {a} except all select * from {b}").fetchall()
            assert extra == [], f"{mart}: rows in {a} only: {extra}"
        assert conn.execute(f"select count(*) from marts.{mart}").fetchone()[0] > 0, mart


def test_a_new_day_and_relanded_days_rebuild_users_by_key_as_a_full_rebuild_would(conn):
    day = {d: f"2026-01-0{d}" for d in range(5, 9)}
    first = [("u1", "a", PV, "2026-01-05T10:00:00Z", "/", {}),
             ("u2", "b", PV, "2026-01-05T11:00:00Z", "/pricing", {}),
             ("u1", "c", PV, "2026-01-06T10:00:00Z", "/", {}),
             ("u5", "d", PV, "2026-01-06T23:50:00Z", "/", {}),        # a session past midnight
             ("u5", "d", PV, "2026-01-07T00:10:00Z", "/pricing", {}),
             ("u1", "e", "signup", "2026-01-07T10:00:00Z", "/", {"plan": "pro"}),
             ("u2", "f", PV, "2026-01-07T10:00:00Z", "/", {}),
             ("u4", "g", PV, "2026-01-07T10:00:00Z", "/", {})]
    land(conn, first, users={"u1": "DE", "u2": "FR", "u4": "GB", "u5": "US"})
    for d in (5, 6, 7):
        conn.execute("insert into raw_vemetric.funnel_results (funnel_id, date_from, date_to, "
                     "synced_at) values (?, ?, ?, ?)", [FUNNEL_ID, day[d], day[d], SYNCED])
    models.build_models(conn)

    # a new day: u1's last active day moves on, u3 is seen for the first time, and u1's
    # session "e" of the 7th goes on past midnight (split: its part of the 8th is a session)
    reland(conn, day[8], [("u1", "h", PV, "2026-01-08T09:00:00Z", "/", {}),
                          ("u1", "e", PV, "2026-01-08T00:05:00Z", "/pricing", {}),
                          ("u3", "i", PV, "2026-01-08T09:30:00Z", "/", {})],
           synced=SYNCED + timedelta(hours=1), users={"u1": "DE", "u3": "FR"})
    report = {m.name: m for m in models.build_models(conn).models}
    assert (report["marts.users"].mode, report["marts.users"].days) == (
        "days", models.DayRange(date(2026, 1, 8), date(2026, 1, 8)))
    assert report["marts.sessions"].days == models.DayRange(date(2026, 1, 7), date(2026, 1, 8))
    assert report["marts.daily_metrics"].days == models.DayRange(date(2026, 1, 7), date(2026, 1, 8))
    assert conn.execute("select session_id from marts.sessions where user_id = 'u1' and "
                        "day = '2026-01-08' order by 1").fetchall() == [("e~1",), ("h",)]
    users = "select user_id, first_active_day, last_active_day from marts.users order by 1"
    assert conn.execute(users).fetchall()[0] == ("u1", date(2026, 1, 5), date(2026, 1, 8))
    assert_marts_equal_a_full_rebuild(conn)

    # days landed again: day 7 no longer lists u2 (last active day back to the 5th) nor u4
    # (gone); u5's session of the 6th still crosses into it, so the 6th is rebuilt too
    reland(conn, day[7], [row for row in first if row[3].startswith(day[7]) and
                          row[0] not in ("u2", "u4")],
           synced=SYNCED + timedelta(hours=2), users={"u1": "DE", "u5": "US"})
    report = {m.name: m for m in models.build_models(conn).models}
    assert (report["marts.users"].days, report["marts.sessions"].days) == (
        models.DayRange(date(2026, 1, 7), date(2026, 1, 7)),
        models.DayRange(date(2026, 1, 6), date(2026, 1, 7)))
    assert_marts_equal_a_full_rebuild(conn)
    # day 5 now lists u5 too (first active day the 5th); nothing crosses into the 5th
    reland(conn, day[5], [*(row for row in first if row[3].startswith(day[5])),
                          ("u5", "j", PV, "2026-01-05T08:00:00Z", "/", {})],
           synced=SYNCED + timedelta(hours=3), users={"u1": "DE", "u2": "FR", "u5": "US"})
    report = {m.name: m for m in models.build_models(conn).models}
    assert (report["marts.users"].days, report["marts.sessions"].days) == (
        models.DayRange(date(2026, 1, 5), date(2026, 1, 5)),
        models.DayRange(date(2026, 1, 5), date(2026, 1, 5)))
    assert conn.execute(users).fetchall() == [
        ("u1", date(2026, 1, 5), date(2026, 1, 8)), ("u2", date(2026, 1, 5), date(2026, 1, 5)),
        ("u3", date(2026, 1, 8), date(2026, 1, 8)), ("u5", date(2026, 1, 5), date(2026, 1, 7))]
    assert_marts_equal_a_full_rebuild(conn)


def add_range(conn, first: str, last: str) -> None:
    conn.execute("insert into raw_vemetric.funnel_results (funnel_id, date_from, date_to, "
                 "synced_at) values (?, ?, ?, ?)", [FUNNEL_ID, first, last, SYNCED])


def test_funnel_steps_follow_clickhouse_windowfunnel(conn):
    land(conn, [
        # u1: completes, pricing 1 day after the first "/" (a later "/" restarts the chain)
        ("u1", "a", PV, "2026-01-05T10:00:00Z", "/", {}),
        ("u1", "a", PV, "2026-01-09T10:00:00Z", "/", {}),
        ("u1", "a", PV, "2026-01-10T10:00:00Z", "/pricing", {}),
        ("u1", "a", "signup", "2026-01-10T10:05:00Z", "/pricing", {"plan": "pro"}),
        # u2: signup with the wrong plan does not match step 3
        ("u2", "b", PV, "2026-01-05T10:00:00Z", "/", {}),
        ("u2", "b", PV, "2026-01-05T10:01:00Z", "/PRICING", {}),
        ("u2", "b", "signup", "2026-01-05T10:02:00Z", "/pricing", {"plan": 5}),
        # u3: pricing 8 days after "/" is outside the 7-day window
        ("u3", "c", PV, "2026-01-05T10:00:00Z", "/", {}),
        ("u3", "c", PV, "2026-01-13T10:00:01Z", "/pricing", {}),
        # u4: never on step 1
        ("u4", "d", PV, "2026-01-06T10:00:00Z", "/pricing", {}),
    ], users={"u1": "DE", "u2": "DE", "u3": "FR", "u4": "FR"})
    add_range(conn, "2026-01-05", "2026-01-14")
    models.build_models(conn)
    steps = conn.execute(
        "select step_name, users, conversion_from_previous, conversion_from_first, dropoff, "
        "median_seconds_to_convert, active_users, funnel_conversion_rate, "
        "active_user_conversion_rate from marts.funnel_steps order by step_index").fetchall()
    assert steps == [
        ("Step 1", 3, 100.0, 100.0, 0, 0.0, 4, 33.33, 25.0),
        ("Pricing", 2, 66.67, 66.67, 1, 43230.0, 4, 33.33, 25.0),  # 60 s (u2), 86400 s (u1)
        ("Signed up", 1, 50.0, 33.33, 1, 86700.0, 4, 33.33, 25.0),
    ]


def test_analyst_funnels_vary_window_order_unit_and_breakdown(conn):
    land(conn, [
        ("u1", "a", PV, "2026-01-05T10:00:00Z", "/", {}),
        ("u1", "a", PV, "2026-01-05T10:01:00Z", "/blog", {}),
        ("u1", "a", PV, "2026-01-05T10:02:00Z", "/pricing", {}),
        ("u2", "b", PV, "2026-01-05T10:00:00Z", "/", {}),
        ("u2", "b", PV, "2026-01-05T10:00:30Z", "/pricing", {}),
        ("u3", "c", PV, "2026-01-05T10:00:00Z", "/", {}),
        ("u3", "e", PV, "2026-01-07T10:00:00Z", "/pricing", {}),
        ("u4", "f", PV, "2026-01-05T10:00:00Z", "/pricing", {}),
        ("u4", "f", PV, "2026-01-05T10:01:00Z", "/", {}),
    ], users={"u1": "DE", "u2": "FR", "u3": "FR", "u4": "DE"})
    models.build_models(conn)
    first, last = date(2026, 1, 5), date(2026, 1, 7)
    steps = ["page:/", "page:/pricing"]

    def counts(**options):
        frame = funnel_frame(conn, steps, first, last, **options)
        return [tuple(r) for r in frame.select(frame.columns[0], frame.columns[4]).rows()]

    assert counts() == [("", 4), ("", 3)]
    assert counts(window=timedelta(days=1)) == [("", 4), ("", 2)]   # u3 needed 2 days
    assert counts(order="strict") == [("", 4), ("", 2)]             # u1 saw /blog in between
    assert counts(order="any", window=timedelta(minutes=5)) == [("", 4), ("", 3)]  # u4: reversed
    assert counts(by="session") == [("", 4), ("", 2)]               # u3's steps: two sessions
    assert counts(breakdown="country") == [("DE", 2), ("DE", 1), ("FR", 2), ("FR", 2)]
    frame = funnel_frame(conn, steps, first, last, order="strict")
    assert frame["median_seconds_to_convert"].to_list() == [0.0, 86415.0]  # 30 s and 2 days


def test_funnel_options_are_checked_before_any_sql(conn):
    with pytest.raises(FunnelError, match="order must be one of ordered, strict, any"):
        funnel_frame(conn, ["page:/"], date(2026, 1, 1), date(2026, 1, 2), order="loose")
    with pytest.raises(FunnelError, match="cannot break a funnel by user down by 'landing_path'"):
        funnel_frame(conn, ["page:/"], date(2026, 1, 1), date(2026, 1, 2),
                     breakdown="landing_path")
    with pytest.raises(FunnelError, match="step 2: expected 'page:<path>' or 'event:<name>'"):
        parse_steps(["page:/", "click"])


def test_warehouse_only_funnels_load_from_yaml(tmp_path):
    path = tmp_path / "funnels.yaml"
    path.write_text("funnels:\n  - name: Docs\n    steps: ['page:/docs', 'event:copy']\n")
    spec = load_funnel_file(path)["Docs"]
    assert spec.steps[1]["filter"] == {"type": "event", "name": {"operator": "eq", "value": "copy"}}
    path.write_text("steps: []\n")
    with pytest.raises(FunnelError, match="expected a top-level 'funnels:' list"):
        load_funnel_file(path)


def test_string_conditions_are_clickhouse_ilike_with_unescaped_wildcards(conn):
    models.install_macros(conn)
    cases = [("/Pricing", "contains", "pric", True), ("/pricing", "eq", "/Pricing", False),
             ("/a_b", "contains", "a_b", True), ("/axb", "contains", "a_b", True),
             ("/blog/x", "startsWith", "/blog", True), ("/x", "notContains", "x", False),
             ("/x", "any", "zzz", True), ("/x", None, None, True)]
    for value, op, expected, result in cases:
        assert conn.execute("select fh_string_match($v, $o, $e)",
                            {"v": value, "o": op, "e": expected}).fetchone()[0] is result


def test_breakdowns_refuse_what_the_marts_cannot_group_by(conn):
    land(conn, [("u1", "s1", PV, "2026-01-05T10:00:00Z", "/", {})], users={"u1": "DE"})
    models.build_models(conn)
    with pytest.raises(BreakdownError, match="cannot break down by 'browser'"):
        breakdown_frame(conn, "browser", date(2026, 1, 5), date(2026, 1, 5))
    assert [auto_interval(date(2026, 1, 1), date(2026, 1, n)) for n in (2, 3, 31)] == \
        ["hourly", "daily", "daily"]
    assert auto_interval(date(2026, 1, 1), date(2026, 3, 31)) == "weekly"
    weekly = breakdown_frame(conn, "interval:weekly", date(2026, 1, 5), date(2026, 1, 5))
    assert weekly["value"].to_list() == ["2026-01-04T00:00:00Z"]     # weeks start on Sunday


def test_a_build_writes_unordered_and_restores_the_setting_even_when_a_model_fails(conn, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(models.SQL_DIR, sql_dir)
    (sql_dir / "marts" / "zz_bad.sql").write_text("select no_such_column from marts.sessions")
    with pytest.raises(models.ModelError, match=r"marts\.zz_bad \(zz_bad\.sql\): Binder Error"):
        models.build_models(conn, sql_dir=sql_dir)
    assert conn.execute("select current_setting('preserve_insertion_order')").fetchone() == (True,)
    assert conn.execute("select count(*) from information_schema.tables "
                        "where table_schema = 'marts'").fetchone() == (0,)   # rolled back


def test_funnel_chains_are_one_macro_shared_by_the_mart_and_the_analysts_queries(conn):
    # fh_funnel_reached on hits written by hand: a later first step restarts the chain (the
    # latest start is carried), one event matching steps 1 and 2 in one second advances by
    # itself, and a step outside the window of every start is not reached.
    models.install_macros(conn)
    day = 86400
    hits = [("a", 0, 0), ("a", 4 * day, 0), ("a", 10 * day, 1), ("a", 10 * day + 60, 2),
            ("b", 100, 0), ("b", 100, 1),
            ("c", 0, 0), ("c", 8 * day, 1)]
    conn.execute("create temp table fh_test_hits as select 0 as part, unit, 3 as step_count, "
                 "fh_hit(second, step) as hit from (values " +
                 ", ".join(f"('{u}', {s}, {k})" for u, s, k in hits) + ") t(unit, second, step)")
    reached = conn.execute("select unit, step_index, seconds_to_convert from "
                           "fh_funnel_reached('fh_test_hits', 604800) order by all").fetchall()
    assert reached == [("a", 0, 0), ("a", 1, 6 * day), ("a", 2, 6 * day + 60),
                       ("b", 0, 0), ("b", 1, 0), ("c", 0, 0)]
    # ... and the mart and an analyst's funnel over the same range agree step by step
    land(conn, [
        ("u1", "a", PV, "2026-01-05T10:00:00Z", "/", {}),
        ("u1", "a", PV, "2026-01-09T10:00:00Z", "/", {}),
        ("u1", "a", PV, "2026-01-10T10:00:00Z", "/pricing", {}),
        ("u1", "a", "signup", "2026-01-10T10:05:00Z", "/pricing", {"plan": "pro"}),
        ("u2", "b", PV, "2026-01-05T10:00:00Z", "/", {}),
        ("u2", "b", PV, "2026-01-05T10:01:00Z", "/pricing", {}),
        ("u3", "c", PV, "2026-01-05T10:00:00Z", "/", {}),
        ("u3", "c", PV, "2026-01-13T10:00:01Z", "/pricing", {}),
    ], users={"u1": "DE", "u2": "DE", "u3": "FR"})
    add_range(conn, "2026-01-05", "2026-01-14")
    models.build_models(conn)
    mart = conn.execute("select users, median_seconds_to_convert, p90_seconds_to_convert "
                        "from marts.funnel_steps order by step_index").fetchall()
    frame = funnel_frame(conn, STEPS, date(2026, 1, 5), date(2026, 1, 14))
    assert [tuple(r) for r in frame.select("users", "median_seconds_to_convert",
                                           "p90_seconds_to_convert").rows()] == mart
    assert [users for users, _, _ in mart] == [3, 2, 1]


def test_a_day_filter_on_marts_events_reaches_both_sources_raw_scans(conn, tmp_path):
    # A new day's models read marts.events for a few days: the filter must reach the raw
    # tables' scans through the staging views (no window over every event in between).
    from pipelines import raw_engagetrack

    raw_engagetrack.ensure_schema(conn)
    land(conn, [("u1", "a", PV, f"2026-01-0{d}T10:00:00Z", "/", {}) for d in (5, 6, 7)])
    conn.execute("insert into raw_engagetrack.timeline_events (site_id, event_id, "
                 "partition_date, synced_at) select 's', 'e' || i, "
                 "date '2026-01-05' + cast(i % 3 as integer), ? from range(30) t(i)", [SYNCED])
    models.build_models(conn)
    profile = tmp_path / "profile.json"
    conn.execute("pragma enable_profiling = 'json'")
    conn.execute(f"pragma profiling_output = '{profile}'")
    assert conn.execute("select source, count(*) from marts.events where day = '2026-01-06' "
                        "group by all order by all").fetchall() == [("engagetrack", 10),
                                                                    ("vemetric", 1)]
    conn.execute("pragma disable_profiling")

    def operators(node):
        yield node
        for child in node.get("children", []):
            yield from operators(child)

    found = list(operators(orjson.loads(profile.read_bytes())))
    scans = {(n.get("extra_info") or {}).get("Table", "").split(".", 1)[-1]:
             (n.get("extra_info") or {}).get("Filters", "") for n in found
             if n.get("operator_name") == "SEQ_SCAN"}
    assert "partition_date='2026-01-06'" in scans["raw_vemetric.user_events"]
    assert "partition_date='2026-01-06'" in scans["raw_engagetrack.timeline_events"]
    assert not any(n.get("operator_name") == "WINDOW" for n in found)
