"""EngageTrack's analytics, goals, funnels and visitors on the tiny fixture, exact numbers.

The fixture's clock is 2026-02-17T23:59:59Z, so ``30d`` is 2026-01-19 .. 2026-02-17 and
includes Bruno's visit of 2026-01-20.
"""

from __future__ import annotations

import json
from datetime import timedelta

from starlette.testclient import TestClient

from pipelines.reference.engagetrack.app import create_app

from .conftest import SHOP, bearer

SYNC = bearer("sync")


def data(http, url: str, headers=SYNC):
    answer = http.get(SHOP + url, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is True
    return answer.json()["data"]


def test_stats_over_30d(http):
    assert data(http, "/analytics/stats?period=30d") == {
        "period": {"from": "2026-01-19", "to": "2026-02-17"}, "visitors": 4, "sessions": 6,
        "pageviews": 11, "events": 6, "bounce_rate": 33.33, "avg_session_duration": 181.67,
        "views_per_session": 1.83,
    }


def test_stats_for_one_day_and_a_filtered_custom_range(http):
    day = data(http, "/analytics/stats?period=day&date=2026-02-16")
    assert (day["visitors"], day["sessions"], day["pageviews"], day["events"]) == (2, 2, 3, 2)
    assert (day["bounce_rate"], day["avg_session_duration"], day["views_per_session"]) == \
        (50.0, 65.0, 1.5)
    filters = json.dumps([{"field": "country", "operator": "is", "value": "US"}])
    custom = data(http, f"/analytics/stats?period=custom&from=2026-02-10&to=2026-02-12&filters={filters}")
    assert custom["period"] == {"from": "2026-02-10", "to": "2026-02-12"}
    assert (custom["visitors"], custom["sessions"], custom["pageviews"], custom["events"]) == (2, 2, 5, 3)


def test_periods_month_and_12mo_and_bad_periods(http):
    assert data(http, "/analytics/stats?period=month")["period"] == {"from": "2026-02-01", "to": "2026-02-28"}
    assert data(http, "/analytics/stats?period=12mo&date=2026-02-03")["period"] == \
        {"from": "2025-03-01", "to": "2026-02-28"}
    assert data(http, "/analytics/stats?period=7d")["period"] == {"from": "2026-02-11", "to": "2026-02-17"}
    answer = http.get(SHOP + "/analytics/stats?period=custom&from=2026-02-10", headers=SYNC)
    assert (answer.status_code, answer.json()) == (400, {"error": "Invalid period: custom needs both from and to"})
    answer = http.get(SHOP + '/analytics/stats?filters=[{"field":"planet","operator":"is","value":"x"}]', headers=SYNC)
    assert answer.status_code == 400 and answer.json()["error"].startswith("Invalid filters[0].field:")


def test_breakdowns_rank_and_page_with_total(http):
    answer = http.get(SHOP + "/analytics/sources?limit=2&page=1", headers=SYNC).json()
    assert answer["data"] == [
        {"source": "Direct", "visitors": 2, "sessions": 2, "pageviews": 2},
        {"source": "Google", "visitors": 1, "sessions": 1, "pageviews": 3},
    ]
    assert (answer["total"], answer["page"], answer["limit"]) == (5, 1, 2)
    last = http.get(SHOP + "/analytics/sources?limit=2&page=3", headers=SYNC).json()["data"]
    assert last == [{"source": "Twitter", "visitors": 1, "sessions": 1, "pageviews": 2}]
    cities = data(http, "/analytics/locations?dimension=city&limit=1")
    assert cities == [{"city": "New York", "visitors": 1, "sessions": 2, "pageviews": 4}]


def test_revenue_and_goal_stats(http):
    assert data(http, "/analytics/revenue") == {
        "period": {"from": "2026-01-19", "to": "2026-02-17"}, "total_revenue": 49.0, "orders": 1,
        "paying_visitors": 1, "average_order_value": 49.0, "currency": "USD"}
    assert data(http, "/goals/stats") == [
        {"goal_id": "goal_signup", "name": "Signed up", "completions": 2, "visitors": 2,
         "conversion_rate": 50.0, "revenue": 0.0},
        {"goal_id": "goal_pricing", "name": "Saw pricing", "completions": 2, "visitors": 2,
         "conversion_rate": 50.0, "revenue": 0.0},
    ]
    assert [g["id"] for g in data(http, "/goals?include_archived=true")][-1] == "goal_blog"


def test_goal_archive_and_update_need_goals_write(http):
    writer = bearer("writer")
    assert http.post(SHOP + "/goals/goal_pricing/archive", headers=SYNC).status_code == 403
    archived = http.post(SHOP + "/goals/goal_pricing/archive", headers=writer).json()["data"]
    assert archived["archived"] is True
    assert [g["goal_id"] for g in data(http, "/goals/stats")] == ["goal_signup"]
    updated = http.patch(SHOP + "/goals/goal_signup", headers=writer, json={"pattern": "sign", "match_type": "contains"})
    assert updated.json()["data"]["pattern"] == "sign"


def test_funnel_analysis_per_step(http):
    steps = data(http, "/funnels/fun_signup/analyze?period=custom&from=2026-02-10&to=2026-02-17")
    assert [(s["step_id"], s["visitors"], s["conversion_rate"], s["dropoff_rate"]) for s in steps] == [
        ("st_home", 3, 100.0, 0.0), ("st_pricing", 2, 66.67, 33.33), ("st_signup", 1, 50.0, 50.0)]
    assert steps[0]["top_sources"] == [{"source": "Bing", "visitors": 1},
                                       {"source": "Google", "visitors": 1},
                                       {"source": "Twitter", "visitors": 1}]
    assert steps[2]["top_countries"] == [{"country": "US", "visitors": 1}]
    assert [s["revenue"] for s in steps] == [49.0, 49.0, 49.0]


def test_funnel_conversion_window_is_a_server_option(tiny):
    with TestClient(create_app(tiny, funnel_window=timedelta(minutes=2))) as http:
        steps = data(http, "/funnels/fun_signup/analyze?period=custom&from=2026-02-10&to=2026-02-17")
    assert [(s["visitors"], s["conversion_rate"], s["dropoff_rate"]) for s in steps] == [
        (3, 100.0, 0.0), (1, 33.33, 66.67), (0, 0.0, 100.0)]


def test_funnel_create_update_delete(http):
    writer = bearer("writer")
    bad = http.post(SHOP + "/funnels", headers=writer, json={"name": "x", "steps": [{"pattern": "/"}]})
    assert bad.status_code == 400 and bad.json()["error"].startswith("Invalid steps:")
    updated = http.patch(SHOP + "/funnels/fun_features", headers=writer, json={"name": "Renamed"})
    assert updated.json()["data"]["name"] == "Renamed"
    assert updated.json()["data"]["updated_at"] == "2026-02-17T23:59:59Z"
    assert http.delete(SHOP + "/funnels/fun_features", headers=writer).json()["data"] == \
        {"id": "fun_features", "deleted": True}
    assert [f["id"] for f in data(http, "/funnels")] == ["fun_signup"]
    assert http.get(SHOP + "/funnels/fun_features/analyze", headers=SYNC).json() == \
        {"error": "Funnel not found"}


def test_visitors_page_by_number_with_total_and_search(http):
    answer = http.get(SHOP + "/visitors?page=2&limit=2", headers=SYNC).json()
    assert [v["id"] for v in answer["data"]] == ["v_carla", "v_bruno"]
    assert (answer["total"], answer["page"], answer["limit"]) == (4, 2, 2)
    alice = data(http, "/visitors?search=ALICE")[0]
    assert alice == {
        "id": "v_alice", "uid": "a1b2c3", "email": "alice@example.com", "name": "Alice",
        "avatar_url": "https://example.com/alice.png", "external_id": "cust_1",
        "first_seen_at": "2026-02-10T09:00:00.000Z", "last_seen_at": "2026-02-16T10:01:00.000Z",
        "total_sessions": 2, "total_pageviews": 4, "total_goals": 2, "total_revenue": 49.0,
        "last_country": "US", "last_browser": "Chrome", "last_os": "macOS",
        "last_device": "desktop", "last_referrer_source": "Direct"}
    assert [v["id"] for v in data(http, "/visitors?search=cust_2")] == ["v_carla"]
    assert http.get(SHOP + "/visitors?limit=101", headers=SYNC).status_code == 400


def test_timeline_pages_a_visitors_events_newest_first(http):
    answer = http.get(SHOP + "/visitors/v_alice/timeline?limit=5&page=2", headers=SYNC).json()
    assert [e["id"] for e in answer["data"]["events"]] == ["evt_a2", "evt_a1"]
    assert answer["total"] == 7 and answer["data"]["visitor"]["id"] == "v_alice"
    day = data(http, "/visitors/v_alice/timeline?from=2026-02-16&to=2026-02-16")
    assert [e["id"] for e in day["events"]] == ["evt_a7", "evt_a6"]
    assert day["events"][1]["properties"] == {} and day["events"][0]["type"] == "outbound"
    assert http.get(SHOP + "/visitors/v_nobody/timeline", headers=SYNC).json() == \
        {"error": "Visitor not found"}


def test_annotations_listed_by_date_and_writable_with_the_write_scope(http):
    assert [n["id"] for n in data(http, "/annotations")] == ["ann_newsletter", "ann_pricing"]
    created = http.post(SHOP + "/annotations", headers=bearer("writer"),
                        json={"date": "2026-02-01", "text": "Price change"})
    assert created.status_code == 201
    assert [n["text"] for n in data(http, "/annotations")][1] == "Price change"
