"""A report reads only its own source: a warehouse holding Vemetric and EngageTrack data gives
each source's reports the same numbers as a warehouse holding that source alone; the funnel
report states its source's counting rule, and says what its source does not give.

The mixed warehouse is the Vemetric report warehouse (2..15 Feb 2026) with the EngageTrack
tiny site (10..16 Feb 2026) landed into it and the models rebuilt: their days overlap.
"""

from __future__ import annotations

import re

import shutil
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipelines import models, warehouse
from pipelines.reference.engagetrack.app import create_app
from pipelines.reports.config import ReportConfig, Schedule
from pipelines.reports.data import FUNNEL_RULES, NOT_GIVEN, gather
from pipelines.reports.render import render
from tests.test_models_engagetrack import tiny_warehouse  # noqa: F401  (module fixture)
from tests.test_sync_engagetrack import connect, land_all
from tests.test_sync_engagetrack import tiny as tiny_dataset  # noqa: F401  (module fixture)

MONDAY = datetime(2026, 2, 16, 7, 0, tzinfo=UTC)      # last_week: 9..15 Feb
ET_AS_OF = datetime(2026, 2, 17, 6, 0, tzinfo=UTC)    # last_7_days: 10..16 Feb (tiny's range)
BERLIN = Schedule(cron="0 7 * * 1", timezone="Europe/Berlin")


def config(source: str, template: str = "weekly", **more) -> ReportConfig:
    return ReportConfig(**{"name": f"{source}_{template}", "title": "T", "template": template,
                           "source": source, "range": "last_week", "schedule": BERLIN, **more})


@pytest.fixture(scope="module")
def mixed(report_warehouse: Path, tiny_dataset, tmp_path_factory) -> Path:  # noqa: F811
    path = tmp_path_factory.mktemp("mixed") / "warehouse.duckdb"
    shutil.copyfile(report_warehouse, path)
    with TestClient(create_app(tiny_dataset)) as http:
        land_all(connect(http), path)
    models.build(path, full=True)
    return path


def reports(path: Path, cfg: ReportConfig, as_of: datetime):
    """The report from the file itself (the copies here publish no snapshot)."""
    with warehouse.writer(path) as conn:
        return gather(conn, cfg, as_of, generated_at=as_of)


def published(path: Path, cfg: ReportConfig, as_of: datetime):
    """The report from the shared report warehouse's snapshot, which no test may write to."""
    conn = warehouse.connect(path)
    try:
        return gather(conn, cfg, as_of, generated_at=as_of)
    finally:
        conn.close()


def numbers(report) -> dict[str, object]:
    """What the source filter decides: the counts, users per day, countries, top lists."""
    sections = {s.title: s.table.rows for s in report.sections}
    return {"metrics": {m.label: m.value for m in report.metrics
                        if m.label in ("Users", "Pageviews", "Events")},
            **{title: sections[title] for title in ("Users per day", "Countries", "Top pages",
                                                    "Top events")}}


def test_the_mixed_warehouse_holds_both_sources_on_the_same_days(mixed):
    with warehouse.writer(mixed) as conn:
        days = dict(conn.execute("select source, count(distinct day) from marts.events "
                                 "where day between '2026-02-10' and '2026-02-15' "
                                 "group by source").fetchall())
    assert days["vemetric"] == 6 and days["engagetrack"] > 0


def test_a_vemetric_report_counts_vemetric_only(mixed, report_warehouse):
    alone = published(report_warehouse, config("vemetric"), MONDAY)
    both = reports(mixed, config("vemetric"), MONDAY)
    assert numbers(both) == numbers(alone)


def test_an_engagetrack_report_counts_engagetrack_only(mixed, tiny_warehouse):  # noqa: F811
    cfg = config("engagetrack", range="last_7_days")
    alone = reports(tiny_warehouse, cfg, ET_AS_OF)
    both = reports(mixed, cfg, ET_AS_OF)
    assert numbers(both) == numbers(alone)
    assert sum(row[1] or 0 for row in both.sections[0].table.rows) > 0


def test_an_engagetrack_funnel_is_found_on_the_synced_site_only(
        tiny_warehouse, tmp_path):  # noqa: F811
    path = tmp_path / "two_sites.duckdb"
    shutil.copyfile(tiny_warehouse, path)
    with warehouse.writer(path) as conn:   # another site's funnel of the same name
        conn.execute("insert into raw_engagetrack.funnels select * replace "
                     "('site_zzz' as site_id, 'fun_other' as id) from raw_engagetrack.funnels "
                     "where name = 'Signup'")
    report = reports(path, config("engagetrack", "funnel", funnel="Signup",
                                  range="last_7_days"), ET_AS_OF)
    assert [s.users for s in report.steps] == [3, 2, 1]


def funnel_texts(path: Path, source: str, funnel: str,
                 as_of: datetime) -> tuple[object, str, str]:
    gathered = published if source == "vemetric" else reports
    report = gathered(path, config(source, "funnel", funnel=funnel, range="last_7_days",
                                  comparison="previous_period"), as_of)
    rendered = render(report)
    return report, rendered.html_file, rendered.text


def test_an_engagetrack_funnel_states_engagetrack_s_rule_and_no_median(
        tiny_warehouse):  # noqa: F811
    report, html, text = funnel_texts(tiny_warehouse, "engagetrack", "Signup", ET_AS_OF)
    assert report.rule == FUNNEL_RULES["engagetrack"]
    for body in (unescape(html), text):
        assert FUNNEL_RULES["engagetrack"] in body
        assert "within 7 days" not in body
    median = report.metrics[-1]
    assert median.label == "Median time to convert"
    assert (median.value, median.previous, median.change) == (
        NOT_GIVEN["engagetrack"], NOT_GIVEN["engagetrack"], None)
    row = next(line for line in text.splitlines() if line.startswith("Median time to convert"))
    assert "not given by EngageTrack's analysis" in row and "no data" not in row
    # A sentence in the figures' column wraps in small type instead of widening the table.
    cells = re.findall(r"<td ([^>]*)>not given by EngageTrack", unescape(html))
    assert len(cells) == 2
    assert all("white-space: normal" in c and "font-size: 12px" in c for c in cells)


def test_a_vemetric_funnel_keeps_its_7_day_rule_and_its_median(report_warehouse):
    conn = warehouse.connect(report_warehouse)
    funnel, = conn.execute("select name from raw_vemetric.funnels order by name limit 1").fetchone()
    conn.close()
    report, html, text = funnel_texts(report_warehouse, "vemetric", funnel, MONDAY)
    rule = "A step counts the users who reached it, in order, within 7 days of the first step."
    assert report.rule == rule
    assert f"{rule} Drop-off is the users" in html and f"\n{rule}\n" in text
    assert not isinstance(report.metrics[-1].value, str)


def test_a_vemetric_funnel_counts_vemetric_users_only(mixed, report_warehouse):
    # The tiny site's visitors go /, /pricing, then sign up: they match Vemetric's "Signup".
    cfg = config("vemetric", "funnel", funnel="Signup", range="last_7_days")
    alone = published(report_warehouse, cfg, MONDAY)
    both = reports(mixed, cfg, MONDAY)
    assert [(s.users, s.conversion_from_previous) for s in both.steps] == [
        (s.users, s.conversion_from_previous) for s in alone.steps]
    assert both.metrics == alone.metrics
