"""Exact JSON per endpoint against tiny.json; every expected value is worked out by hand.

The paid project's traffic from 2026-01-19 on (the `30days` window at now = 2026-02-17T23:59:59Z):

    s1 Alice (1)    01-19 09:00 / · 09:02 /features · 09:05 /pricing · 09:06 /signup · 09:07:30 signup(pro) · 09:10 purchase
    s2 Bruno (2)    01-20 14:00 / · 14:03 /pricing · 14:04 click
    s3 Bravo (3)    01-25 18:30 /features#faq · 18:31 /signup · 18:32:15 signup(starter)
    s4 Dora (4)     02-10 08:00 /pricing
    s5 anonymous    02-16 12:00 / · 12:00:40 click · 12:01:10 /features
    s6 Alice (1)    02-17 10:00 blog / · 10:20 $$outboundLink

Before the window: s0 Bruno on 01-05 (/ and /features).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.reference.vemetric.surface import (
    AUTH,
    FREE_AUTH,
    FREE_FUNNEL,
    PURCHASE_FUNNEL,
    SIGNUP_FUNNEL,
    client,
    error,
)

PERIOD_30DAYS = {"from": "2026-01-19T00:00:00Z", "to": "2026-02-17T23:59:59Z"}
PLAN = (403, "PLAN_LIMIT_EXCEEDED", "Upgrade to the Professional plan for longer data retention")

SIGNUP_FUNNEL_JSON = {
    "id": SIGNUP_FUNNEL,
    "name": "Signup Funnel",
    "icon": "rocket",
    "steps": [
        {"id": "step_1", "name": "Step 1", "filter": {"type": "page", "path": {"value": "/", "operator": "eq"}}},
        {"id": "step_2", "name": "Pricing", "filter": {"type": "page", "path": {"value": "/pricing", "operator": "eq"}}},
        {"id": "step_3", "name": "Signed up", "filter": {"type": "event", "name": {"value": "signup", "operator": "eq"}}},
    ],
    "createdAt": "2026-02-07T12:00:00.000Z",
    "updatedAt": "2026-02-08T09:30:00.000Z",
}  # fmt: skip
ALICE = {
    "id": "1", "identifier": "user-1", "displayName": "Alice", "country": "US", "city": "New York",
    "lastSeenAt": "2026-02-17T10:20:00Z", "avatarUrl": "https://example.com/avatars/alice.png",
    "data": {"company": "Acme", "plan": "pro"}, "anonymous": False,
}  # fmt: skip
ANONYMOUS = {
    "id": "7301865012377856", "identifier": None, "displayName": None, "country": "US", "city": "New York",
    "lastSeenAt": "2026-02-16T12:01:10Z", "avatarUrl": None, "data": {}, "anonymous": True,
}  # fmt: skip
DORA = {
    "id": "4", "identifier": "user-4", "displayName": "Dora", "country": "DE", "city": None,
    "lastSeenAt": "2026-02-10T08:00:00Z", "avatarUrl": None, "data": {}, "anonymous": False,
}  # fmt: skip
BRAVO = {
    "id": "3", "identifier": "user-3", "displayName": "Bravo", "country": "US", "city": "San Francisco",
    "lastSeenAt": "2026-01-25T18:32:15Z", "avatarUrl": None, "data": {"plan": "starter"}, "anonymous": False,
}  # fmt: skip
BRUNO = {
    "id": "2", "identifier": "user-2", "displayName": "Bruno", "country": "DE", "city": "Berlin",
    "lastSeenAt": "2026-01-20T14:04:00Z", "avatarUrl": None, "data": {}, "anonymous": False,
}  # fmt: skip


@pytest.fixture(scope="module")
def http():
    return client()


def test_project(http):
    assert http.get("/v1/project", headers=AUTH).json() == {
        "project": {
            "id": "4232882524803099",
            "name": "Vemetric",
            "domain": "vemetric.com",
            "token": "project_token_123",
            "createdAt": "2026-01-01T12:00:00.000Z",
            "firstEventAt": "2026-01-05T11:00:00.000Z",
            "hasPublicDashboard": False,
            "excludedIps": ["127.0.0.1", "10.0.0.1"],
            "excludedCountries": ["AT"],
        }
    }
    free = http.get("/v1/project", headers=FREE_AUTH).json()["project"]
    assert (free["firstEventAt"], free["hasPublicDashboard"], free["excludedIps"], free["excludedCountries"]) == (
        None, True, [], []
    )  # fmt: skip


def test_funnels_are_listed_by_creation_with_step_names_and_absent_parts_omitted(http):
    response = http.get("/v1/funnels", headers=AUTH)
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "funnels": [
            {
                "id": PURCHASE_FUNNEL,
                "name": "Pro purchase",
                "icon": None,
                "steps": [
                    {"id": "zvpslSIPFJQ6oiRCXPMm3", "name": "Any page", "filter": {"type": "page"}},
                    {
                        "id": "Q2x9bLm4Rt7Yw1Zk8Hn5J",
                        "name": "Step 2",
                        "filter": {
                            "type": "event",
                            "name": {"value": "purchase", "operator": "eq"},
                            "properties": [{"property": "plan", "value": "pro", "operator": "eq"}],
                        },
                    },
                ],
                "createdAt": "2026-01-10T08:00:00.000Z",
                "updatedAt": "2026-01-10T08:00:00.000Z",
            },
            SIGNUP_FUNNEL_JSON,
        ]
    }


def test_analytics_aggregate_always_has_one_row_and_fixed_pagination(http):
    response = http.post(
        "/v1/analytics/query", headers=AUTH, json={"dateRange": "30days", "limit": 5, "offset": 3}
    )
    assert response.json() == {
        "period": PERIOD_30DAYS,
        "query": {
            "dateRange": "30days", "groupBy": [], "metrics": ["users", "pageviews", "events"],
            "orderBy": [], "limit": 5, "offset": 3,
        },
        "pagination": {"limit": 1, "offset": 0, "returned": 1},
        "data": [{"group": {}, "metrics": {"users": 5, "pageviews": 12, "events": 6}}],
    }  # fmt: skip


def test_analytics_aggregate_with_no_data_is_zeros(http):
    body = {"dateRange": ["2025-06-01", "2025-06-30"], "metrics": ["users", "events"]}
    assert http.post("/v1/analytics/query", headers=AUTH, json=body).json()["data"] == [
        {"group": {}, "metrics": {"users": 0, "events": 0}}
    ]


def test_analytics_grouped_by_country_echoes_filters_and_pages(http):
    body = {"dateRange": "30days", "groupBy": ["country"], "orderBy": [["users", "desc"]], "filters": [],
            "unknownKey": "dropped"}  # fmt: skip
    response = http.post("/v1/analytics/query", headers=AUTH, json=body)
    assert response.json() == {
        "period": PERIOD_30DAYS,
        "query": {
            "dateRange": "30days", "groupBy": ["country"], "metrics": ["users", "pageviews", "events"],
            "orderBy": [["users", "desc"]], "limit": 100, "offset": 0, "filters": [], "filtersOperator": "and",
        },
        "pagination": {"limit": 100, "offset": 0, "returned": 2},
        "data": [
            {"group": {"country": "US"}, "metrics": {"users": 3, "pageviews": 9, "events": 5}},
            {"group": {"country": "DE"}, "metrics": {"users": 2, "pageviews": 3, "events": 1}},
        ],
    }  # fmt: skip
    body.update(limit=1, offset=1)
    page = http.post("/v1/analytics/query", headers=AUTH, json=body).json()
    assert page["pagination"] == {"limit": 1, "offset": 1, "returned": 1}
    assert page["data"] == [
        {"group": {"country": "DE"}, "metrics": {"users": 2, "pageviews": 3, "events": 1}}
    ]


def test_analytics_custom_range_by_interval(http):
    # Two days -> hourly buckets; the date-only end means up to 01-20 23:59:59 (exclusive).
    body = {"dateRange": ["2026-01-19", "2026-01-20"], "groupBy": ["interval:auto"], "orderBy": [["date", "asc"]],
            "metrics": ["users", "pageviews", "events", "bounceRate", "visitDuration"]}  # fmt: skip
    response = http.post("/v1/analytics/query", headers=AUTH, json=body).json()
    assert response["period"] == {"from": "2026-01-19T00:00:00Z", "to": "2026-01-20T23:59:59Z"}
    assert response["query"]["dateRange"] == ["2026-01-19", "2026-01-20"]
    assert response["data"] == [
        {"group": {"date": "2026-01-19T09:00:00Z"},
         "metrics": {"users": 1, "pageviews": 4, "events": 2, "bounceRate": 0, "visitDuration": 600}},
        {"group": {"date": "2026-01-20T14:00:00Z"},
         "metrics": {"users": 1, "pageviews": 2, "events": 1, "bounceRate": 0, "visitDuration": 240}},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("preset", "start"),
    [
        ("live", "2026-02-17T23:55:00Z"),  # floor to :30, minus 4 min 30 s
        ("1hr", "2026-02-17T23:00:00Z"),  # floor to :50, minus 50 min
        ("24hrs", "2026-02-17T00:00:00Z"),
        ("7days", "2026-02-11T00:00:00Z"),
        ("30days", "2026-01-19T00:00:00Z"),
        ("3months", "2025-12-01T00:00:00Z"),  # Monday 02-16 minus 11 weeks
        ("6months", "2025-09-01T00:00:00Z"),
        ("1year", "2025-02-01T00:00:00Z"),
    ],
)
def test_presets_resolve_against_the_datasets_now(http, preset, start):
    response = http.post("/v1/analytics/query", headers=AUTH, json={"dateRange": preset})
    assert response.json()["period"] == {"from": start, "to": "2026-02-17T23:59:59Z"}


def test_now_argument_overrides_the_datasets_now():
    frozen = client(now=datetime(2026, 1, 31, 12, 0, 7, tzinfo=UTC))
    response = frozen.post("/v1/analytics/query", headers=AUTH, json={"dateRange": "7days"})
    assert response.json()["period"] == {
        "from": "2026-01-25T00:00:00Z",
        "to": "2026-01-31T12:00:07Z",
    }


def test_filter_values_per_field_with_independent_paging(http):
    body = {"dateRange": "30days", "fields": ["country", "referrer", "event:name"]}
    assert http.post("/v1/filters/values", headers=AUTH, json=body).json() == {
        "period": PERIOD_30DAYS,
        "query": {"dateRange": "30days", "fields": ["country", "referrer", "event:name"], "limit": 100, "offset": 0},
        "data": [
            {"field": "country", "pagination": {"limit": 100, "offset": 0, "returned": 2}, "values": ["DE", "US"]},
            {"field": "referrer", "pagination": {"limit": 100, "offset": 0, "returned": 4},
             "values": ["Bing", "Google", "Newsletter", "Twitter"]},
            {"field": "event:name", "pagination": {"limit": 100, "offset": 0, "returned": 4},
             "values": ["click", "$$outboundLink", "purchase", "signup"]},
        ],
    }  # fmt: skip
    body.update(limit=1, offset=1)
    paged = http.post("/v1/filters/values", headers=AUTH, json=body).json()["data"]
    assert [(d["values"], d["pagination"]) for d in paged] == [
        (["US"], {"limit": 1, "offset": 1, "returned": 1}),
        (["Google"], {"limit": 1, "offset": 1, "returned": 1}),
        (["$$outboundLink"], {"limit": 1, "offset": 1, "returned": 1}),
    ]


def test_funnel_results(http):
    response = http.post(f"/v1/funnels/{SIGNUP_FUNNEL}", headers=AUTH, json={"dateRange": "30days"})
    # "/" then "/pricing" then signup: Alice 3 steps, Bruno 2, anonymous 1; 5 active users.
    assert response.json() == {
        "period": PERIOD_30DAYS,
        "query": {"dateRange": "30days"},
        "funnel": SIGNUP_FUNNEL_JSON,
        "results": {
            "activeUsers": 5,
            "steps": [
                {"id": "step_1", "name": "Step 1", "users": 3, "conversionRate": 100},
                {"id": "step_2", "name": "Pricing", "users": 2, "conversionRate": 66.67},
                {"id": "step_3", "name": "Signed up", "users": 1, "conversionRate": 50},
            ],
            "conversionRate": 33.33,
            "activeUserConversionRate": 20,
        },
    }


def test_funnel_results_with_a_cohort_filter_echo_it(http):
    desktop = [{"type": "device", "value": ["desktop"], "operator": "oneOf"}]
    body = {"dateRange": "30days", "filters": desktop, "filtersOperator": "or"}
    response = http.post(f"/v1/funnels/{SIGNUP_FUNNEL}", headers=AUTH, json=body).json()
    assert response["query"] == {"dateRange": "30days", "filters": desktop, "filtersOperator": "or"}
    # Desktop visitors: Alice, Bruno, anonymous (Bravo is on mobile, Dora on a tablet).
    assert response["results"]["activeUsers"] == 3
    assert response["results"]["activeUserConversionRate"] == 33.33


def test_users_list_default_order_is_last_seen_descending(http):
    assert http.post("/v1/users", headers=AUTH, json={"dateRange": "30days"}).json() == {
        "period": PERIOD_30DAYS,
        "pagination": {"limit": 100, "offset": 0, "returned": 5},
        "users": [
            {**user, "lastEventFiredAt": None} for user in (ALICE, ANONYMOUS, DORA, BRAVO, BRUNO)
        ],
    }


def test_users_by_last_event_fired(http):
    order = [["lastEventFired", "desc", {"name": {"value": "signup", "operator": "eq"}}]]
    body = {"dateRange": "30days", "orderBy": order, "limit": 3}
    response = http.post("/v1/users", headers=AUTH, json=body).json()
    assert response["pagination"] == {"limit": 3, "offset": 0, "returned": 3}
    # Bravo signed up last, then Alice; the rest follow with null, by userId ascending.
    assert [(u["id"], u["lastEventFiredAt"]) for u in response["users"]] == [
        ("3", "2026-01-25T18:32:15Z"),
        ("1", "2026-01-19T09:07:30Z"),
        ("2", None),
    ]


@pytest.mark.parametrize(
    ("query", "user"),
    [("id=1", ALICE), ("identifier=user-2", BRUNO), ("id=7301865012377856", ANONYMOUS)],
)
def test_single_user(http, query, user):
    assert http.get(f"/v1/users/single?{query}", headers=AUTH).json() == {"user": user}


@pytest.mark.parametrize("query", ["id=999", "identifier=nobody", "identifier=7301865012377856"])
def test_single_user_not_found(http, query):
    assert error(http.get(f"/v1/users/single?{query}", headers=AUTH)) == (
        404,
        "USER_NOT_FOUND",
        "User not found",
    )


def test_user_events_newest_first(http):
    response = http.post(
        "/v1/users/events?identifier=user-3", headers=AUTH, json={"dateRange": "30days"}
    )
    session = "s3BravoJan25aaaaaaaaa"
    assert response.json() == {
        "period": PERIOD_30DAYS,
        "pagination": {"limit": 100, "offset": 0, "returned": 3},
        "events": [
            {"sessionId": session, "name": "signup", "isPageView": False, "createdAt": "2026-01-25T18:32:15Z",
             "origin": "https://example.com", "path": "/signup", "hash": None, "data": {"plan": "starter"}},
            {"sessionId": session, "name": "$$pageView", "isPageView": True, "createdAt": "2026-01-25T18:31:00Z",
             "origin": "https://example.com", "path": "/signup", "hash": None, "data": {}},
            {"sessionId": session, "name": "$$pageView", "isPageView": True, "createdAt": "2026-01-25T18:30:00Z",
             "origin": "https://example.com", "path": "/features", "hash": "#faq", "data": {}},
        ],
    }  # fmt: skip


def test_user_events_page_through_all_sessions(http):
    body = {"dateRange": "30days", "limit": 2, "offset": 1}
    response = http.post("/v1/users/events?id=1", headers=AUTH, json=body).json()
    assert response["pagination"] == {"limit": 2, "offset": 1, "returned": 2}
    assert [(e["sessionId"], e["name"], e["createdAt"]) for e in response["events"]] == [
        ("s6AliceFeb17aaaaaaaaa", "$$pageView", "2026-02-17T10:00:00Z"),
        ("s1AliceJan19aaaaaaaaa", "purchase", "2026-01-19T09:10:00Z"),
    ]


# --- the plan gate and its order against 404s (spec §4) --------------------------------------


@pytest.mark.parametrize("preset", ["3months", "6months", "1year"])
def test_free_plan_refuses_long_presets_everywhere_it_applies(http, preset):
    body = {"dateRange": preset}
    for path, extra in [("/v1/analytics/query", {}), ("/v1/filters/values", {"fields": ["country"]}),
                        (f"/v1/funnels/{FREE_FUNNEL}", {}), ("/v1/users", {}),
                        ("/v1/users/events?id=8000000000000001", {})]:  # fmt: skip
        assert error(http.post(path, headers=FREE_AUTH, json={**body, **extra})) == PLAN
    assert http.post("/v1/analytics/query", headers=AUTH, json=body).status_code == 200


def test_free_plan_allows_custom_ranges_back_to_32_days(http):
    # now − 32 days = 2026-01-16T23:59:59Z
    ok = http.post("/v1/users", headers=FREE_AUTH, json={"dateRange": ["2026-01-17", "2026-02-17"]})
    assert ok.status_code == 200
    assert ok.json()["users"][0]["id"] == "8000000000000002"
    late = http.post(
        "/v1/users", headers=FREE_AUTH, json={"dateRange": ["2026-01-16T23:59:59Z", "2026-02-17"]}
    )
    assert late.status_code == 200
    early = http.post(
        "/v1/users", headers=FREE_AUTH, json={"dateRange": ["2026-01-16T23:59:58Z", "2026-02-17"]}
    )
    assert error(early) == PLAN


def test_ungated_endpoints_answer_a_free_plan(http):
    assert http.get("/v1/project", headers=FREE_AUTH).status_code == 200
    assert http.get("/v1/funnels", headers=FREE_AUTH).json()["funnels"][0]["id"] == FREE_FUNNEL
    assert http.get("/v1/users/single?id=8000000000000001", headers=FREE_AUTH).status_code == 200


def test_funnel_lookup_comes_before_the_plan_gate(http):
    unknown = http.post("/v1/funnels/nope", headers=FREE_AUTH, json={"dateRange": "1year"})
    assert error(unknown) == (404, "FUNNEL_NOT_FOUND", "Funnel not found")
    other_project = http.post(
        f"/v1/funnels/{SIGNUP_FUNNEL}", headers=FREE_AUTH, json={"dateRange": "7days"}
    )
    assert error(other_project) == (404, "FUNNEL_NOT_FOUND", "Funnel not found")


def test_user_events_check_the_plan_before_the_user(http):
    gated = http.post("/v1/users/events?id=999", headers=FREE_AUTH, json={"dateRange": "1year"})
    assert error(gated) == PLAN
    missing = http.post("/v1/users/events?id=999", headers=FREE_AUTH, json={"dateRange": "7days"})
    assert error(missing) == (404, "USER_NOT_FOUND", "User not found")
