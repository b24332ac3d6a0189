"""Users' event pages fetched ahead (``VemetricConnector.concurrency``): the real connector over
an in-process fake API whose answers come back out of order; landing must not notice."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime

import httpx
import pytest

from pipelines import raw_vemetric as raw
from pipelines.connectors._http import RetryPolicy
from pipelines.connectors.errors import AuthError
from pipelines.connectors.pacing import RateBudget
from pipelines.connectors.vemetric import VemetricConnector
from tests.vemetric_pages import event, raw_tables, user

AT = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = raw.Window(date(2026, 1, 1), date(2026, 1, 2))
KEY = "vem_abcdefghijklmnopqrstuvwxyz123456"
USERS = [user(str(n), f"2026-01-0{1 + n % 2}T10:00:00Z") for n in range(1, 13)]
EVENTS = {  # 1..7 events each: with 2 a page, 1 to 4 pages per user
    u["id"]: [event(f"2026-01-0{1 + (n + i) % 2}T{i:02d}:00:00Z",
                    "signup" if i % 3 else "$$pageView") for i in range(1 + n % 7)]
    for n, u in enumerate(USERS)
}


class Api:
    """``/v1/users`` and ``/v1/users/events`` paged by the body's limit/offset, each answer
    delayed so that later users' pages finish first; optionally a 401 for one user."""

    def __init__(self, revoke_at: str | None = None) -> None:
        self.revoke_at = revoke_at
        self.lock = threading.Lock()
        self.sent: list[str] = []  # user ids (or "users") in the order requests arrived
        self.revoked_after: int | None = None  # len(sent) when the 401 was answered

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        headers = {"x-ratelimit-limit": "1000", "x-ratelimit-remaining": "999",
                   "x-ratelimit-reset": "60"}
        if request.url.path == "/v1/users":
            return self.page("users", USERS, body, headers)
        uid = request.url.params["id"]
        with self.lock:
            self.sent.append(uid)
        time.sleep(0.002 * (13 - int(uid)))
        if uid == self.revoke_at:
            with self.lock:
                self.revoked_after = len(self.sent)
            return httpx.Response(401, headers=headers, json={"error": {
                "code": "UNAUTHORIZED", "message": "Invalid or revoked API key"}})
        return self.page("events", EVENTS[uid], body, headers)

    def page(self, key: str, rows: list, body: dict, headers: dict) -> httpx.Response:
        chunk = rows[body["offset"]: body["offset"] + body["limit"]]
        pagination = {"limit": body["limit"], "offset": body["offset"], "returned": len(chunk)}
        return httpx.Response(200, headers=headers, json={
            "period": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-03T00:00:00Z"},
            "pagination": pagination, key: chunk})


ADD = raw._EventBatch.add


def connector(api: Api, concurrency: int) -> VemetricConnector:
    return VemetricConnector.connect(
        "http://vemetric.test", KEY, http=httpx.Client(transport=httpx.MockTransport(api)),
        page_size=2, budget=RateBudget(), concurrency=concurrency,
        policy=RetryPolicy(attempts=2, wait_initial=0.001, wait_max=0.001))


def land(path, concurrency: int, monkeypatch, api: Api | None = None) -> list[str]:
    """Land users and events; return the pages in the order they were handed to landing."""
    order: list[str] = []

    def spy(batch, user_id, number, page):
        order.append(f"{user_id}/{number}")
        ADD(batch, user_id, number, page)

    monkeypatch.setattr(raw._EventBatch, "add", spy)
    with connector(api or Api(), concurrency) as vemetric:
        raw.land_users_and_events(vemetric, path, WINDOW, AT)
    return order


def test_pages_land_in_the_same_order_and_tables_are_identical_with_4_in_flight(
        tmp_path, monkeypatch):
    one = land(tmp_path / "one.duckdb", 1, monkeypatch)
    four = land(tmp_path / "four.duckdb", 4, monkeypatch)
    assert four == one
    assert one[:3] == ["1/1", "2/1", "2/2"]
    assert raw_tables(tmp_path / "four.duckdb") == raw_tables(tmp_path / "one.duckdb")
    occurrences = sum(row[10] for row in raw_tables(tmp_path / "four.duckdb")["user_events"])
    assert occurrences == sum(len(e) for e in EVENTS.values())


def test_the_request_count_is_the_same_with_4_in_flight(tmp_path):
    counts = []
    for concurrency in (1, 4):
        with connector(Api(), concurrency) as vemetric:
            raw.land_users_and_events(vemetric, tmp_path / f"{concurrency}.duckdb", WINDOW, AT)
            counts.append(vemetric.stats.requests)
    pages = 1 + len(USERS) // 2 + sum(len(e) // 2 + 1 for e in EVENTS.values())
    assert counts == [pages, pages]


def test_a_401_with_pages_in_flight_stops_at_once_and_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    land(path, 4, monkeypatch)
    before = raw_tables(path)
    api = Api(revoke_at="6")
    with pytest.raises(AuthError, match="401 UNAUTHORIZED: Invalid or revoked API key"):
        land(path, 4, monkeypatch, api)
    assert raw_tables(path) == before
    # Users 7.. were being paged when the 401 came: each finishes the request it had sent and
    # stops; no other user is started.
    assert api.revoked_after is not None
    assert len(api.sent) - api.revoked_after <= 3
    assert "12" not in api.sent


class RateLimited(Api):
    """A fixed window of ``limit`` requests per ``seconds``, honest headers, 429 beyond."""

    def __init__(self, limit: int, seconds: float) -> None:
        super().__init__()
        self.limit, self.seconds = limit, seconds
        self.window_end, self.used, self.refused = 0.0, 0, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            now = time.time()
            if now >= self.window_end:
                self.window_end, self.used = now + self.seconds, 0
            self.used += 1
            headers = {"x-ratelimit-limit": str(self.limit),
                       "x-ratelimit-remaining": str(max(0, self.limit - self.used)),
                       "x-ratelimit-reset": f"{self.window_end:.3f}"}
            if self.used > self.limit:
                self.refused += 1
                return httpx.Response(429, headers=headers, json={"error": {
                    "code": "RATE_LIMITED", "message": "Too many requests"}})
        response = super().__call__(request)
        response.headers.update(headers)
        return response


def test_threads_share_one_budget_and_get_no_429(tmp_path):
    api = RateLimited(limit=8, seconds=0.25)
    with VemetricConnector.connect(
        "http://vemetric.test", KEY, http=httpx.Client(transport=httpx.MockTransport(api)),
        page_size=2, budget=RateBudget(margin=0.02), concurrency=4,
        policy=RetryPolicy(attempts=1),
    ) as vemetric:
        raw.land_users_and_events(vemetric, tmp_path / "w.duckdb", WINDOW, AT)
        assert vemetric.stats.retries == {} and api.refused == 0
        assert vemetric.stats.paced_seconds > 0  # the windows were spent, and waited out
