"""Auth (spec §2), the fixed-window rate limit (§3) and routing outside the 8 routes."""

from __future__ import annotations

import math
import threading
from datetime import timedelta

import pytest

from pipelines.reference.vemetric.ratelimit import FixedWindowLimiter
from tests.reference.vemetric.surface import (
    AUTH,
    FREE_AUTH,
    KEY,
    NOW,
    PAID_PROJECT,
    REVOKED_KEY,
    client,
    error,
)

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


class Clock:
    """A hand-moved clock for the limiter."""

    def __init__(self):
        self.now = NOW.replace(microsecond=250_000)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Missing API key. Use Authorization: Bearer <key>"),
        (f"bearer {KEY}", "Malformed Authorization header. Use Bearer <key>"),
        (f"Token {KEY}", "Malformed Authorization header. Use Bearer <key>"),
        ("Bearer", "Malformed Authorization header. Use Bearer <key>"),
        ("Bearer    ", "Invalid API key format"),
        ("Bearer vem_abc", "Invalid API key format"),
        ("Bearer xyz_abcdefghijklmnopqrstuvwxyz123456", "Invalid API key format"),
        ("Bearer vem_abcdefghijklmnopqrstuvwxyz12345!", "Invalid or revoked API key"),
        (f"Bearer {REVOKED_KEY}", "Invalid or revoked API key"),
    ],
)
def test_auth_failures_answer_401_with_the_exact_message_and_no_rate_headers(header, message):
    headers = {} if header is None else {"Authorization": header}
    response = client().get("/v1/project", headers=headers)
    assert error(response) == (401, "UNAUTHORIZED", message)
    assert not any(h in response.headers for h in RATE_HEADERS)


def test_key_is_trimmed_after_bearer():
    response = client().get("/v1/project", headers={"Authorization": f"Bearer  {KEY} "})
    assert response.status_code == 200


def test_the_key_selects_the_project():
    http = client()
    assert http.get("/v1/project", headers=AUTH).json()["project"]["id"] == PAID_PROJECT
    assert http.get("/v1/project", headers=FREE_AUTH).json()["project"]["id"] == "9000000000000001"


def test_auth_runs_before_routing_under_v1_only():
    http = client()
    assert error(http.get("/v1/nope"))[:2] == (401, "UNAUTHORIZED")
    assert error(http.delete("/v1/project"))[:2] == (401, "UNAUTHORIZED")
    assert error(http.get("/nope")) == (
        404,
        "NOT_FOUND",
        "Route not found. See https://vemetric.com/docs/api",
    )


def test_unknown_routes_and_wrong_methods_are_404_not_405():
    http = client()
    for method, path in [("GET", "/v1/nope"), ("DELETE", "/v1/project"), ("GET", "/v1/analytics/query"),
                         ("PUT", "/v1/funnels/x"), ("GET", "/v1/project/")]:  # fmt: skip
        response = http.request(method, path, headers=AUTH)
        assert error(response) == (
            404,
            "NOT_FOUND",
            "Route not found. See https://vemetric.com/docs/api",
        )
        assert response.headers["x-ratelimit-limit"] == "100000"


def test_docs_and_root_redirect_and_fastapi_docs_are_gone():
    http = client()
    for path in ("/", "/docs"):
        response = http.get(path, follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["location"] == "https://vemetric.com/docs/api/getting-started"
    assert http.get("/redoc").status_code == 404
    assert http.get("/openapi.json").json()["openapi"] == "3.0.0"


def test_rate_headers_count_down_and_reset_is_absolute_unix_seconds():
    clock = Clock()
    http = client(rate_limit=3, clock=clock)
    reset = math.ceil(clock.now.timestamp()) + 60
    seen = []
    for _ in range(3):
        response = http.get("/v1/project", headers=AUTH)
        assert response.status_code == 200
        seen.append(tuple(response.headers[h] for h in RATE_HEADERS))
        clock.advance(10)
    assert seen == [("3", "2", str(reset)), ("3", "1", str(reset)), ("3", "0", str(reset))]
    assert "retry-after" not in response.headers


def test_over_the_limit_answers_429_with_headers_and_still_counts():
    clock = Clock()
    http = client(rate_limit=2, clock=clock)
    for _ in range(2):
        assert http.get("/v1/project", headers=AUTH).status_code == 200
    for _ in range(2):
        response = http.get("/v1/project", headers=AUTH)
        assert error(response) == (
            429,
            "RATE_LIMIT_EXCEEDED",
            "Rate limit exceeded. Try again shortly.",
        )
        assert response.headers["x-ratelimit-remaining"] == "0"
        assert "retry-after" not in response.headers
    clock.advance(59.9)
    assert http.get("/v1/project", headers=AUTH).status_code == 429
    clock.advance(0.1)  # the window opened by the first request has ended
    response = http.get("/v1/project", headers=AUTH)
    assert response.status_code == 200 and response.headers["x-ratelimit-remaining"] == "1"


def test_failed_validation_404s_and_401s_and_the_limit_itself():
    clock = Clock()
    http = client(rate_limit=5, clock=clock)
    assert http.post("/v1/analytics/query", headers=AUTH, json={}).status_code == 400
    assert http.get("/v1/nope", headers=AUTH).status_code == 404
    assert (
        http.post("/v1/funnels/nope", headers=AUTH, json={"dateRange": "7days"}).status_code == 404
    )
    assert http.get("/v1/project").status_code == 401  # not counted
    response = http.get("/v1/project", headers=AUTH)
    assert response.headers["x-ratelimit-remaining"] == "1"


def test_windows_are_per_project_shared_by_its_keys():
    clock = Clock()
    http = client(rate_limit=1, clock=clock)
    assert http.get("/v1/project", headers=AUTH).status_code == 200
    assert http.get("/v1/project", headers=AUTH).status_code == 429
    assert http.get("/v1/project", headers=FREE_AUTH).status_code == 200


def test_limiter_counts_every_hit_under_concurrency():
    limiter = FixedWindowLimiter(limit=10_000, window=60, clock=Clock())
    threads = [
        threading.Thread(target=lambda: [limiter.hit("p") for _ in range(500)]) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limiter.hit("p").count == 4001


def test_unhandled_errors_answer_internal_error_with_rate_headers(monkeypatch):
    from pipelines.reference.vemetric import queries

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(queries, "analytics_rows", broken)
    response = client().post("/v1/analytics/query", headers=AUTH, json={"dateRange": "7days"})
    assert error(response) == (500, "INTERNAL_ERROR", "An unexpected error occurred")
    assert response.headers["x-ratelimit-limit"] == "100000"
    assert "bug" not in response.text
