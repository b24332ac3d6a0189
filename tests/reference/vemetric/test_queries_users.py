"""list_users, resolve_user_id, single_user, user_events."""

from __future__ import annotations

import pytest

from pipelines.reference.vemetric.queries import (
    list_users,
    resolve_user_id,
    single_user,
    user_events,
)
from tests.reference.vemetric.queries_factory import SAMPLE_PERIOD, period, sample_project


def listed(order_by=("lastSeenAt", "desc"), filters=(), limit=100, offset=0, when=SAMPLE_PERIOD):
    return list_users(sample_project(), when, filters=list(filters), filters_operator="and",
                      order_by=list(order_by), limit=limit, offset=offset)


def ids(result):
    return [user["id"] for user in result]


def test_default_order_is_last_seen_descending_with_fields_from_the_latest_event():
    result = listed()
    assert ids(result) == ["10", "3", "2", "1"]
    assert result[3] == {
        "id": "1", "identifier": "user-1", "displayName": "Alice A.", "country": "US",
        "city": "New York", "lastSeenAt": "2026-01-19T09:07:00Z", "lastEventFiredAt": None,
        "avatarUrl": "https://a.example/1.png", "data": {"plan": "pro"}, "anonymous": False,
    }
    assert result[2] == {
        "id": "2", "identifier": None, "displayName": None, "country": "DE", "city": None,
        "lastSeenAt": "2026-01-19T10:02:00Z", "lastEventFiredAt": None, "avatarUrl": None,
        "data": {}, "anonymous": True,
    }
    assert result[1]["avatarUrl"] is None  # "" in the user table


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (("lastSeenAt", "asc"), ["1", "2", "3", "10"]),
        (("identifier", "asc"), ["2", "1", "3", "10"]),  # "" sorts first, bytewise
        (("identifier", "desc"), ["10", "3", "1", "2"]),
        (("country", "asc"), ["2", "10", "1", "3"]),  # ties on userId as a number: 2 < 10
        (("country", "desc"), ["1", "3", "2", "10"]),
        (("displayName", "asc"), ["2", "1", "3", "10"]),
    ],
)
def test_sorting_by_columns_breaks_ties_on_numeric_user_id(order_by, expected):
    assert ids(listed(order_by)) == expected


def test_last_event_fired_sorts_nulls_last_and_fills_the_timestamp():
    click = {"name": {"operator": "eq", "value": "click"}}
    result = listed(("lastEventFired", "desc", click))
    assert ids(result) == ["2", "1", "3", "10"]
    assert [u["lastEventFiredAt"] for u in result] == [
        "2026-01-19T10:02:00Z", "2026-01-19T09:07:00Z", None, None]
    assert ids(listed(("lastEventFired", "asc", click))) == ["1", "2", "3", "10"]


def test_last_event_fired_with_any_name_uses_any_custom_event():
    result = listed(("lastEventFired", "desc", {"name": {"operator": "any", "value": ""}}))
    assert ids(result) == ["3", "2", "1", "10"]
    assert result[0]["lastEventFiredAt"] == "2026-01-19T11:20:00Z"


def test_last_event_fired_without_name_falls_back_to_last_seen():
    result = listed(("lastEventFired", "asc", {}))
    assert ids(result) == ["1", "2", "3", "10"]
    assert all(u["lastEventFiredAt"] is None for u in result)


def test_cohort_filters_pagination_and_the_period():
    chrome = [{"type": "browser", "operator": "oneOf", "value": ["Chrome"]}]
    assert ids(listed(filters=chrome)) == ["10", "1"]
    assert ids(listed(limit=2, offset=1)) == ["3", "2"]
    next_day = period("2026-01-20T00:00:00Z", "2026-01-21T00:00:00Z")
    assert ids(listed(when=next_day)) == ["10"]


def test_resolve_user_id():
    project = sample_project()
    assert resolve_user_id(project, id="1", identifier=None) == "1"
    assert resolve_user_id(project, id="9", identifier=None) == "9"  # user record, no events
    assert resolve_user_id(project, id="2", identifier=None) == "2"  # events, no record
    assert resolve_user_id(project, id="999", identifier=None) is None
    assert resolve_user_id(project, id=None, identifier="user-9") == "9"
    assert resolve_user_id(project, id=None, identifier="user-4") is None  # only on events
    assert resolve_user_id(project, id=None, identifier="") is None


def test_single_user_prefers_the_record_and_falls_back_to_the_latest_event():
    project = sample_project()
    assert single_user(project, "1") == {
        "id": "1", "identifier": "user-1", "displayName": "Alice", "country": "US",
        "city": "New York", "lastSeenAt": "2026-01-19T09:07:00Z",
        "avatarUrl": "https://a.example/1.png", "data": {"plan": "pro"}, "anonymous": False,
    }
    assert single_user(project, "3")["displayName"] == "Charlie"
    assert single_user(project, "10")["lastSeenAt"] == "2026-01-20T00:00:00Z"  # no date range
    assert single_user(project, "9") == {
        "id": "9", "identifier": "user-9", "displayName": "Nine", "country": "FR",
        "city": "Paris", "lastSeenAt": None, "avatarUrl": None, "data": {}, "anonymous": False,
    }


def events_of(user="1", filters=(), operator="and", limit=100, offset=0, when=SAMPLE_PERIOD):
    return user_events(sample_project(), when, user, filters=list(filters),
                       filters_operator=operator, limit=limit, offset=offset)


def test_user_events_are_latest_first_with_nullable_url_parts():
    result = events_of()
    assert [e["name"] for e in result] == ["click", "signup", "$$pageView", "$$pageView"]
    assert result[0] == {
        "sessionId": "s1", "name": "click", "isPageView": False,
        "createdAt": "2026-01-19T09:07:00Z", "origin": "https://example.com",
        "path": "/pricing", "hash": None, "data": {},
    }
    assert result[1]["data"] == {"plan": "pro"}
    assert result[2]["hash"] == "#plans"
    assert [e["createdAt"] for e in events_of(limit=2, offset=1)] == [
        "2026-01-19T09:06:00Z", "2026-01-19T09:05:00Z"]


def test_user_events_filters_apply_to_rows():
    pricing = {"type": "page", "path": {"operator": "eq", "value": "/pricing"}}
    signup = {"type": "event", "name": {"operator": "eq", "value": "signup"}}
    home = {"type": "page", "path": {"operator": "eq", "value": "/"}}
    # A page filter also requires a pageview: the custom events on /pricing are left out.
    assert [e["createdAt"] for e in events_of(filters=[pricing])] == ["2026-01-19T09:05:00Z"]
    assert [e["name"] for e in events_of(filters=[signup, home], operator="or")] == [
        "signup", "$$pageView"]
    assert events_of(filters=[signup, home]) == []


def test_user_events_respect_the_period_and_unknown_users():
    assert [e["createdAt"] for e in events_of("10")] == ["2026-01-19T12:00:00Z"]
    assert events_of("404") == []
