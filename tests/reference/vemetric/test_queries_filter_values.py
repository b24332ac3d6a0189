"""filter_values: sources, end-bound quirk, sorting (localeCompare, event display names,
country names), per-field pagination."""

from __future__ import annotations

from pipelines.reference.vemetric.queries import filter_values
from tests.reference.vemetric.queries_factory import (
    SAMPLE_PERIOD,
    event,
    make_project,
    period,
    sample_project,
)


def values(project, field, when=SAMPLE_PERIOD, limit=100, offset=0):
    [entry] = filter_values(project, when, fields=[field], limit=limit, offset=offset)
    assert entry["pagination"] == {"limit": limit, "offset": offset, "returned": len(entry["values"])}
    return entry["values"]


def test_sample_values_come_from_sessions_and_pageviews():
    project = sample_project()
    assert values(project, "referrer") == ["Bing", "Google", "Newsletter"]  # "" dropped
    assert values(project, "country") == ["DE", "US"]
    assert values(project, "city") == ["Berlin", "New York", "San Francisco"]
    assert values(project, "event:name") == ["click", "purchase", "signup"]
    assert values(project, "browser") == ["Chrome", "Firefox", "Safari"]


def test_page_fields_ignore_the_end_of_the_range_but_event_names_do_not():
    project = make_project([
        event("1", "2026-01-18T23:59:59Z", pathname="/before"),
        event("1", "2026-01-19T10:00:00Z", pathname="/during"),
        event("1", "2026-01-19T10:00:01Z", "early", isPageView=False),
        event("1", "2026-01-21T10:00:00Z", pathname="/after"),
        event("1", "2026-01-21T10:00:01Z", "late", isPageView=False),
    ])
    assert values(project, "page:path") == ["/after", "/during"]
    assert values(project, "event:name") == ["early"]


def test_event_names_sort_by_display_name_and_come_back_raw():
    project = make_project([
        event(str(i), "2026-01-19T10:00:00Z", name, isPageView=False)
        for i, name in enumerate(["zeta", "$$outboundLink", "alpha", "Beta"])
    ])
    assert values(project, "event:name") == ["alpha", "Beta", "$$outboundLink", "zeta"]


def test_countries_keep_known_codes_sorted_by_english_name():
    sessions = [
        {"id": f"s{i}", "userId": str(i), "startedAt": "2026-01-19T10:00:00Z",
         "endedAt": "2026-01-19T10:00:00Z", "duration": 0, "countryCode": code}
        for i, code in enumerate(["US", "DE", "CH", "XX", "", "GB"])
    ]
    sessions.append(sessions[0] | {"id": "gone", "countryCode": "FR", "deleted": True})
    sessions.append(sessions[0] | {"id": "old", "countryCode": "AT",
                                   "startedAt": "2026-01-18T10:00:00Z"})
    project = make_project([], sessions=sessions)
    # Germany < Switzerland < United Kingdom < United States (by code it would be CH first).
    assert values(project, "country") == ["DE", "CH", "GB", "US"]


def test_limit_and_offset_apply_to_each_field():
    result = filter_values(sample_project(), SAMPLE_PERIOD, fields=["city", "referrer"],
                           limit=2, offset=1)
    assert result == [
        {"field": "city", "pagination": {"limit": 2, "offset": 1, "returned": 2},
         "values": ["New York", "San Francisco"]},
        {"field": "referrer", "pagination": {"limit": 2, "offset": 1, "returned": 2},
         "values": ["Google", "Newsletter"]},
    ]


def test_values_sort_case_insensitively():
    project = make_project([
        event(str(i), "2026-01-19T10:00:00Z", clientName=name)
        for i, name in enumerate(["opera", "Edge", "chrome", "Brave"])
    ])
    assert values(project, "browser", period("2026-01-19T00:00:00Z")) == [
        "Brave", "chrome", "Edge", "opera"]
