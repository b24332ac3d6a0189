"""reports.yaml and report periods."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from pipelines.reports.config import CONFIG_PATH, ConfigError, load_reports, parse_address
from pipelines.reports.data import report_periods
from pipelines.reports.periods import Period, resolve_period

BERLIN = ZoneInfo("Europe/Berlin")
GOOD = """
reports:
  weekly:
    title: Weekly
    template: weekly
    source: vemetric
    range: last_week
    schedule: {cron: "0 7 * * 1", timezone: Europe/Berlin}
"""


def write(tmp_path, text: str):
    path = tmp_path / "reports.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_projects_reports_file_declares_the_weekly_and_funnel_reports():
    reports = load_reports(CONFIG_PATH)
    assert list(reports) == ["weekly", "signup_funnel"]
    weekly, funnel = reports["weekly"], reports["signup_funnel"]
    assert (weekly.template, weekly.range, weekly.comparison) == ("weekly", "last_week",
                                                                  "previous_period")
    assert (weekly.schedule.cron, weekly.schedule.timezone) == ("0 7 * * 1", "Europe/Berlin")
    assert [str(a) for a in weekly.addresses] == ["Product team <product@example.com>",
                                                  "Zoë Müller <marketing@example.com>"]
    assert (funnel.template, funnel.funnel) == ("funnel", "Signup")


@pytest.mark.parametrize(("change", "message"), [
    ("range: last_week", "report 'weekly': range: unknown range 'last_weak': expected one of "
                         "last_week, last_7_days, last_14_days, last_28_days, last_month"),
    ('cron: "0 7 * * 1"', "report 'weekly': schedule.cron: not a cron expression: '0 7 * *'"),
    ("timezone: Europe/Berlin", "report 'weekly': schedule.timezone: unknown timezone "
                                "'Europe/Bärlin'"),
    ("template: weekly", "report 'weekly': template: Input should be 'weekly' or 'funnel'"),
    ("title: Weekly", "report 'weekly': title: String should have at least 1 character"),
])
def test_a_wrong_setting_is_named_with_its_report_and_field(tmp_path, change, message):
    replacements = {"range: last_week": "range: last_weak", 'cron: "0 7 * * 1"': 'cron: "0 7 * *"',
                    "timezone: Europe/Berlin": "timezone: Europe/Bärlin",
                    "template: weekly": "template: monthly", "title: Weekly": 'title: ""'}
    path = write(tmp_path, GOOD.replace(change, replacements[change]))
    with pytest.raises(ConfigError) as failure:
        load_reports(path)
    assert str(failure.value) == f"{path}: {message}"


def test_other_mistakes_are_refused_clearly(tmp_path):
    cases = {
        GOOD + "    funnel: Signup\n":
            "report 'weekly': 'funnel' only applies to funnel reports, not 'weekly'",
        GOOD.replace("template: weekly", "template: funnel"):
            "report 'weekly': a funnel report needs 'funnel' (the funnel's name or id)",
        GOOD + "    recipients: ['not an address']\n":
            "report 'weekly': recipients: not an email address: 'not an address'",
        GOOD + "    colour: blue\n": "report 'weekly': colour: Extra inputs are not permitted",
        "reports: [weekly]\n": "expected a top-level mapping 'reports:' of report names",
    }
    for text, message in cases.items():
        path = write(tmp_path, text)
        with pytest.raises(ConfigError) as failure:
            load_reports(path)
        assert str(failure.value) == f"{path}: {message}"
    path = write(tmp_path, "reports: {weekly: [1\n")
    with pytest.raises(ConfigError, match=r"is not valid YAML"):
        load_reports(path)
    with pytest.raises(ConfigError, match=r"cannot read the reports file .*missing.yaml: No such"):
        load_reports(tmp_path / "missing.yaml")


def test_addresses_keep_unicode_display_names():
    address = parse_address("Zoë Müller <zoe@example.com>")
    assert (address.display_name, address.addr_spec) == ("Zoë Müller", "zoe@example.com")
    with pytest.raises(ValueError, match="not an email address: 'zoe@'"):
        parse_address("zoe@")


@pytest.mark.parametrize(("name", "as_of", "first", "last"), [
    ("last_week", date(2026, 2, 16), date(2026, 2, 9), date(2026, 2, 15)),   # a Monday
    ("last_week", date(2026, 2, 15), date(2026, 2, 2), date(2026, 2, 8)),    # a Sunday
    ("last_7_days", date(2026, 2, 18), date(2026, 2, 11), date(2026, 2, 17)),
    ("last_28_days", date(2026, 3, 1), date(2026, 2, 1), date(2026, 2, 28)),
    ("last_month", date(2026, 1, 10), date(2025, 12, 1), date(2025, 12, 31)),
])
def test_ranges_end_with_the_last_complete_day(name, as_of, first, last):
    period = resolve_period(name, datetime(as_of.year, as_of.month, as_of.day, 7, tzinfo=UTC))
    assert (period.first, period.last) == (first, last)


def test_the_previous_period_has_the_same_length_just_before():
    period = Period(date(2026, 2, 9), date(2026, 2, 15))
    assert period.previous() == Period(date(2026, 2, 2), date(2026, 2, 8))
    assert Period(date(2025, 12, 1), date(2025, 12, 31)).previous() == \
        Period(date(2025, 10, 31), date(2025, 11, 30))
    assert [p.label() for p in (period, Period(date(2026, 1, 28), date(2026, 2, 3)),
                                Period(date(2025, 12, 29), date(2026, 1, 4)),
                                Period(date(2026, 2, 9), date(2026, 2, 9)))] == \
        ["9\u201315 Feb 2026", "28 Jan \u2013 3 Feb 2026", "29 Dec 2025 \u2013 4 Jan 2026",
         "9 Feb 2026"]


def test_the_run_time_is_read_in_the_schedules_timezone():
    weekly = load_reports(CONFIG_PATH)["weekly"]
    # Sunday 23:30 UTC is already Monday 00:30 in Berlin: the week that just ended there.
    period, previous = report_periods(weekly, datetime(2026, 2, 15, 23, 30, tzinfo=UTC))
    assert period == Period(date(2026, 2, 9), date(2026, 2, 15))
    assert previous == Period(date(2026, 2, 2), date(2026, 2, 8))
    earlier, _ = report_periods(weekly, datetime(2026, 2, 15, 22, 30, tzinfo=UTC))
    assert earlier == Period(date(2026, 2, 2), date(2026, 2, 8))
    with pytest.raises(ValueError, match="as_of must carry a timezone"):
        report_periods(weekly, datetime(2026, 2, 16, 7))
