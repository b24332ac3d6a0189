"""EngageTrack funnel reports over any report period, for a site synced one day at a time.

A generated site is synced day by day (each day a separate sync of one day, as the Dagster
schedule runs it, with the models rebuilt for that day), with `last_7_days` and `last_week`
funnel reports declared. Every number the reports show must be EngageTrack's own answer to
`funnels/{id}/analyze` for exactly the report's period (and its comparison period), asked of
the reference API directly here; a period never asked for says so, never zero. The plan counts
the extra requests exactly, and a day synced twice leaves the same tables."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from pipelines import models, warehouse
from pipelines import raw_engagetrack as raw
from pipelines.connectors.engagetrack import EngageTrackConnector
from pipelines.connectors.planning_engagetrack import plan_engagetrack
from pipelines.reference.engagetrack.app import create_app
from pipelines.reference.engagetrack.dataset import load_dataset
from pipelines.reference.engagetrack.generate import ORG_ID, SITE_ID, generate
from pipelines.reports.config import CONFIG_PATH, ReportConfig, Schedule, load_reports
from pipelines.reports.data import gather
from pipelines.reports.render import render
from tests.test_sync_engagetrack import BASE, QUICK, land_all, tables

START = date(2026, 2, 1)            # the generated traffic: 1 .. 18 Feb 2026
SYNCED = [date(2026, 2, 9) + timedelta(days=i) for i in range(9)]  # Mon 9 .. Tue 17 Feb
AT = datetime(2026, 2, 18, 3, 0, tzinfo=UTC)


def declared(funnel: str) -> dict[str, ReportConfig]:
    """The reports file of this test: two EngageTrack funnel reports and a Vemetric one."""
    def report(name: str, **settings) -> ReportConfig:
        return ReportConfig(name=name, title=name, template="funnel", funnel=funnel,
                            schedule=Schedule(cron="0 7 * * 1", timezone="Europe/Berlin"),
                            **{"source": "engagetrack", **settings})

    return {r.name: r for r in (
        report("week7", range="last_7_days", comparison="previous_period"),
        report("lastweek", range="last_week", comparison="none"),
        report("vemetric_funnel", source="vemetric", range="last_28_days"),
    )}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("et_periods")
    generate(out / "data", users=40, days=18, seed=4, start=START)
    key = json.loads((out / "data" / "fixture.json").read_text())["organizations"][0][
        "api_keys"][0]["key"]
    return {"out": out, "key": key, "dataset": load_dataset(out / "data")}


@pytest.fixture(scope="module")
def http(site):
    with TestClient(create_app(site["dataset"])) as client:
        yield client


def connect(http, site) -> EngageTrackConnector:
    return EngageTrackConnector.connect(BASE, site["key"], ORG_ID, http=http, policy=QUICK)


def sync_day(connector, path: Path, day: date, reports, at: datetime = AT) -> None:
    """One scheduled sync of one day: every asset's landing, in order, then the models for the
    day (as the Dagster job and the models job run them)."""
    land_all(connector, path, raw.Window(day, day), SITE_ID, reports, at)
    models.build(path, days=models.DayRange(day, day))


def analyze(http, site, funnel_id: str, first: date, last: date) -> list[dict]:
    """EngageTrack's own answer, asked directly (not through the connector)."""
    answer = http.get(f"/api/v1/organizations/{ORG_ID}/sites/{SITE_ID}/funnels/{funnel_id}"
                      "/analyze", params={"period": "custom", "from": first.isoformat(),
                                          "to": last.isoformat()},
                      headers={"Authorization": f"Bearer {site['key']}"})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


@pytest.fixture(scope="module")
def funnel(site) -> dict:
    """The generated site's first funnel (by id)."""
    funnels = site["dataset"].organizations[ORG_ID].sites[SITE_ID].funnels
    return sorted(funnels, key=lambda f: f["id"])[0]


@pytest.fixture(scope="module")
def daily(site, http, funnel, tmp_path_factory) -> Path:
    """The site synced one day at a time, 9 Feb .. 17 Feb; the models built after each day."""
    path = tmp_path_factory.mktemp("daily") / "wh.duckdb"
    reports = declared(funnel["name"]).values()
    for day in SYNCED:
        sync_day(connect(http, site), path, day, reports)
    return path


@pytest.fixture
def conn(daily):
    with warehouse.writer(daily) as connection:
        yield connection


def shown(report) -> list[tuple]:
    return [(s.name, s.users, s.conversion_from_previous, s.drop_off, s.previous_users)
            for s in report.steps]


def expected(current: list[dict], previous: list[dict] | None) -> list[tuple]:
    """The steps as the API answered: visitors, conversion from the previous step, and the
    visitors lost since the previous step (none before step 1)."""
    rows = []
    for i, step in enumerate(current):
        lost = current[i - 1]["visitors"] - step["visitors"] if i else None
        rows.append((step["name"], step["visitors"], step["conversion_rate"], lost,
                     previous[i]["visitors"] if previous else None))
    return rows


# --- which periods a sync asks for -------------------------------------------------------------

def test_periods_that_end_on_a_synced_day():
    window = raw.Window(date(2026, 2, 14), date(2026, 2, 16))   # Sat .. Mon
    reports = declared("Signup").values()
    extra = raw.report_ranges(window, reports, [("fun_b", "Other"), ("fun_a", "Signup")])
    spans = [(w.first.isoformat(), w.last.isoformat()) for w in extra["fun_a"]]
    assert list(extra) == ["fun_a"]
    assert spans == [
        ("2026-02-01", "2026-02-07"), ("2026-02-02", "2026-02-08"),   # previous 7 days
        ("2026-02-03", "2026-02-09"),
        ("2026-02-08", "2026-02-14"),   # last 7 days ending Sat 14
        ("2026-02-09", "2026-02-15"),   # ending Sun 15, and last_week ending Sun 15 (once)
        ("2026-02-10", "2026-02-16"),   # ending Mon 16
    ]


def test_last_month_ends_on_a_month_s_last_day_and_the_window_s_own_ranges_are_not_repeated():
    config = declared("fun_a")["week7"].model_copy(update={"range": "last_month"})
    jan31 = raw.report_ranges(raw.Window(date(2026, 1, 30), date(2026, 2, 1)), [config],
                              [("fun_a", "Signup")])
    assert jan31 == {"fun_a": [raw.Window(date(2025, 12, 1), date(2025, 12, 31)),
                               raw.Window(date(2026, 1, 1), date(2026, 1, 31))]}
    # a month synced as one window: its own range is asked for anyway, only the comparison is extra
    january = raw.report_ranges(raw.Window(date(2026, 1, 1), date(2026, 1, 31)), [config],
                                [("fun_a", "Signup")])
    assert january == {"fun_a": [raw.Window(date(2025, 12, 1), date(2025, 12, 31))]}


def test_the_window_s_own_range_is_not_asked_twice_whatever_its_window_class():
    from pipelines import raw_vemetric   # Dagster's assets hand in this Window subclass

    config = declared("Signup")["week7"]
    for window in (raw.Window(date(2026, 2, 10), date(2026, 2, 16)),
                   raw_vemetric.Window(date(2026, 2, 10), date(2026, 2, 16))):
        spans = raw.report_ranges(window, [config], [("fun_a", "Signup")])["fun_a"]
        assert (date(2026, 2, 10), date(2026, 2, 16)) not in {(w.first, w.last) for w in spans}
        assert len(spans) == 13


def test_no_engagetrack_funnel_report_means_no_extra_requests():
    window = raw.Window(date(2026, 2, 9), date(2026, 2, 15))
    funnels = [("fun_a", "Signup")]
    assert raw.report_ranges(window, load_reports(CONFIG_PATH).values(), funnels) == {}
    weekly = declared("Signup")["week7"].model_copy(update={"template": "weekly", "funnel": None})
    elsewhere = declared("Signup")["week7"].model_copy(update={"funnel": "Checkout"})
    assert raw.report_ranges(window, [weekly, elsewhere, declared("Signup")["vemetric_funnel"]],
                             funnels) == {}


# --- the reports, after daily syncs ------------------------------------------------------------

def test_last_7_days_with_its_previous_period_is_the_api_s_own_analysis(conn, http, site, funnel):
    report = gather(conn, declared(funnel["name"])["week7"],
                    datetime(2026, 2, 18, 7, tzinfo=UTC))       # 11 .. 17 Feb, before 4 .. 10
    current = analyze(http, site, funnel["id"], date(2026, 2, 11), date(2026, 2, 17))
    previous = analyze(http, site, funnel["id"], date(2026, 2, 4), date(2026, 2, 10))
    assert current[0]["visitors"] > current[-1]["visitors"] > 0   # a funnel worth comparing
    assert shown(report) == expected(current, previous)
    assert report.metrics[0].value == round(100 * current[-1]["visitors"]
                                            / current[0]["visitors"], 2)
    assert report.metrics[0].previous == round(100 * previous[-1]["visitors"]
                                               / previous[0]["visitors"], 2)
    assert report.header.notices == []   # both analyses synced, though 4 .. 8 Feb never was


def test_every_daily_period_is_the_api_s_answer(conn, http, site, funnel):
    config = declared(funnel["name"])["week7"]
    for day in SYNCED:
        report = gather(conn, config, datetime.combine(day + timedelta(days=1),
                                                       datetime.min.time(), UTC))
        first = day - timedelta(days=6)
        assert shown(report) == expected(
            analyze(http, site, funnel["id"], first, day),
            analyze(http, site, funnel["id"], first - timedelta(days=7), day - timedelta(days=7)),
        ), day


def test_last_week_is_the_api_s_own_analysis(conn, http, site, funnel):
    report = gather(conn, declared(funnel["name"])["lastweek"],
                    datetime(2026, 2, 16, 7, tzinfo=UTC))       # Mon: the week 9 .. 15 Feb
    assert (report.header.period.first, report.header.period.last) == (date(2026, 2, 9),
                                                                       date(2026, 2, 15))
    assert shown(report) == expected(
        analyze(http, site, funnel["id"], date(2026, 2, 9), date(2026, 2, 15)), None)
    assert report.header.notices == []


def test_a_period_not_synced_says_which_and_how_never_zero(conn, funnel):
    # 26 Jan .. 1 Feb: no synced day's report period, nor one's comparison period (8 Feb's
    # would have been; 8 Feb was not synced)
    report = gather(conn, declared(funnel["name"])["week7"], datetime(2026, 2, 2, 7, tzinfo=UTC))
    assert [s.users for s in report.steps] == [None] * len(funnel["steps"])
    assert [s.previous_users for s in report.steps] == [None] * len(funnel["steps"])
    assert [s.name for s in report.steps] == [s["name"] for s in funnel["steps"]]
    assert report.metrics[0].value is None
    notices = report.header.notices
    assert notices[0] == ("No data has been synced for this period (26 Jan \u2013 1 Feb 2026): "
                          "the numbers below are unknown, not zero.")
    assert notices[1] == (
        f"EngageTrack's analysis of the funnel {funnel['name']!r} for this period "
        "(2026-01-26..2026-02-01) has not been synced; a sync of its last day asks for it while "
        f"this report is declared: funnelhouse sync engagetrack --site {SITE_ID} "
        "--from 2026-02-01 --to 2026-02-01")
    rendered = render(report)
    assert notices[1] in rendered.text and "--from 2026-02-01 --to 2026-02-01" in rendered.html_file


def test_a_comparison_period_not_synced_is_named(conn, funnel):
    # last_14_days was not declared when the days were synced: neither period was asked for
    config = declared(funnel["name"])["week7"].model_copy(update={"range": "last_14_days"})
    report = gather(conn, config, datetime(2026, 2, 18, 7, tzinfo=UTC))
    assert all(s.users is None and s.previous_users is None for s in report.steps)
    assert "(2026-02-04..2026-02-17) has not been synced" in report.header.notices[1]


def test_report_periods_are_reconciled_once_all_their_days_are_synced(conn):
    from pipelines import reconcile_engagetrack

    outcomes = [o for o in reconcile_engagetrack.reconcile(conn) if o.kind == "funnels"]
    failed = [(o.describe(), o.differences.rows()) for o in outcomes if o.status != "passed"]
    compared = {(o.first, o.last) for o in outcomes}
    assert failed == []
    # 9 .. 15 and 11 .. 17 Feb lie within the synced days; 3 .. 9 and 4 .. 10 do not
    assert {(date(2026, 2, 9), date(2026, 2, 15)), (date(2026, 2, 11), date(2026, 2, 17))} \
        <= compared
    assert not compared & {(date(2026, 2, 3), date(2026, 2, 9)),
                           (date(2026, 2, 4), date(2026, 2, 10))}
    # in a day's check (Dagster: reconcile for the synced day), the period ending on it
    ending = {(o.first, o.last) for o in reconcile_engagetrack.reconcile(
        conn, date(2026, 2, 17), date(2026, 2, 17)) if o.kind == "funnels"}
    assert ending == {(date(2026, 2, 17), date(2026, 2, 17)),
                      (date(2026, 2, 11), date(2026, 2, 17))}


# --- idempotence and the plan ------------------------------------------------------------------

def test_the_same_day_synced_twice_leaves_identical_tables(daily, http, site, funnel, tmp_path):
    path = tmp_path / "wh.duckdb"
    path.write_bytes(daily.read_bytes())
    before = tables(path)
    later = AT + timedelta(hours=1)
    sync_day(connect(http, site), path, SYNCED[-1], declared(funnel["name"]).values(), later)
    assert tables(path) == before
    # The re-run replaced exactly the ranges it asked for: the day's, and the report periods
    # ending on it (beyond the window); every other range keeps the first run's rows.
    with warehouse.writer(path) as c:
        replaced = c.execute(
            "select distinct funnel_id, date_from, date_to from raw_engagetrack.funnel_analyses "
            "where synced_at = $at order by all", {"at": later}).fetchall()
        kept = c.execute("select count(*) from raw_engagetrack.funnel_analyses "
                         "where synced_at = $at", {"at": AT}).fetchone()[0]
    day, week, previous = ((SYNCED[-1], SYNCED[-1]), (date(2026, 2, 11), date(2026, 2, 17)),
                           (date(2026, 2, 4), date(2026, 2, 10)))
    funnel_ids = sorted({r[3] for r in before["funnel_analyses"]})
    assert replaced == sorted([(f, *day) for f in funnel_ids]
                              + [(funnel["id"], *week), (funnel["id"], *previous)])
    assert kept > 0


def test_a_report_range_replaces_only_its_funnel_s_rows(daily, http, site, funnel, tmp_path):
    path = tmp_path / "wh.duckdb"
    path.write_bytes(daily.read_bytes())
    week = raw.Window(date(2026, 2, 11), date(2026, 2, 17))
    connector = connect(http, site)
    with warehouse.writer(path) as c:
        ids = [r[0] for r in c.execute("select id from raw_engagetrack.funnels order by id")
               .fetchall()]
    raw.land_funnel_analyses(connector, path, week, AT, SITE_ID, ids)  # every funnel, that week
    before = tables(path)
    sync_day(connector, path, SYNCED[-1], declared(funnel["name"]).values())
    after = tables(path)
    assert after["funnel_analyses"] == before["funnel_analyses"]
    others = [r for r in after["funnel_analyses"] if (r[1], r[2]) == (week.first, week.last)
              and r[3] != funnel["id"]]
    assert len(ids) > 1 and others   # the other funnels' rows of that week are still there


@pytest.mark.parametrize("window", [raw.Window(date(2026, 2, 15), date(2026, 2, 15)),
                                    raw.Window(date(2026, 2, 9), date(2026, 2, 17))],
                         ids=["a Sunday", "nine days"])
def test_the_plan_counts_the_report_periods_exactly(http, site, funnel, tmp_path, window):
    reports = declared(funnel["name"]).values()
    plan = plan_engagetrack(connect(http, site), SITE_ID, window.first, window.last,
                            reports=reports)
    groups = {g.name: g for g in plan.groups}
    extra = raw.report_ranges(window, reports, [(funnel["id"], funnel["name"])])
    assert groups["report funnel analyses"].count == len(extra[funnel["id"]]) > 0
    connector = connect(http, site)
    connector.preflight(SITE_ID)
    path = tmp_path / "wh.duckdb"
    land_all(connector, path, window, SITE_ID, reports, AT)
    # (the nine days' timelines may take more pages, the plan says so: none does here)
    assert plan.requests == connector.stats.snapshot()["requests"] <= plan.most_requests


def test_the_plan_without_engagetrack_funnel_reports_has_no_extra_group(http, site):
    plan = plan_engagetrack(connect(http, site), SITE_ID, date(2026, 2, 15), date(2026, 2, 15),
                            reports=load_reports(CONFIG_PATH).values())
    assert "report funnel analyses" not in {g.name for g in plan.groups}


def test_the_reports_file_can_come_from_the_environment(tmp_path, monkeypatch, funnel):
    path = tmp_path / "reports.yaml"
    entries = {name: config.model_dump(exclude={"name"}, exclude_defaults=True)
               for name, config in declared(funnel["name"]).items()}
    path.write_text(yaml.safe_dump({"reports": entries}))
    monkeypatch.setenv("FUNNELHOUSE_REPORTS_FILE", str(path))
    assert load_reports() == declared(funnel["name"])
