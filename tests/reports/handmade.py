"""Reports built by hand, without a warehouse: for rendering, MIME and delivery tests.

The strings are what a hostile visitor could send as event names, paths and properties.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from pipelines.reports.charts import bar_chart, compared_bar_chart
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
from pipelines.reports.data import FUNNEL_RULES
from pipelines.reports.periods import Period

SCRIPT_PATH = "/<script>alert('path')</script>"
IMG_EVENT = '<img src=x onerror="alert(1)">signup'
PROPERTY = 'plan"><b>pro</b>&amp;'
PERIOD = Period(date(2026, 2, 9), date(2026, 2, 15))
GENERATED = datetime(2026, 2, 16, 6, 0, tzinfo=UTC)


def status(period: Period, missing: tuple[date, ...] = (), quarantined: int = 0) -> DataStatus:
    synced = tuple(d for d in period.dates() if d not in missing)
    return DataStatus(period, synced, missing, quarantined,
                      datetime(2026, 2, 16, 2, 15, tzinfo=UTC))


def header(name: str, title: str, *, missing: tuple[date, ...] = (),
           compared: bool = True) -> ReportHeader:
    previous = PERIOD.previous() if compared else None
    return ReportHeader(
        name=name, title=title, project="Acme <Shop> & Co", period=PERIOD, previous=previous,
        generated_at=GENERATED, status=status(PERIOD, missing),
        previous_status=status(previous) if previous else None,
    )


def weekly_report(*, missing: tuple[date, ...] = (),
                  title: str = "Weekly overview") -> WeeklyReport:
    days = pl.DataFrame({"day": [d.strftime("%a") for d in PERIOD.dates()],
                         "users": [120, 135, 150, 142, 128, 60, 55],
                         "previous": [110, 120, 160, 130, 125, 70, 50]})
    pages = pl.DataFrame({"page": ["/", SCRIPT_PATH, "/pricing"], "pageviews": [900, 450, 300],
                          "users": [400, 200, 150]})
    events = pl.DataFrame({"event": [IMG_EVENT, "purchase"], "events": [80, 12], "users": [70, 11]})
    return WeeklyReport(
        header=header("weekly", title, missing=missing),
        metrics=(
            Metric("Users", "count", 790, 745),
            Metric("Pageviews", "count", 2_650, 2_800),
            Metric("Events", "count", 92, 92),
            Metric("Bounce rate", "percent", 41.2, 45.0, lower_is_better=True),
            Metric("Visit duration", "seconds", 125.0, 118.0),
        ),
        sections=(
            Section("Users per day",
                    Table((Column("Day"), Column("Users", "count"), Column("Previous", "count")),
                          tuple(days.iter_rows())),
                    compared_bar_chart("users_per_day", "Users per day", days, "day", "users",
                                       "previous", value_title="Users")),
            Section("Top pages",
                    Table((Column("Page"), Column("Pageviews", "count"), Column("Users", "count")),
                          tuple(pages.iter_rows())),
                    bar_chart("top_pages", "Top pages", pages, "page", "pageviews",
                              horizontal=True, value_title="Pageviews")),
            Section("Top events",
                    Table((Column("Event"), Column("Events", "count"), Column("Users", "count")),
                          tuple(events.iter_rows()))),
            Section("Event properties",
                    Table((Column("Property value"), Column("Events", "count")),
                          ((PROPERTY, 7),)),
                    note=f"Grouped by {PROPERTY}"),
        ),
    )


def funnel_report() -> FunnelReport:
    steps = (
        FunnelStep(1, "Landing " + SCRIPT_PATH, 400, 100.0, 100.0, None, 380),
        FunnelStep(2, "Pricing", 120, 30.0, 30.0, 280, 110),
        FunnelStep(3, IMG_EVENT, 30, 25.0, 7.5, 90, 33),
    )
    frame = pl.DataFrame({"step": [s.name for s in steps], "users": [s.users for s in steps],
                          "previous": [s.previous_users for s in steps]})
    return FunnelReport(
        header=header("signup_funnel", "Signup funnel"),
        funnel="Signup <Funnel>",
        metrics=(Metric("Conversion", "percent", 7.5, 8.68),
                 Metric("Converted users", "count", 30, 33),
                 Metric("Median time to convert", "seconds", 5_400, 7_200,
                        lower_is_better=True)),
        steps=steps,
        chart=compared_bar_chart("funnel_steps", "Users per step", frame, "step", "users",
                                 "previous", value_title="Users"),
        rule=FUNNEL_RULES["vemetric"],
    )
