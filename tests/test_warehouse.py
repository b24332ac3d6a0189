"""Landing into raw_vemetric (fabricated pages), window replacement, and read-only snapshots."""

import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines import raw_vemetric as raw
from pipelines import warehouse
from pipelines.landing import MalformedAnswer
from tests.vemetric_pages import FakeConnector, event, raw_tables, user

AT = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = raw.Window(date(2026, 1, 1), date(2026, 1, 2))


def connector(**overrides) -> FakeConnector:
    return FakeConnector(
        users=[user("1", "2026-01-02T10:00:00Z"), user("2", "2026-01-01T09:00:00Z")],
        events={
            "1": [event("2026-01-02T10:00:00Z"),
                  event("2026-01-01T08:00:00Z", "signup"),
                  event("2026-01-01T08:00:00Z", "signup"),   # the API cannot tell these apart
                  event("2026-01-01T07:00:00Z", path="/pricing")],
            "2": [event("2026-01-01T09:00:00Z")],
        },
        **overrides,
    )


def land_all(fake: FakeConnector, path: Path, window: raw.Window = WINDOW) -> None:
    raw.land_project(fake, path, window, AT)
    raw.land_funnels(fake, path, window, AT)
    raw.land_users_and_events(fake, path, window, AT)
    raw.land_analytics(fake, path, window, AT, raw.event_properties(path, window))
    raw.land_funnel_results(fake, path, window, AT, ["f1"])
    raw.land_filter_values(fake, path, window, AT)


tables = raw_tables


def query(path: Path, sql: str) -> list[tuple]:
    with warehouse.writer(path) as conn:
        return conn.execute(sql).fetchall()


def test_events_are_split_into_days_with_stable_ids(tmp_path):
    path = tmp_path / "w.duckdb"
    raw.land_users_and_events(connector(), path, WINDOW, AT)
    rows = query(path, "select user_id, name, path, partition_date, occurrences, event_id "
                       "from raw_vemetric.user_events order by created_at")
    assert [r[:5] for r in rows] == [
        ("1", "$$pageView", "/pricing", date(2026, 1, 1), 1),
        ("1", "signup", "/signup", date(2026, 1, 1), 2),
        ("2", "$$pageView", "/", date(2026, 1, 1), 1),
        ("1", "$$pageView", "/", date(2026, 1, 2), 1),
    ]
    ids = [r[5] for r in rows]
    assert len(set(ids)) == 4 and all(len(i) == 32 for i in ids)
    # The documented formula, recomputed independently: md5 of the JSON array of the fields.
    assert ids[1] == query(path, "select md5(to_json(['1', repeat('s', 21), '2026-01-01T08:00:00Z', "
                                 "'signup', 'false', 'https://example.com', '/signup', null, "
                                 "'{\"plan\":\"pro\"}']))")[0][0]


def test_users_land_on_each_day_they_were_active(tmp_path):
    path = tmp_path / "w.duckdb"
    raw.land_users_and_events(connector(), path, WINDOW, AT)
    assert query(path, "select id, partition_date from raw_vemetric.users order by all") == [
        ("1", date(2026, 1, 1)), ("1", date(2026, 1, 2)), ("2", date(2026, 1, 1))]


def test_each_user_is_listed_once_and_asked_for_events_once(tmp_path):
    fake = connector(page_size=2)
    raw.land_users_and_events(fake, tmp_path / "w.duckdb", WINDOW, AT)
    span = ("2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z")
    assert fake.calls == [("users", span), ("user_events", "1", span), ("user_events", "2", span)]


def test_running_a_window_twice_gives_identical_tables(tmp_path):
    path = tmp_path / "w.duckdb"
    land_all(connector(), path)
    first = tables(path)
    land_all(connector(), path)
    assert tables(path) == first
    assert {t: len(rows) for t, rows in first.items()} == {
        "project": 1, "funnels": 1, "users": 3, "user_events": 4,
        "analytics": 20, "funnel_results": 3, "filter_values": 45, "_quarantine": 0}


def test_a_later_window_replaces_only_its_own_days(tmp_path):
    path = tmp_path / "w.duckdb"
    land_all(connector(), path)
    day2 = raw.Window(date(2026, 1, 2), date(2026, 1, 2))
    fake = FakeConnector(users=[user("3", "2026-01-02T12:00:00Z")],
                         events={"3": [event("2026-01-02T12:00:00Z")]})
    raw.land_users_and_events(fake, path, day2, AT)
    raw.land_analytics(fake, path, day2, AT, [])
    assert query(path, "select partition_date, user_id from raw_vemetric.user_events "
                       "where name = '$$pageView' order by all") == [
        (date(2026, 1, 1), "1"), (date(2026, 1, 1), "2"), (date(2026, 1, 2), "3")]
    # The two-day range's aggregates stay; the one-day range is replaced by its own answers.
    ranges = query(path, "select date_from, date_to, count(*) from raw_vemetric.analytics "
                         "group by all order by all")
    assert ranges == [(date(2026, 1, 1), date(2026, 1, 1), 1), (date(2026, 1, 1), date(2026, 1, 2), 18),
                      (date(2026, 1, 2), date(2026, 1, 2), 17)]


def test_a_failure_mid_listing_leaves_the_previous_state(tmp_path):
    path = tmp_path / "w.duckdb"
    land_all(connector(), path)
    before = tables(path)
    broken = connector()
    del broken.events["2"][0]["createdAt"]  # the second user's page is malformed
    broken.users.append(user("9", "2026-01-02T23:00:00Z"))
    with pytest.raises(MalformedAnswer, match=r"/v1/users/events\?id=2 page 1: row 0 has no field 'createdAt'"):
        raw.land_users_and_events(broken, path, WINDOW, AT)
    assert tables(path) == before


def test_quarantined_rows_are_kept_with_the_window(tmp_path):
    path = tmp_path / "w.duckdb"
    fake = connector()
    fake.events["2"].append(event("2026-01-05T00:00:00Z"))  # outside the window asked for
    landed = raw.land_users_and_events(fake, path, WINDOW, AT)
    assert landed.quarantined == {"users": 0, "user_events": 1}
    records = raw.quarantined(path, "user_events", WINDOW)
    assert records["checks"].to_list() == ["created_at:less_than(2026-01-03 00:00:00+00:00)"]
    assert '"createdAt":"2026-01-05T00:00:00Z"' in records["raw"][0]
    assert '"userId":"2"' in records["raw"][0]
    # A clean re-run of the window replaces the quarantine records too.
    raw.land_users_and_events(connector(), path, WINDOW, AT)
    assert raw.quarantined(path, "user_events", WINDOW).height == 0


def test_snapshot_for_readers(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    with pytest.raises(warehouse.WarehouseError, match="no snapshot published"):
        warehouse.connect(path)
    land_all(connector(), path)
    first = warehouse.publish_snapshot(path)
    assert warehouse.current_snapshot(path) == first
    monkeypatch.setenv(warehouse.ENV_VAR, str(path))
    frame = warehouse.sql("select count(*) as n from raw_vemetric.user_events where user_id = $u", u="1")
    assert frame.to_dicts() == [{"n": 3}]
    conn = warehouse.connect()
    with pytest.raises(duckdb.InvalidInputException, match="read-only"):
        conn.execute("delete from raw_vemetric.users")
    conn.close()


def test_only_the_newest_snapshots_are_kept(tmp_path):
    path = tmp_path / "w.duckdb"
    land_all(connector(), path)
    published = [warehouse.publish_snapshot(path, keep=2) for _ in range(4)]
    assert sorted(warehouse.snapshot_dir(path).iterdir()) == published[2:]


READER = textwrap.dedent("""
    import sys
    from pipelines import warehouse
    conn = warehouse.connect(sys.argv[1])
    print(conn.execute("select count(*) from raw_vemetric.user_events").fetchone()[0], flush=True)
    sys.stdin.readline()          # hold the connection open until told to look again
    print(conn.execute("select count(*) from raw_vemetric.user_events").fetchone()[0], flush=True)
""")


def test_an_open_notebook_connection_never_blocks_a_sync(tmp_path):
    path = tmp_path / "w.duckdb"
    land_all(connector(), path)
    warehouse.publish_snapshot(path)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    try:
        assert reader.stdout.readline().strip() == "4"
        more = connector()
        more.events["2"].append(event("2026-01-02T09:00:00Z", "click"))
        land_all(more, path)                      # the writer is not blocked by the reader...
        warehouse.publish_snapshot(path)          # ...and neither is publishing
        assert pl.DataFrame(warehouse.connect(path).execute(
            "select count(*) as n from raw_vemetric.user_events").pl())["n"][0] == 5
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "4"   # the old snapshot, still consistent
    finally:
        reader.stdin.close()
        assert reader.wait(timeout=30) == 0


def test_events_are_staged_in_batches_of_whole_users_with_the_same_tables(tmp_path, monkeypatch):
    whole = tmp_path / "whole.duckdb"
    raw.land_users_and_events(connector(), whole, WINDOW, AT)
    batches: list[tuple[list[str], int]] = []
    add = raw._Staged.add

    def spy(staged, users, events):
        batches.append((users["id"].to_list(), events.height))
        add(staged, users, events)

    monkeypatch.setattr(raw, "EVENT_BATCH_ROWS", 1)
    monkeypatch.setattr(raw._Staged, "add", spy)
    batched = tmp_path / "batched.duckdb"
    raw.land_users_and_events(connector(), batched, WINDOW, AT)
    # User 1's identical pair of events spans two pages: its batch still holds both, so they
    # collapse into one row with occurrences 2, exactly as when everything is one batch.
    assert batches == [(["1"], 4), (["2"], 1)]
    assert tables(batched) == tables(whole)
    assert query(batched, "select occurrences from raw_vemetric.user_events "
                          "where name = 'signup'") == [(2,)]


def test_a_user_listed_on_two_pages_is_quarantined_each_time_and_never_paged(tmp_path):
    path = tmp_path / "w.duckdb"
    fake = connector(page_size=2)
    fake.users.append(user("1", "2026-01-01T11:00:00Z"))  # page 2 lists user 1 again
    landed = raw.land_users_and_events(fake, path, WINDOW, AT)
    assert fake.calls[1:] == [("user_events", "2", ("2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z"))]
    assert landed.quarantined == {"users": 2, "user_events": 0}
    records = raw.quarantined(path, "users", WINDOW)
    assert records["checks"].to_list() == ["id:field_uniqueness", "id:field_uniqueness"]
    assert query(path, "select distinct user_id from raw_vemetric.user_events") == [("2",)]
    assert query(path, "select id from raw_vemetric.users") == [("2",)]
