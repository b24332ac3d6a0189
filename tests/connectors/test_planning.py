"""Request planning: exact group counts, minutes under the limit, and a plan checked by a run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipelines.connectors.pacing import RateBudget
from pipelines.connectors.planning import (
    RequestGroup,
    SyncPlan,
    VemetricShape,
    pages,
    plan_vemetric,
    vemetric_requests,
)
from pipelines.connectors.vemetric import VemetricConnector, date_range
from pipelines.reference.vemetric.app import create_app
from pipelines.reference.vemetric.dataset import load_dataset

TINY = Path(__file__).parents[1] / "fixtures" / "vemetric" / "tiny.json"
KEY = "vem_abcdefghijklmnopqrstuvwxyz123456"
FIRST, LAST = date(2026, 1, 1), date(2026, 2, 17)  # 48 days of tiny.json


@pytest.mark.parametrize(("rows", "expected"), [(0, 1), (999, 1), (1000, 2), (2500, 3)])
def test_short_page_paging_needs_one_more_request_after_a_full_page(rows, expected):
    assert pages(rows, 1000) == expected


def test_requests_of_a_sync_by_group():
    shape = VemetricShape(
        days=31, users=2500, user_event_pages=2600, funnels=3, event_properties=("plan", "tier"),
        breakdown_rows={"page:path": 1500}, filter_values={"city": 2000},
    )  # fmt: skip
    counts = {g.name: g.count for g in vemetric_requests(shape)}
    assert counts == {
        "preflight": 1,
        "plan-gate probe": 1,
        "project": 1,
        "funnels": 1,
        "funnel results, range": 3,
        "funnel results, per day": 93,
        "users": 3,
        "user events": 2600,
        "analytics, range aggregate": 1,
        "analytics, interval:auto series": 1,
        "analytics, daily aggregates": 31,
        "analytics, breakdowns": 18,  # 15 fields + 2 properties, page:path on 2 pages
        "filter values": 3,  # rounds until city's 2000 values are through
    }


def test_the_plan_gate_probe_adds_one_request():
    base = VemetricShape(days=1, users=0, user_event_pages=0, funnels=0, range_probe=False)
    probed = VemetricShape(days=1, users=0, user_event_pages=0, funnels=0)
    assert (
        sum(g.count for g in vemetric_requests(probed))
        == sum(g.count for g in vemetric_requests(base)) + 1
    )


def test_plan_minutes_and_description():
    groups = (
        RequestGroup("users", "POST /v1/users", 150, 150),
        RequestGroup("events", "POST /v1/users/events", 100, 130),
    )
    plan = SyncPlan(FIRST, LAST, groups, rate_limit=100, assumptions=("nothing odd",))
    assert (plan.requests, plan.most_requests, plan.minutes) == (250, 280, 2.5)
    assert plan.describe() == "\n".join([
        "Vemetric sync 2026-01-01 .. 2026-02-17",
        "  users        150  POST /v1/users",
        "  events       100 (at most 130)  POST /v1/users/events",
        "250 requests (at most 280), about 2.5 to 2.8 minutes at 100 per 60 s",
        "Assumes nothing odd",
    ])  # fmt: skip


@pytest.fixture
def vemetric_http():
    with TestClient(
        create_app(load_dataset(TINY), rate_limit=250), base_url="http://vemetric.test"
    ) as http:
        yield http


def connected(http, page_size: int) -> VemetricConnector:
    return VemetricConnector.connect("http://vemetric.test", KEY, http=http, page_size=page_size,
                                     budget=RateBudget())  # fmt: skip


def run_listings(vemetric: VemetricConnector) -> dict[str, int]:
    """The user and event part of a sync, as the sync makes it; calls per endpoint."""
    before = dict(vemetric.stats.calls)
    span = date_range(FIRST, LAST)
    for page in vemetric.user_pages(span):
        for user in page:
            for _ in vemetric.user_event_pages(user["id"], span):
                pass
    return {
        k: v - before.get(k, 0) for k, v in vemetric.stats.calls.items() if v != before.get(k, 0)
    }


def test_plan_from_two_cheap_calls_matches_the_listings_made(vemetric_http):
    vemetric = connected(vemetric_http, page_size=1000)
    plan = plan_vemetric(vemetric, FIRST, LAST)
    assert vemetric.stats.requests == 2  # the range aggregate and the funnel list
    assert plan.rate_limit == 250  # read from the server's X-RateLimit-Limit
    groups = {g.name: g for g in plan.groups}
    made = run_listings(vemetric)
    assert made == {
        "POST /v1/users": groups["users"].count,
        "POST /v1/users/events": groups["user events"].count,
    }
    assert groups["user events"].count == groups["user events"].most == 5  # exact: 20 events < 1000
    assert groups["funnel results, per day"].count == 2 * 48
    assert (
        plan.requests == sum(g.count for g in plan.groups) and plan.minutes == plan.requests / 250
    )


def test_plan_states_its_bound_when_users_may_need_several_event_pages(vemetric_http):
    vemetric = connected(vemetric_http, page_size=2)
    plan = plan_vemetric(vemetric, FIRST, LAST, rate_limit=100, event_properties=["plan"])
    events = next(g for g in plan.groups if g.name == "user events")
    made = run_listings(vemetric)["POST /v1/users/events"]
    assert events.count <= made <= events.most  # 5 <= 13 <= 5 + 20 // 2
    assert (events.count, events.most) == (5, 15)
    assert plan.rate_limit == 100
    assert plan.assumptions[0] == (
        "no user has 2 or more events in the range (20 events in all; each such user adds pages)"
    )
    assert next(g for g in plan.groups if g.name == "analytics, breakdowns").count == 16


def test_preflight_of_the_range_makes_the_calls_the_plan_lists(vemetric_http):
    vemetric = connected(vemetric_http, page_size=1000)
    vemetric.preflight(date_range(FIRST, LAST))
    groups = vemetric_requests(VemetricShape(days=1, users=0, user_event_pages=0, funnels=0))
    planned = {g.endpoint: g.count for g in groups if g.name in ("preflight", "plan-gate probe")}
    assert (
        dict(vemetric.stats.calls)
        == planned
        == {
            "GET /v1/project": 1,
            "POST /v1/analytics/query": 1,
        }
    )
