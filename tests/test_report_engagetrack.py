"""The weekly and funnel reports for an EngageTrack site: the same templates and marts, the
site's own breakdowns and EngageTrack's own funnel analysis."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines import warehouse
from pipelines.reports.config import ReportConfig, Schedule
from pipelines.reports.data import gather
from pipelines.reports.render import render
from tests.test_models_engagetrack import tiny_warehouse  # noqa: F401  (module fixture)

AS_OF = datetime(2026, 2, 17, 6, 0, tzinfo=UTC)  # last_7_days: 2026-02-10 .. 2026-02-16


def config(template: str, **more) -> ReportConfig:
    return ReportConfig(name=f"et_{template}", title="Shop", template=template,
                        source="engagetrack", range="last_7_days", comparison="none",
                        schedule=Schedule(cron="0 7 * * 1"), **more)


@pytest.fixture(scope="module")
def conn(tiny_warehouse):  # noqa: F811
    with warehouse.writer(tiny_warehouse) as connection:
        yield connection


def test_the_weekly_report_reads_the_site(conn):
    report = gather(conn, config("weekly"), AS_OF)
    assert report.header.project == "Acme Shop \u00b7 shop.acme.test"
    assert report.header.status.synced_days[0].isoformat() == "2026-02-10"
    assert report.header.status.missing_days == ()
    assert report.header.status.quarantined_rows == 0
    stats = conn.execute("select visitors, pageviews, events, bounce_rate from "
                         "raw_engagetrack.stats where date_from = '2026-02-10' "
                         "and date_to = '2026-02-16'").fetchone()
    assert tuple(m.value for m in report.metrics[:4]) == stats
    sections = {s.title: s for s in report.sections}
    channels = conn.execute("select value, visitors, pageviews from raw_engagetrack.breakdowns "
                            "where breakdown = 'channels' order by visitors desc, pageviews desc, "
                            "value").fetchall()
    assert list(sections["Channels"].table.rows) == channels
    assert sections["Channels"].note == "EngageTrack's own breakdown of the synced days."
    text = render(report).text
    assert "Acme Shop" in text and channels[0][0] in text


def test_the_funnel_report_is_engagetrack_s_own_analysis(conn):
    report = gather(conn, config("funnel", funnel="Signup"), AS_OF)
    assert [(s.name, s.users, s.conversion_from_previous) for s in report.steps] == [
        ("Home", 3, 100.0), ("Pricing", 2, 66.67), ("Signed up", 1, 50.0)]
    assert report.metrics[0].value == 33.33


def test_a_funnel_for_a_period_never_synced_as_one_range_is_unknown(conn):
    later = datetime(2026, 2, 18, 6, 0, tzinfo=UTC)  # 02-11 .. 02-17: no such synced range
    report = gather(conn, config("funnel", funnel="fun_signup"), later)
    assert [s.users for s in report.steps] == [None, None, None]
