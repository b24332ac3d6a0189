"""Cohort filters: every filter type and operator, the quirks, and/or, funnel filters."""

from __future__ import annotations

import pytest

from pipelines.reference.vemetric.filters import cohort
from pipelines.reference.vemetric.queries import analytics_rows
from tests.reference.vemetric.queries_factory import (
    SAMPLE_PERIOD,
    event,
    make_project,
    sample_project,
)

EVERYONE = {"1", "2", "3", "10"}


def users(*filters, operator="and", project=None):
    """The cohort as a set, or None when every filter was skipped."""
    selected = cohort(project or sample_project(), SAMPLE_PERIOD, list(filters), operator)
    return None if selected is None else set(selected.to_list())


def page(**conditions):
    return {"type": "page", **{k: {"operator": op, "value": v} for k, (op, v) in conditions.items()}}


def named(name, operator="eq", properties=()):
    item = {"type": "event", "name": {"operator": operator, "value": name}}
    if properties:
        item["properties"] = [{"property": p, "operator": op, "value": v} for p, op, v in properties]
    return item


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (page(path=("eq", "/")), {"1", "3", "10"}),
        (page(path=("eq", "/"), origin=("eq", "https://shop.example.com")), {"3"}),
        (page(path=("contains", "PRIC")), {"1"}),  # ILIKE: case-insensitive
        (page(path=("startsWith", "/f")), {"2"}),  # 10's /features is at the exclusive end
        (page(path=("endsWith", "ES")), {"2"}),
        (page(path=("contains", "pr_c")), {"1"}),  # _ is a one-character wildcard
        (page(path=("startsWith", "/%s")), {"2"}),  # % is a wildcard: /features
        (page(path=("notEq", "/")), {"1", "2"}),
        (page(path=("notContains", "/")), set()),
        (page(path=("eq", "/Pricing")), set()),  # eq is case-sensitive
        (page(hash=("eq", "plans")), {"1"}),  # "#" is prepended to the value
        (page(hash=("eq", "#plans")), set()),
        (page(hash=("eq", "")), EVERYONE),  # empty value: compared as is, no "#"
    ],
)
def test_page_filters(item, expected):
    assert users(item) == expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (named("signup"), {"1"}),
        (named("Signup"), set()),
        (named("SIGN", "contains"), {"1"}),
        (named("$$pageView"), set()),  # event filters only look at custom events
        (named("click", properties=[("plan", "eq", "5")]), set()),  # numbers read as ""
        (named("click", properties=[("plan", "eq", "")]), {"1", "2"}),
        (named("signup", properties=[("plan", "eq", "pro")]), {"1"}),
        (named("signup", properties=[("plan", "eq", "starter")]), set()),
        (named("signup", properties=[("plan", "any", "x")]), {"1"}),
        (named("click", "notEq"), {"1", "3"}),
        (named("click", "notContains"), {"1", "3"}),
    ],
)
def test_event_filters(item, expected):
    assert users(item) == expected


def test_event_filters_without_a_name_are_ignored_with_their_properties():
    properties = [{"property": "plan", "operator": "eq", "value": "nothing-matches"}]
    assert users({"type": "event", "properties": properties}) is None
    assert users({"type": "event", "name": {"operator": "any", "value": ""},
                  "properties": properties}) is None


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"type": "user", "anonymous": True}, {"2"}),
        ({"type": "user", "anonymous": False}, {"1", "3", "10"}),
        ({"type": "browser", "operator": "oneOf", "value": ["Chrome"]}, {"1", "10"}),
        ({"type": "browser", "operator": "noneOf", "value": ["Chrome"]}, {"2", "3"}),
        ({"type": "device", "operator": "oneOf", "value": ["mobile", "tablet"]}, {"2", "3"}),
        ({"type": "os", "operator": "oneOf", "value": ["Windows"]}, {"2", "10"}),
        ({"type": "location", "country": {"operator": "oneOf", "value": ["DE"]}}, {"2", "10"}),
        ({"type": "location", "country": {"operator": "oneOf", "value": ["DE"]},
          "city": {"operator": "oneOf", "value": ["Berlin"]}}, {"10"}),
        ({"type": "location", "city": {"operator": "noneOf", "value": [""]}}, {"1", "3", "10"}),
        ({"type": "referrer", "operator": "eq", "value": ""}, {"2"}),
        ({"type": "referrer", "operator": "contains", "value": "O"}, {"1"}),
        ({"type": "referrerUrl", "operator": "eq", "value": ""}, EVERYONE),
        ({"type": "referrerType", "operator": "oneOf", "value": ["search"]}, {"1", "3"}),
        ({"type": "utmTags", "utmSource": {"operator": "eq", "value": "google"},
          "utmMedium": {"operator": "eq", "value": "cpc"}}, {"1"}),
        ({"type": "utmTags", "utmMedium": {"operator": "startsWith", "value": "EM"}}, {"10"}),
    ],
)
def test_user_device_and_session_filters(item, expected):
    assert users(item) == expected


@pytest.mark.parametrize(
    "item",
    [
        page(path=("any", "")),
        {"type": "page"},
        {"type": "browser", "operator": "oneOf", "value": []},
        {"type": "browser", "operator": "any", "value": ["Chrome"]},
        {"type": "location", "country": {"operator": "any", "value": ["DE"]}},
        {"type": "utmTags"},
        {"type": "funnel", "id": "unknown", "step": 0, "operator": "completed"},
        {"type": "funnel", "id": "f1", "step": 2, "operator": "completed"},
    ],
)
def test_filters_without_a_condition_are_skipped(item):
    assert users(item) is None
    assert users(item, {"type": "user", "anonymous": True}) == {"2"}


def test_session_filters_read_the_session_table_not_the_events():
    events = [event("1", "2026-01-19T09:00:00Z", countryCode="US", referrer="Google", sessionId="a")]
    sessions = [{"id": "a", "userId": "1", "startedAt": "2026-01-19T09:00:00Z",
                 "endedAt": "2026-01-19T09:00:00Z", "duration": 0, "countryCode": "FR",
                 "referrer": "Bing"}]
    project = make_project(events, sessions=sessions)
    france = {"type": "location", "country": {"operator": "oneOf", "value": ["FR"]}}
    assert users(france, project=project) == {"1"}
    assert users({"type": "referrer", "operator": "eq", "value": "Google"}, project=project) == set()
    deleted = make_project(events, sessions=[sessions[0] | {"deleted": True}])
    assert users(france, project=deleted) == set()


def test_and_intersects_and_or_unions():
    chrome = {"type": "browser", "operator": "oneOf", "value": ["Chrome"]}
    us = {"type": "location", "country": {"operator": "oneOf", "value": ["US"]}}
    assert users(chrome, us) == {"1"}
    assert users(chrome, us, operator="or") == {"1", "3", "10"}


def test_funnel_filters_use_the_window_funnel_in_the_period():
    def funnel(step, operator):
        return {"type": "funnel", "id": "f1", "step": step, "operator": operator}

    assert users(funnel(0, "completed")) == {"1", "3", "10"}
    assert users(funnel(1, "completed")) == {"1"}
    assert users(funnel(1, "notCompleted")) == {"2", "3", "10"}


def test_metrics_cover_all_rows_of_the_cohort():
    chrome = [{"type": "browser", "operator": "oneOf", "value": ["Chrome"]}]
    result = analytics_rows(sample_project(), SAMPLE_PERIOD, metrics=["users", "pageviews"],
                            group_by=None, order_by=None, limit=100, offset=0, filters=chrome,
                            filters_operator="and")
    assert result == [{"group": {}, "metrics": {"users": 2, "pageviews": 3}}]
