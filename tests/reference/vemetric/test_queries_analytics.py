"""analytics_rows: metrics x groupings, applicability, labels, buckets, merging, ordering."""

from __future__ import annotations

import pytest

from pipelines.reference.vemetric.queries import analytics_rows
from tests.reference.vemetric.queries_factory import (
    SAMPLE_PERIOD,
    event,
    make_project,
    period,
    sample_project,
)

ALL = ["users", "pageviews", "events", "bounceRate", "visitDuration"]


def rows(project=None, group_by=None, metrics=ALL, order_by=None, limit=100, offset=0,
         filters=(), operator="and", when=SAMPLE_PERIOD):
    return analytics_rows(
        project or sample_project(), when, metrics=list(metrics), group_by=group_by,
        order_by=order_by, limit=limit, offset=offset, filters=list(filters),
        filters_operator=operator,
    )


def table(result, metric):
    return {next(iter(r["group"].values())): r["metrics"][metric] for r in result}


def test_aggregate_counts_every_metric_over_the_period():
    # 4 users; 5 pageviews (the one at 2026-01-20T00:00:00Z is at the exclusive end);
    # bounce: sessions s2, s3, s4 have one pageview, s1 two -> 3/4; duration (420+120+1200)/3.
    assert rows() == [{"group": {}, "metrics": {
        "users": 4, "pageviews": 5, "events": 4, "bounceRate": 75, "visitDuration": 580}}]


def test_aggregate_without_data_is_one_row_of_zeros_whatever_limit_and_offset():
    empty = period("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z")
    assert rows(when=empty, metrics=["users", "events"], limit=5, offset=3) == [
        {"group": {}, "metrics": {"users": 0, "events": 0}}
    ]


def test_country_grouping_reads_event_columns_and_session_columns_for_duration():
    result = rows(group_by="country")
    assert result == [
        {"group": {"country": "DE"}, "metrics": {
            "users": 2, "pageviews": 2, "events": 1, "bounceRate": 100, "visitDuration": 120}},
        {"group": {"country": "US"}, "metrics": {
            "users": 2, "pageviews": 3, "events": 3, "bounceRate": 50, "visitDuration": 810}},
    ]


def test_groups_found_by_one_metric_only_get_zero_for_the_others():
    events = [event("1", "2026-01-19T09:00:00Z", countryCode="US", sessionId="a")]
    sessions = [{"id": "a", "userId": "1", "startedAt": "2026-01-19T09:00:00Z",
                 "endedAt": "2026-01-19T09:01:40Z", "duration": 100, "countryCode": "FR"}]
    project = make_project(events, sessions=sessions)
    assert rows(project, "country", ["users", "visitDuration"]) == [
        {"group": {"country": "FR"}, "metrics": {"users": 0, "visitDuration": 100}},
        {"group": {"country": "US"}, "metrics": {"users": 1, "visitDuration": 0}},
    ]


def test_empty_values_get_labels_after_trimming_and_nul_removal():
    assert table(rows(group_by="city"), "users") == {
        "Berlin": 1, "New York": 1, "San Francisco": 1, "Unknown": 1}
    assert table(rows(group_by="referrer"), "users") == {
        "Bing": 1, "Direct / None": 1, "Google": 1, "Newsletter": 1}
    project = make_project([
        event("1", "2026-01-19T09:00:00Z", deviceType=" \0", referrerType="", utmSource="\0"),
    ])
    assert table(rows(project, "deviceType", ["users"]), "users") == {"unknown": 1}
    assert table(rows(project, "referrerType", ["users"]), "users") == {"unknown": 1}
    assert table(rows(project, "utmSource", ["users"]), "users") == {"Unknown": 1}


def test_browser_grouping_has_no_visit_duration():
    assert rows(group_by="browser") == [
        {"group": {"browser": "Chrome"}, "metrics": {
            "users": 2, "pageviews": 3, "events": 2, "bounceRate": 50, "visitDuration": None}},
        {"group": {"browser": "Firefox"}, "metrics": {
            "users": 1, "pageviews": 1, "events": 1, "bounceRate": 100, "visitDuration": None}},
        {"group": {"browser": "Safari"}, "metrics": {
            "users": 1, "pageviews": 1, "events": 1, "bounceRate": 100, "visitDuration": None}},
    ]


def test_page_path_counts_only_pageviews_and_has_no_rates():
    assert rows(group_by="page:path") == [
        {"group": {"page:path": path}, "metrics": {
            "users": users, "pageviews": views, "events": 0, "bounceRate": None,
            "visitDuration": None}}
        for path, users, views in [("/", 3, 3), ("/features", 1, 1), ("/pricing", 1, 1)]
    ]


def test_event_name_counts_only_custom_events():
    assert rows(group_by="event:name", metrics=["users", "pageviews", "events", "bounceRate"]) == [
        {"group": {"event:name": name}, "metrics": {
            "users": users, "pageviews": 0, "events": count, "bounceRate": None}}
        for name, users, count in [("click", 2, 2), ("purchase", 1, 1), ("signup", 1, 1)]
    ]


def test_event_property_groups_only_string_values():
    # click {"plan": 5} is a number: JSONExtractString reads "" and the row is left out.
    assert rows(group_by="event:prop:plan", metrics=["users", "events", "visitDuration"]) == [
        {"group": {"event:prop:plan": "pro"}, "metrics": {"users": 1, "events": 1, "visitDuration": None}},
        {"group": {"event:prop:plan": "starter"}, "metrics": {"users": 1, "events": 1, "visitDuration": None}},
    ]


def test_hourly_interval_buckets_are_sparse_and_use_started_at_for_duration():
    result = rows(group_by="interval:auto", metrics=["users", "events", "bounceRate", "visitDuration"])
    assert result == [
        {"group": {"date": "2026-01-19T09:00:00Z"}, "metrics": {
            "users": 1, "events": 2, "bounceRate": 0, "visitDuration": 420}},
        {"group": {"date": "2026-01-19T10:00:00Z"}, "metrics": {
            "users": 1, "events": 1, "bounceRate": 100, "visitDuration": 120}},
        {"group": {"date": "2026-01-19T11:00:00Z"}, "metrics": {
            "users": 1, "events": 1, "bounceRate": 100, "visitDuration": 1200}},
        {"group": {"date": "2026-01-19T12:00:00Z"}, "metrics": {
            "users": 1, "events": 0, "bounceRate": 100, "visitDuration": 0}},
    ]


@pytest.mark.parametrize(
    ("interval", "moments", "buckets"),
    [
        # 2026-01-17 is a Saturday, 2026-01-18 a Sunday: weeks start on Sunday.
        ("weekly", ["2026-01-17T23:59:59Z", "2026-01-18T00:00:00Z", "2026-01-24T12:00:00Z",
                    "2026-01-25T00:00:00Z"],
         {"2026-01-11T00:00:00Z": 1, "2026-01-18T00:00:00Z": 2, "2026-01-25T00:00:00Z": 1}),
        ("monthly", ["2026-01-31T23:59:59Z", "2026-02-01T00:00:00Z"],
         {"2026-01-01T00:00:00Z": 1, "2026-02-01T00:00:00Z": 1}),
        ("daily", ["2026-01-17T23:59:59Z", "2026-01-18T00:00:00Z"],
         {"2026-01-17T00:00:00Z": 1, "2026-01-18T00:00:00Z": 1}),
        ("ten_minutes", ["2026-01-17T09:19:59Z", "2026-01-17T09:20:00Z"],
         {"2026-01-17T09:10:00Z": 1, "2026-01-17T09:20:00Z": 1}),
        ("thirty_seconds", ["2026-01-17T09:00:29.999Z", "2026-01-17T09:00:30Z"],
         {"2026-01-17T09:00:00Z": 1, "2026-01-17T09:00:30Z": 1}),
    ],
)
def test_interval_buckets(interval, moments, buckets):
    project = make_project([event(str(i), m) for i, m in enumerate(moments)])
    when = period("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z", interval)
    result = rows(project, "interval:auto", ["pageviews"], when=when)
    assert [r["group"]["date"] for r in result] == sorted(buckets)
    assert table(result, "pageviews") == buckets


def test_row_level_page_filter_example_from_the_spec():
    # Users who visited /features: only visitor 2; its click happened on /features too, but
    # the event count is of the cohort's events, not of events on /features.
    features = [{"type": "page", "path": {"operator": "eq", "value": "/features"}}]
    assert rows(group_by="event:name", metrics=["events"], filters=features) == [
        {"group": {"event:name": "click"}, "metrics": {"events": 1}}]
    home = [{"type": "page", "path": {"operator": "eq", "value": "/"}}]
    # events: page filters are not row-level for this metric -> all custom events of 1, 3, 10.
    # pageviews: row-level -> only the "/" pageviews of the cohort.
    assert rows(metrics=["users", "events", "pageviews"], filters=home)[0]["metrics"] == {
        "users": 3, "events": 3, "pageviews": 3}


def test_row_level_event_filter_applies_to_events_metric_and_event_groups():
    signup = [{"type": "event", "name": {"operator": "eq", "value": "signup"}}]
    assert rows(metrics=["users", "pageviews", "events"], filters=signup)[0]["metrics"] == {
        "users": 1, "pageviews": 2, "events": 1}
    assert rows(group_by="event:name", metrics=["users"], filters=signup) == [
        {"group": {"event:name": "signup"}, "metrics": {"users": 1}}]


def test_row_level_positive_and_negative_filters_keep_vemetrics_sql_precedence():
    filters = [
        {"type": "event", "name": {"operator": "eq", "value": "signup"}},
        {"type": "event", "name": {"operator": "eq", "value": "click"}},
        {"type": "event", "name": {"operator": "notContains", "value": "sign"}},
    ]
    # and: cohort {1}; rows: signup OR (click AND NOT ILIKE '%sign%') -> signup and click.
    assert rows(metrics=["events"], filters=filters)[0]["metrics"] == {"events": 2}
    # or: cohort {1, 2, 3}; rows: signup OR click OR NOT ILIKE '%sign%' -> 4 events.
    assert rows(metrics=["events"], filters=filters, operator="or")[0]["metrics"] == {"events": 4}


def test_bounce_rate_and_duration_ignore_row_level_filters():
    pricing = [{"type": "page", "path": {"operator": "eq", "value": "/pricing"}}]
    assert rows(metrics=["pageviews", "bounceRate", "visitDuration"], filters=pricing)[0] == {
        "group": {}, "metrics": {"pageviews": 1, "bounceRate": 0, "visitDuration": 420}}


def test_rates_round_like_javascript_to_fixed_two_decimals():
    events, sessions = [], []
    for i, duration in enumerate([100] * 7 + [101]):  # mean 100.125 -> toFixed(2) "100.13"
        events.append(event(str(i), "2026-01-19T09:00:00Z", sessionId=f"s{i}"))
        sessions.append({"id": f"s{i}", "userId": str(i), "startedAt": "2026-01-19T09:00:00Z",
                         "endedAt": "2026-01-19T09:10:00Z", "duration": duration})
    events.append(event("0", "2026-01-19T09:01:00Z", sessionId="s0"))
    events.append(event("1", "2026-01-19T09:01:00Z", sessionId="s1"))
    project = make_project(events, sessions=sessions)
    # 6 of 8 sessions have one pageview -> 75; then 6/9 with another session below.
    assert rows(project, metrics=["bounceRate", "visitDuration"])[0]["metrics"] == {
        "bounceRate": 75, "visitDuration": 100.13}
    events.append(event("9", "2026-01-19T09:00:00Z", sessionId="s9"))
    assert rows(make_project(events, sessions=sessions), metrics=["bounceRate"])[0]["metrics"] == {
        "bounceRate": 77.78}


def test_order_by_metric_is_numeric_and_stable():
    result = rows(group_by="page:path", metrics=["pageviews"], order_by=("pageviews", "desc"))
    assert [r["group"]["page:path"] for r in result] == ["/", "/features", "/pricing"]
    result = rows(group_by="page:path", metrics=["pageviews"], order_by=("pageviews", "asc"))
    assert [r["group"]["page:path"] for r in result] == ["/features", "/pricing", "/"]


def test_order_by_group_uses_locale_compare_on_labels():
    result = rows(group_by="city", metrics=["users"], order_by=("city", "desc"))
    assert [r["group"]["city"] for r in result] == ["Unknown", "San Francisco", "New York", "Berlin"]
    project = make_project([
        event(str(i), "2026-01-19T09:00:00Z", name, isPageView=False)
        for i, name in enumerate(["cherry", "Banana", "apple", "_under", "10x"])
    ])
    result = rows(project, "event:name", ["events"], order_by=("event:name", "asc"))
    assert [r["group"]["event:name"] for r in result] == ["_under", "10x", "apple", "Banana", "cherry"]


def test_order_by_date_and_pagination_slice_after_sorting():
    result = rows(group_by="interval:auto", metrics=["users"], order_by=("date", "desc"),
                  limit=2, offset=1)
    assert [r["group"]["date"] for r in result] == ["2026-01-19T11:00:00Z", "2026-01-19T10:00:00Z"]
    assert rows(group_by="city", metrics=["users"], limit=2, offset=3) == [
        {"group": {"city": "Unknown"}, "metrics": {"users": 1}}]
