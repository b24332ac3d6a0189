"""funnel_results: ClickHouse windowFunnel semantics, counts, rates, names, cohort filters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipelines.reference.vemetric.queries import funnel_results
from tests.reference.vemetric.queries_factory import (
    SAMPLE_FUNNEL,
    SAMPLE_PERIOD,
    at,
    event,
    event_step,
    make_project,
    page_step,
    period,
    sample_project,
)

WIDE = period("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z")
T0 = at("2026-01-05T00:00:00Z")
ABC = [page_step("a", "/a"), page_step("b", "/b"), page_step("c", "/c")]


def moment(hours: float = 0, seconds: float = 0) -> str:
    return (T0 + timedelta(hours=hours, seconds=seconds)).isoformat().replace("+00:00", "Z")


def visits(*steps):
    """One user's pageviews: (path, hours after T0[, extra seconds])."""
    return [event("1", moment(*when), pathname=path) for path, *when in steps]


def reached(events, steps=ABC, when=WIDE):
    funnel = {"id": "f", "name": "F", "steps": steps}
    result = funnel_results(make_project(events), when, funnel, filters=[], filters_operator="and")
    return [step["users"] for step in result["steps"]]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (visits(("/a", 0), ("/b", 1), ("/c", 2)), [1, 1, 1]),
        (visits(("/b", 0), ("/a", 1), ("/c", 2)), [1, 0, 0]),  # order matters
        (visits(("/a", 0), ("/x", 1), ("/b", 2)), [1, 1, 0]),  # other events in between
        (visits(("/a", 0), ("/b", 1), ("/c", 168)), [1, 1, 1]),  # window edge is included
        (visits(("/a", 0), ("/b", 1), ("/c", 168, 1)), [1, 1, 0]),  # one second past it
        (visits(("/a", 100), ("/b", 0), ("/c", 101)), [1, 0, 0]),
        # A later first step restarts the chain: /c is within 168 h of the second /a.
        (visits(("/a", 0), ("/a", 100), ("/b", 200), ("/c", 201)), [1, 1, 1]),
        # Level 2 keeps its own chain start: the second /a has no /b after it, so /c (170 h
        # after the first /a) does not fit even though it is 70 h after the second /a.
        (visits(("/a", 0), ("/b", 1), ("/a", 100), ("/c", 170)), [1, 1, 0]),
        # ...but once /b follows the second /a, level 2 takes that chain's start.
        (visits(("/a", 0), ("/b", 1), ("/a", 100), ("/b", 101), ("/c", 170)), [1, 1, 1]),
        # Equal seconds: entries sort by (second, step), whatever the row order.
        (visits(("/b", 0), ("/a", 0), ("/c", 0)), [1, 1, 1]),
    ],
)
def test_window_funnel_levels(events, expected):
    assert reached(events) == expected


def test_second_precision_decides_the_window():
    # 168 h and 99 ms apart, but 604800 whole seconds apart: within the window.
    events = [event("1", "2026-01-05T00:00:00.900Z", pathname="/a"),
              event("1", "2026-01-12T00:00:00.999Z", pathname="/b")]
    assert reached(events, ABC[:2]) == [1, 1]


def test_one_event_can_fill_repeated_steps():
    # ClickHouse adds an entry per matching condition, so one pageview matches both steps.
    assert reached(visits(("/a", 0)), [page_step("x", "/a"), page_step("y", "/a")]) == [1, 1]
    assert reached(visits(("/a", 0)), [page_step("any"), page_step("x", "/a")]) == [1, 1]


def test_event_steps_match_names_and_properties_across_sessions():
    events = [
        event("1", moment(0), pathname="/a", sessionId="one"),
        event("1", moment(30), "signup", customData={"plan": "pro"}, sessionId="two"),
        event("2", moment(0), pathname="/a"),
        event("2", moment(1), "signup", customData={"plan": "free"}),
    ]
    pro = event_step("s", "signup", properties=[{"property": "plan", "operator": "eq", "value": "pro"}])
    assert reached(events, [ABC[0], pro]) == [2, 1]
    # Without a name, any custom event matches and the properties are ignored.
    anything = event_step("s", None, properties=pro["filter"]["properties"])
    assert reached(events, [ABC[0], anything]) == [2, 2]


def test_only_events_in_the_period_count():
    events = visits(("/a", 0), ("/b", 24))
    assert reached(events, ABC[:2], period(moment(1), None)) == [0, 0]
    assert reached(events, ABC[:2], period(moment(0), moment(24))) == [1, 0]


def test_counts_and_rates_round_to_two_decimals():
    events = []
    for user in range(46):
        if user < 24:
            events.append(event(str(user), moment(0), pathname="/a"))
            if user < 9:
                events.append(event(str(user), moment(1), pathname="/b"))
        else:
            events.append(event(str(user), moment(0), pathname="/other"))
    funnel = {"id": "f", "name": "F", "steps": [page_step("a", "/a", "Landing"), page_step("b", "/b")]}
    result = funnel_results(make_project(events), WIDE, funnel, filters=[], filters_operator="and")
    assert result == {
        "activeUsers": 46,
        "steps": [
            {"id": "a", "name": "Landing", "users": 24, "conversionRate": 100},
            {"id": "b", "name": "Step 2", "users": 9, "conversionRate": 37.5},
        ],
        "conversionRate": 37.5,
        "activeUserConversionRate": 19.57,  # 9 / 46 = 19.565…
    }


def test_empty_results_have_zero_rates():
    funnel = {"id": "f", "name": "F", "steps": ABC[:2]}
    result = funnel_results(make_project(visits(("/x", 0))), WIDE, funnel, filters=[],
                            filters_operator="and")
    assert result == {
        "activeUsers": 1,
        "steps": [{"id": "a", "name": "Step 1", "users": 0, "conversionRate": 0},
                  {"id": "b", "name": "Step 2", "users": 0, "conversionRate": 0}],
        "conversionRate": 0,
        "activeUserConversionRate": 0,
    }
    no_steps = funnel_results(make_project([]), WIDE, {"id": "f", "steps": []}, filters=[],
                              filters_operator="and")
    assert no_steps == {"activeUsers": 0, "steps": [], "conversionRate": 0,
                        "activeUserConversionRate": 0}


def test_cohort_filters_narrow_steps_and_active_users():
    project = sample_project()
    plain = funnel_results(project, SAMPLE_PERIOD, SAMPLE_FUNNEL, filters=[], filters_operator="and")
    assert plain == {
        "activeUsers": 4,
        "steps": [{"id": "home", "name": "Step 1", "users": 3, "conversionRate": 100},
                  {"id": "signed", "name": "Signed up", "users": 1, "conversionRate": 33.33}],
        "conversionRate": 33.33,
        "activeUserConversionRate": 25,
    }
    us = [{"type": "location", "country": {"operator": "oneOf", "value": ["US"]}}]
    narrowed = funnel_results(project, SAMPLE_PERIOD, SAMPLE_FUNNEL, filters=us,
                              filters_operator="and")
    assert narrowed["activeUsers"] == 2
    assert [s["users"] for s in narrowed["steps"]] == [2, 1]
    assert (narrowed["conversionRate"], narrowed["activeUserConversionRate"]) == (50, 50)
