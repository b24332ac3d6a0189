"""Rendering: autoescaped templates (hostile strings stay text), formats, text alternative."""

from __future__ import annotations

from datetime import date
from html.parser import HTMLParser

import jinja2
import pytest

from pipelines.reports.content import Metric
from pipelines.reports.render import environment, format_change, format_value, render
from tests.reports.handmade import IMG_EVENT, PROPERTY, SCRIPT_PATH, funnel_report, weekly_report

# Every element the templates write; anything else would have come from the data.
LAYOUT_TAGS = {"html", "head", "meta", "title", "style", "body", "table", "tbody", "tr", "td",
               "th", "h1", "h2", "p", "img"}


class Page(HTMLParser):
    """Collects tags, attributes and text as a browser's parser sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def rendered():
    return {"weekly": render(weekly_report()), "funnel": render(funnel_report())}


@pytest.mark.parametrize("kind", ["weekly", "funnel"])
@pytest.mark.parametrize("form", ["html_email", "html_file"])
def test_hostile_names_paths_and_properties_are_shown_as_text(rendered, kind, form):
    page = Page(getattr(rendered[kind], form))

    assert {tag for tag, _ in page.tags} <= LAYOUT_TAGS
    assert not [(tag, name) for tag, attrs in page.tags for name in attrs
                if name.startswith("on")]
    text = "".join(page.text)
    assert SCRIPT_PATH in text and IMG_EVENT in text
    if kind == "weekly":
        assert PROPERTY in text
    # The charts' text alternatives carry the same strings, as attribute values.
    alts = [attrs["alt"] for tag, attrs in page.tags if tag == "img"]
    assert any(SCRIPT_PATH in alt for alt in alts)


@pytest.mark.parametrize("kind", ["weekly", "funnel"])
def test_images_are_cid_in_the_email_and_embedded_in_the_file(rendered, kind):
    report = rendered[kind]
    email_srcs = [a["src"] for t, a in Page(report.html_email).tags if t == "img"]
    file_srcs = [a["src"] for t, a in Page(report.html_file).tags if t == "img"]

    assert email_srcs == [f"cid:{cid}" for cid in report.images]
    assert len(file_srcs) == len(report.images) > 0
    assert all(src.startswith("data:image/png;base64,") for src in file_srcs)


def test_css_is_inlined_for_mail_clients(rendered):
    html = rendered["weekly"].html_email
    assert '<h1 style="margin: 4px 0 4px 0;font-size: 24px;color: #14202c;">' in html
    assert 'class="page" role="presentation" border="0" width="600"' in html


def test_the_text_alternative_has_the_numbers_and_the_strings_as_they_are(rendered):
    text = rendered["weekly"].text
    assert text.startswith(
        "Weekly overview \u2014 9\u201315 Feb 2026\n" + "=" * 31 + "\n"
        "Acme <Shop> & Co: 9\u201315 Feb 2026, compared with 2\u20138 Feb 2026\n")
    assert ("Users                   790       745   +6.0%\n"
            "Pageviews             2,650     2,800   \u22125.4%\n") in text
    assert f"{SCRIPT_PATH}        450    200" in text
    assert "&lt;" not in text and "&amp;amp;" not in text


def test_the_funnel_steps_table_marks_the_first_drop_off_not_applicable(rendered):
    text = rendered["funnel"].text
    assert (f"1. Landing {SCRIPT_PATH}    400         100.0%      100.0%         \u2013       "
            "380   +5.3%") in text
    assert ("2. Pricing                                    120          30.0%       30.0%"
            "       280") in text


def test_missing_days_and_unknown_numbers_are_said_plainly():
    report = weekly_report(missing=(date(2026, 2, 14),))
    text = render(report).text
    assert ("! Not synced: 1 of 7 days of this period (Sat 14 Feb); the numbers below cover the "
            "other days only.") in text
    html = render(report).html_file
    assert "Not synced: 1 of 7 days of this period (Sat 14 Feb)" in "".join(Page(html).text)


def test_a_template_variable_that_is_missing_is_an_error():
    template = environment().get_template("weekly.html.j2")
    with pytest.raises(jinja2.UndefinedError, match="'image_src' is undefined"):
        template.render(report=weekly_report(), subject="s")


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (1234567, "count", "1,234,567"), (41.25, "percent", "41.2%"), (0, "percent", "0.0%"),
    (59.6, "seconds", "1m 00s"), (42, "seconds", "42s"), (3725, "seconds", "1h 02m"),
    (90061, "seconds", "1d 01h"), (None, "count", "no data"), (None, "change", "\u2013"),
    (-4.04, "change", "\u22124.0%"), ("\u2013", "count", "\u2013"), ("<b>", "text", "<b>"),
])
def test_values_are_formatted_by_unit(value, unit, shown):
    assert format_value(value, unit) == shown


def test_changes_read_as_good_or_bad_news():
    assert format_change(12.34) == "+12.3%"
    assert format_change(None) == "\u2013"
    assert Metric("Users", "count", 110, 100).trend == "good"
    assert Metric("Bounce rate", "percent", 50, 40, lower_is_better=True).trend == "bad"
    assert Metric("Users", "count", 1001, 1000).trend == "flat"
    assert Metric("Users", "count", 5, 0).trend == "none"
    assert Metric("Users", "count", None, 10).change is None
