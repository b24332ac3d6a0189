"""The numbers a report shows, gathered from a real synced warehouse and checked against the
reference API's own answers for the same days (computed independently, in polars)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from starlette.testclient import TestClient

from pipelines import warehouse
from pipelines.reference.vemetric.app import create_app
from pipelines.reports.config import ReportConfig, Schedule
from pipelines.reports.data import ReportDataError, gather
from pipelines.reports.periods import Period
from pipelines.reports.render import render
from tests.reports.warehouse_fixture import IMG_EVENT, REFERRER, SCRIPT_PATH

WEEK = Period(date(2026, 2, 9), date(2026, 2, 15))
MONDAY = datetime(2026, 2, 16, 7, 0, tzinfo=UTC)
BERLIN = Schedule(cron="0 7 * * 1", timezone="Europe/Berlin")


def config(**overrides) -> ReportConfig:
    values = dict(name="weekly", title="Weekly overview", template="weekly", source="vemetric",
                  range="last_week", schedule=BERLIN)
    return ReportConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def api(report_warehouse: Path, report_dataset):
    """The reference API over the dataset the warehouse was synced from."""
    fixture = json.loads((report_warehouse.parent / "dataset" / "fixture.json").read_text())
    key = fixture["projects"][0]["apiKeys"][0]["key"]
    with TestClient(create_app(report_dataset, rate_limit=1_000_000),
                    headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


@pytest.fixture
def conn(report_warehouse: Path):
    connection = warehouse.connect(report_warehouse)
    yield connection
    connection.close()


def api_query(api, period: Period, **body) -> dict:
    response = api.post("/v1/analytics/query", json={
        "dateRange": [period.first.isoformat(), period.last.isoformat()],
        "metrics": ["users", "pageviews", "events", "bounceRate", "visitDuration"], **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_headline_metrics_equal_the_apis_own_for_the_week_and_the_week_before(conn, api):
    report = gather(conn, config(), MONDAY)

    assert (report.header.period, report.header.previous) == (WEEK, WEEK.previous())
    for period, pick in ((WEEK, "value"), (WEEK.previous(), "previous")):
        [row] = api_query(api, period)["data"]
        expected = row["metrics"]
        got = {m.label: getattr(m, pick) for m in report.metrics}
        assert got == {"Users": expected["users"], "Pageviews": expected["pageviews"],
                       "Events": expected["events"], "Bounce rate": expected["bounceRate"],
                       "Visit duration": expected["visitDuration"]}


def test_top_pages_and_events_equal_the_apis_breakdowns(conn, api):
    report = gather(conn, config(top=50), MONDAY)
    sections = {s.title: s for s in report.sections}

    pages = {r["group"]["page:path"]: (r["metrics"]["pageviews"], r["metrics"]["users"])
             for r in api_query(api, WEEK, groupBy=["page:path"], limit=1000)["data"]}
    assert {label: (views, users) for label, views, users in sections["Top pages"].table.rows} \
        == pages
    events = {r["group"]["event:name"]: (r["metrics"]["events"], r["metrics"]["users"])
              for r in api_query(api, WEEK, groupBy=["event:name"], limit=1000)["data"]}
    assert {label: (n, users) for label, n, users in sections["Top events"].table.rows} == events
    assert SCRIPT_PATH in pages and IMG_EVENT in events


def test_channels_referrers_and_devices_come_from_the_synced_range_that_holds_the_week(conn,
                                                                                      api):
    # One sync of 2..15 Feb: the API's breakdowns exist for that range only (per day the sync
    # asks for the aggregate alone), so the week shows them, and says which days they cover.
    report = gather(conn, config(top=50), MONDAY)
    sections = {s.title: s for s in report.sections}

    synced = Period(date(2026, 2, 2), date(2026, 2, 15))
    for title, token in (("Channels", "referrerType"), ("Top referrers", "referrer"),
                         ("Devices", "deviceType")):
        expected = {r["group"][token]: (r["metrics"]["users"], r["metrics"]["pageviews"])
                    for r in api_query(api, synced, groupBy=[token], limit=1000)["data"]}
        section = sections[title]
        assert {label: (u, v) for label, u, v in section.table.rows} == expected, title
        assert section.note == ("Vemetric's breakdown covers 2–15 Feb 2026, the smallest "
                                "synced range containing this period (the API gives no "
                                "breakdown for the period itself).")
    assert REFERRER in {row[0] for row in sections["Top referrers"].table.rows}
    assert sections["Channels"].chart is not None


def analytics_ranges(conn, ranges: list[tuple[str, str]]) -> None:
    conn.execute("create schema raw_vemetric")
    conn.execute("create table raw_vemetric.analytics (date_from date, date_to date, "
                 "group_by varchar, group_value varchar, users bigint, pageviews bigint)")
    for first, last in ranges:
        conn.execute("insert into raw_vemetric.analytics values ($f, $l, 'country', 'DE', 2, 3)",
                     {"f": first, "l": last})


@pytest.mark.parametrize(("ranges", "expected", "note"), [
    # Daily syncs: seven one-day breakdowns make the week, and the note says what adding
    # them up means for users.
    ([(f"2026-02-{d:02d}", f"2026-02-{d:02d}") for d in range(8, 17)],
     [(f"2026-02-{d:02d}", f"2026-02-{d:02d}") for d in range(9, 16)],
     "Vemetric's own breakdown of the synced days, added up over 7 synced ranges: a user "
     "active in several of them counts once per range."),
    # The week itself was synced (and some days inside it): the one range is preferred.
    ([("2026-02-09", "2026-02-15"), ("2026-02-09", "2026-02-09"), ("2026-02-10", "2026-02-10")],
     [("2026-02-09", "2026-02-15")], "Vemetric's own breakdown of the synced days."),
    # A day is missing and no range holds the week.
    ([(f"2026-02-{d:02d}", f"2026-02-{d:02d}") for d in (9, 10, 11, 13, 14, 15)], [],
     "Vemetric's breakdown is not available: no synced range covers this period."),
])
def test_breakdowns_use_the_fewest_synced_ranges_that_make_up_the_period(ranges, expected, note):
    from pipelines.reports.data import _covering_ranges

    with duckdb.connect() as conn:
        analytics_ranges(conn, ranges)
        tiles, got_note = _covering_ranges(conn, "country", WEEK)
    assert [(t.first.isoformat(), t.last.isoformat()) for t in tiles] == expected
    assert got_note == note


def test_users_per_day_follow_the_days_of_both_weeks(conn, api):
    report = gather(conn, config(), MONDAY)
    days = report.sections[0]

    expected = []
    for day, previous_day in zip(WEEK.dates(), WEEK.previous().dates()):
        [now] = api_query(api, Period(day, day))["data"]
        [before] = api_query(api, Period(previous_day, previous_day))["data"]
        expected.append((day.strftime("%a"), now["metrics"]["users"],
                         now["metrics"]["pageviews"], before["metrics"]["users"]))
    assert days.title == "Users per day"
    assert list(days.table.rows) == expected
    assert days.chart is not None and days.chart.alt.startswith("Users per day. This period: Mon ")


def test_days_not_synced_are_unknown_and_said_so(conn):
    # 11..17 Feb: the sync stopped on the 15th.
    report = gather(conn, config(range="last_7_days"), datetime(2026, 2, 18, 7, tzinfo=UTC))

    status = report.header.status
    assert status.missing_days == (date(2026, 2, 16), date(2026, 2, 17))
    assert report.header.notices[0] == (
        "Not synced: 2 of 7 days of this period (Mon 16 Feb, Tue 17 Feb); the numbers below "
        "cover the other days only.")
    rows = report.sections[0].table.rows
    assert [row[0] for row in rows[-2:]] == ["Mon", "Tue"]
    assert [row[1:3] for row in rows[-2:]] == [(None, None), (None, None)]
    assert all(row[1] is not None for row in rows[:-2])


def test_a_period_with_nothing_synced_shows_no_numbers_at_all(conn):
    report = gather(conn, config(), datetime(2026, 3, 10, 7, tzinfo=UTC))

    assert report.header.status.empty
    assert [m.value for m in report.metrics] == [None] * 5
    assert report.header.notices[0] == ("No data has been synced for this period (2\u20138 Mar "
                                        "2026): the numbers below are unknown, not zero.")
    assert all(not s.table.rows and s.chart is None for s in report.sections)
    html = render(report).html_file
    assert "no data" in html and "No data has been synced for this period." in html


def test_quarantined_rows_are_reported(report_warehouse, tmp_path):
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(warehouse.current_snapshot(report_warehouse), copy)
    with duckdb.connect(str(copy)) as writer:
        writer.execute("insert into raw_vemetric._quarantine values ('user_events', "
                       "'created_at:in_range', 'bad time', '{}', date '2026-02-10', "
                       "date '2026-02-10', now())")
    with duckdb.connect(str(copy), read_only=True) as conn:
        report = gather(conn, config(), MONDAY)
    assert report.header.status.quarantined_rows == 1
    assert "1 row of this period failed validation and is left out of the numbers below." \
        in report.header.notices


def test_the_funnel_report_equals_the_apis_funnel_for_both_periods(conn, api):
    funnel_config = config(name="signup", template="funnel", funnel="Signup",
                           range="last_7_days")
    report = gather(conn, funnel_config, datetime(2026, 2, 15, 9, tzinfo=UTC))  # 8..14 Feb

    funnel_id = next(f["id"] for f in api.get("/v1/funnels").json()["funnels"]
                     if f["name"] == "Signup")
    for period, attribute in ((Period(date(2026, 2, 8), date(2026, 2, 14)), "users"),
                              (Period(date(2026, 2, 1), date(2026, 2, 7)), "previous_users")):
        body = api.post(f"/v1/funnels/{funnel_id}", json={
            "dateRange": [period.first.isoformat(), period.last.isoformat()]}).json()["results"]
        assert [getattr(s, attribute) for s in report.steps] == \
            [s["users"] for s in body["steps"]]
        if attribute == "users":
            assert [s.conversion_from_previous for s in report.steps] == \
                [s["conversionRate"] for s in body["steps"]]
            assert report.metrics[0].value == body["conversionRate"]
    assert report.funnel == "Signup"
    assert report.steps[0].drop_off is None
    assert report.steps[1].drop_off == report.steps[0].users - report.steps[1].users
    assert report.chart is not None


def test_an_unknown_funnel_is_named_with_the_ones_there_are(conn):
    with pytest.raises(ReportDataError, match=r"report 'signup': no funnel named or with id "
                                              r"'Nope'; the warehouse has: 'Blog to signup' \("):
        gather(conn, config(name="signup", template="funnel", funnel="Nope"), MONDAY)


def test_a_warehouse_without_models_says_what_to_run(tmp_path):
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as conn:
        with pytest.raises(ReportDataError) as failure:
            gather(conn, config(), MONDAY)
    assert str(failure.value).startswith("the warehouse has no marts.events, marts.users")
    assert str(failure.value).endswith("sync and build the models (funnelhouse sync; "
                                       "funnelhouse build) before reporting")
