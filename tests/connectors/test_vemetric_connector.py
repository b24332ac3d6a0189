"""The Vemetric connector against a paging fake and against the reference app (tiny.json)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pipelines.connectors.errors import (
    AuthError,
    MalformedResponseError,
    MissingCredentialsError,
    PlanGateError,
)
from pipelines.connectors.pacing import RateBudget
from pipelines.connectors.vemetric import VemetricConnector, api_key_from_env, date_range
from pipelines.reference.faults import Faults, with_faults
from pipelines.reference.vemetric.app import create_app
from pipelines.reference.vemetric.dataset import load_dataset

TINY = Path(__file__).parents[1] / "fixtures" / "vemetric" / "tiny.json"
PAID_KEY = "vem_abcdefghijklmnopqrstuvwxyz123456"
REVOKED_KEY = "vem_revoked0revoked0revoked0revoked0"
FREE_KEY = "vem_freeplanfreeplanfreeplanfreeplan"
RANGE = date_range(date(2026, 1, 1), date(2026, 2, 17))
PERIOD = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-18T00:00:00Z"}


# --- a fake that pages by the spec --------------------------------------------------------


class PagingFake:
    """Answers the listing endpoints from fixed rows, slicing by the body's limit/offset."""

    def __init__(self, users: int = 5, events: dict[str, int] | None = None) -> None:
        self.users = [{"id": str(i)} for i in range(1, users + 1)]
        self.events = events or {}
        self.seen: list[tuple[str, dict, dict]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.seen.append((request.url.path, dict(request.url.params), body))
        if request.url.path == "/v1/users":
            return self.page("users", self.users, body)
        if request.url.path == "/v1/users/events":
            count = self.events[request.url.params["id"]]
            return self.page("events", [{"n": n} for n in range(count)], body)
        if request.url.path == "/v1/analytics/query":
            return self.analytics(body)
        return httpx.Response(
            404, json={"error": {"code": "NOT_FOUND", "message": "Route not found"}}
        )

    def page(self, key: str, rows: list, body: dict) -> httpx.Response:
        limit, offset = body.get("limit", 100), body.get("offset", 0)
        chunk = rows[offset : offset + limit]
        pagination = {"limit": limit, "offset": offset, "returned": len(chunk)}
        return httpx.Response(200, json={"period": PERIOD, "pagination": pagination, key: chunk})

    def analytics(self, body: dict) -> httpx.Response:
        metrics = body["metrics"]
        if "groupBy" not in body:
            row = {"group": {}, "metrics": {m: 7 for m in metrics}}
            pagination = {"limit": 1, "offset": 0, "returned": 1}
            return httpx.Response(
                200, json={"period": PERIOD, "pagination": pagination, "data": [row]}
            )
        rows = [
            {"group": {"country": c}, "metrics": {m: 1 for m in metrics}}
            for c in ("DE", "FR", "US")
        ]
        return self.page("data", rows, body)


def fake_connector(fake: PagingFake, page_size: int = 2) -> VemetricConnector:
    http = httpx.Client(transport=httpx.MockTransport(fake))
    return VemetricConnector.connect(
        "http://vemetric.test", PAID_KEY, http=http, page_size=page_size, budget=RateBudget()
    )


def test_users_are_paged_to_the_short_page():
    fake = PagingFake(users=5)
    pages = list(fake_connector(fake).user_pages(RANGE))
    assert [[u["id"] for u in page] for page in pages] == [["1", "2"], ["3", "4"], ["5"]]
    assert [body for _, _, body in fake.seen] == [
        {"dateRange": RANGE, "limit": 2, "offset": offset} for offset in (0, 2, 4)
    ]


def test_a_full_last_page_costs_one_more_request():
    fake = PagingFake(users=4)
    assert [len(page) for page in fake_connector(fake).user_pages(RANGE)] == [2, 2, 0]


def test_user_events_are_asked_by_id_for_the_whole_range():
    fake = PagingFake(events={"42": 3})
    pages = list(fake_connector(fake).user_event_pages("42", RANGE))
    assert [len(page) for page in pages] == [2, 1]
    assert {path for path, _, _ in fake.seen} == {"/v1/users/events"}
    assert all(
        params == {"id": "42"} and body["dateRange"] == RANGE for _, params, body in fake.seen
    )


def test_aggregate_analytics_is_one_request_and_groupings_are_paged():
    fake = PagingFake()
    vemetric = fake_connector(fake)
    assert list(vemetric.analytics_pages(RANGE, metrics=["users"])) == [
        (PERIOD, [{"group": {}, "metrics": {"users": 7}}])
    ]
    pages = list(vemetric.analytics_pages(RANGE, metrics=["users"], group_by="country",
                                          order_by=("users", "desc")))  # fmt: skip
    assert [len(rows) for _, rows in pages] == [2, 1]
    assert fake.seen[1][2] == {"dateRange": RANGE, "metrics": ["users"], "groupBy": ["country"],
                               "orderBy": [["users", "desc"]], "limit": 2, "offset": 0}  # fmt: skip
    assert vemetric.range_totals(RANGE) == {"users": 7, "pageviews": 7, "events": 7}


def test_an_aggregate_with_more_than_one_row_is_malformed():
    def two_rows(request: httpx.Request) -> httpx.Response:
        row = {"group": {}, "metrics": {"users": 1}}
        return httpx.Response(200, json={"period": PERIOD, "data": [row, row]})

    vemetric = fake_connector(two_rows)
    with pytest.raises(MalformedResponseError, match="expected one aggregate row in 'data'"):
        vemetric.range_totals(RANGE)


@pytest.mark.parametrize(
    ("fields", "message"),
    [(["country", "planet"], "unknown filter-value fields \\['planet'\\]"),
     (["os", "os"], "distinct tokens"), ([], "1..25 distinct tokens")],
)  # fmt: skip
def test_bad_filter_fields_fail_before_any_request(fields, message):
    fake = PagingFake()
    with pytest.raises(ValueError, match=message):
        list(fake_connector(fake).filter_value_pages(RANGE, fields))
    assert fake.seen == []


@pytest.mark.parametrize(
    ("server_message", "hint"),
    [
        (
            "Missing API key. Use Authorization: Bearer <key>",
            "no key was sent; set VEMETRIC_API_KEY",
        ),
        ("Malformed Authorization header. Use Bearer <key>", "is not 'Bearer <key>'"),
        ("Invalid API key format", "is not a Vemetric API key (36 characters starting with vem_)"),
        ("Invalid or revoked API key", "is unknown to Vemetric or was revoked"),
    ],
)
def test_preflight_names_each_of_the_four_401s(server_message, hint):
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, json={"error": {"code": "UNAUTHORIZED", "message": server_message}}
        )

    with pytest.raises(AuthError) as caught:
        fake_connector(refuse).preflight()
    assert str(caught.value).startswith(f"GET /v1/project: 401 UNAUTHORIZED: {server_message} (")
    assert hint in str(caught.value)


def test_key_comes_from_the_environment_only_when_asked(monkeypatch):
    with pytest.raises(MissingCredentialsError, match="VEMETRIC_API_KEY is not set"):
        api_key_from_env()
    assert api_key_from_env({"VEMETRIC_API_KEY": f"  {PAID_KEY}\n"}) == PAID_KEY
    with pytest.raises(MissingCredentialsError):
        api_key_from_env({"VEMETRIC_API_KEY": "  "})
    monkeypatch.setenv("VEMETRIC_API_KEY", PAID_KEY)
    assert api_key_from_env() == PAID_KEY


def test_date_range_covers_whole_days_up_to_the_next_midnight():
    assert date_range(date(2026, 1, 31), date(2026, 2, 1)) == [
        "2026-01-31T00:00:00Z",
        "2026-02-02T00:00:00Z",
    ]
    with pytest.raises(ValueError, match="ends \\(2026-01-01\\) before it starts \\(2026-01-02\\)"):
        date_range(date(2026, 1, 2), date(2026, 1, 1))


def test_connect_builds_and_closes_its_own_client_and_hides_the_key():
    vemetric = VemetricConnector.connect("http://127.0.0.1:9", PAID_KEY, timeout=4.0)
    assert vemetric.api.http.timeout == httpx.Timeout(4.0)
    assert PAID_KEY not in repr(vemetric)
    with vemetric:
        pass
    assert vemetric.api.http.is_closed
    with pytest.raises(ValueError, match="page_size must be 1..1000"):
        VemetricConnector.connect("http://x", PAID_KEY, page_size=1001)


# --- the reference app --------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_app():
    return create_app(load_dataset(TINY))


@pytest.fixture
def vemetric_http(tiny_app) -> Iterator[TestClient]:
    with TestClient(tiny_app, base_url="http://vemetric.test") as http:
        yield http


def connected(http: httpx.Client, key: str = PAID_KEY, page_size: int = 2) -> VemetricConnector:
    return VemetricConnector.connect(
        "http://vemetric.test", key, http=http, page_size=page_size, budget=RateBudget()
    )


def tiny_events() -> Counter[str]:
    project = json.loads(TINY.read_text())["projects"][0]
    return Counter(event["userId"] for event in project["events"])


def test_preflight_returns_the_keys_project(vemetric_http):
    project = connected(vemetric_http).preflight(RANGE)
    assert project["id"] == "4232882524803099" and project["name"] == "Vemetric"


def test_preflight_refuses_a_revoked_key(vemetric_http):
    with pytest.raises(AuthError) as caught:
        connected(vemetric_http, REVOKED_KEY).preflight()
    assert str(caught.value) == (
        "GET /v1/project: 401 UNAUTHORIZED: Invalid or revoked API key (VEMETRIC_API_KEY is "
        "unknown to Vemetric or was revoked; create a new key in the project's settings)"
    )
    assert REVOKED_KEY not in str(caught.value)


def test_preflight_refuses_a_key_of_the_wrong_format(vemetric_http):
    with pytest.raises(AuthError, match="Invalid API key format"):
        connected(vemetric_http, "not-a-key").preflight()


def test_preflight_fails_fast_on_the_plan_gate(vemetric_http):
    vemetric = connected(vemetric_http, FREE_KEY)
    assert (
        vemetric.preflight(date_range(date(2026, 2, 1), date(2026, 2, 17)))["id"]
        == "9000000000000001"
    )
    with pytest.raises(PlanGateError) as caught:
        vemetric.preflight(RANGE)
    assert str(caught.value) == (
        "POST /v1/analytics/query: 403 PLAN_LIMIT_EXCEEDED: Upgrade to the Professional plan "
        "for longer data retention (the project has no active subscription, so only the last "
        "32 days can be read; choose a later start date)"
    )
    assert vemetric.stats.snapshot()["requests"] == 4  # no retry of the 403


def test_every_user_and_event_is_listed_once(vemetric_http):
    vemetric = connected(vemetric_http)
    users = [user["id"] for page in vemetric.user_pages(RANGE) for user in page]
    events = {
        uid: sum(len(page) for page in vemetric.user_event_pages(uid, RANGE)) for uid in users
    }
    assert sorted(users) == sorted(tiny_events())
    assert events == dict(tiny_events())
    assert vemetric.stats.snapshot()["retries"] == {}


def test_analytics_funnels_and_filter_values(vemetric_http):
    vemetric = connected(vemetric_http)
    funnels = vemetric.funnels()
    assert sorted(f["name"] for f in funnels) == ["Pro purchase", "Signup Funnel"]
    signup = next(f for f in funnels if f["name"] == "Signup Funnel")
    result = vemetric.funnel_results(signup["id"], RANGE)
    assert result["funnel"]["id"] == signup["id"] and result["period"] == PERIOD
    assert [step["id"] for step in result["results"]["steps"]] == ["step_1", "step_2", "step_3"]
    pages = list(vemetric.analytics_pages(RANGE, metrics=["users"], group_by="country"))
    assert all(period == PERIOD for period, _ in pages)
    rounds = list(vemetric.filter_value_pages(RANGE, ["country", "event:name"]))
    assert rounds[0] == {"country": ["DE", "US"], "event:name": ["click", "$$outboundLink"]}
    assert list(rounds[-1]) in (["event:name"], ["country"], ["country", "event:name"])
    assert vemetric.stats.calls["POST /v1/funnels/{id}"] == 1


def test_listing_through_faults_gives_the_same_data(tiny_app):
    faults = Faults.parse("429=0.15,500=0.1,truncate=0.1", seed=4)
    with TestClient(with_faults(tiny_app, faults), base_url="http://vemetric.test") as http:
        vemetric = connected(http)
        users = [user["id"] for page in vemetric.user_pages(RANGE) for user in page]
        events = {uid: sum(len(p) for p in vemetric.user_event_pages(uid, RANGE)) for uid in users}
    assert events == dict(tiny_events())
    retries = vemetric.stats.snapshot()["retries"]
    assert set(retries) == {"429", "500", "malformed"}
    assert vemetric.stats.requests == sum(vemetric.stats.calls.values()) + sum(retries.values())
