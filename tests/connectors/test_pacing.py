"""RateBudget against a simulated Vemetric limiter on a fake clock: no 429 in the normal case."""

from __future__ import annotations

import math
import threading

import httpx
import pytest

from pipelines.connectors._http import ApiClient, BearerAuth
from pipelines.connectors.pacing import RateBudget, RateLimitHeaders, budget_for, reset_at

KEY = "vem_abcdefghijklmnopqrstuvwxyz123456"
START = 1_800_000_000.25


class FakeClock:
    """Time that only moves when someone sleeps or a request takes its latency."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.slept = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.advance(seconds)


class FixedWindowServer:
    """Vemetric's limiter (spec §3): the window opens at the first request and lasts 60 s."""

    def __init__(self, clock: FakeClock, limit: int = 100, latency: float = 0.05) -> None:
        self.clock, self.limit, self.latency = clock, limit, latency
        self.expires, self.count = 0.0, 0
        self.statuses: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.clock.advance(self.latency)
            now = self.clock()
            if now >= self.expires:
                self.expires, self.count = now + 60, 0
            self.count += 1
            headers = {
                "X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(max(0, self.limit - self.count)),
                "X-RateLimit-Reset": str(math.ceil(now) + math.ceil(self.expires - now)),
            }
            status = 429 if self.count > self.limit else 200
            self.statuses.append(status)
        body = (
            {"error": {"code": "RATE_LIMIT_EXCEEDED", "message": "x"}}
            if status == 429
            else {"ok": 1}
        )
        return httpx.Response(status, json=body, headers=headers)


def paced_client(server: FixedWindowServer, budget: RateBudget) -> ApiClient:
    http = httpx.Client(transport=httpx.MockTransport(server))
    return ApiClient(
        http, "http://api.test", auth=BearerAuth(KEY), budget=budget, clock=server.clock
    )


def test_a_long_run_at_100_per_minute_gets_no_429():
    clock = FakeClock()
    server = FixedWindowServer(clock)
    budget = RateBudget(clock=clock, sleep=clock.sleep)
    api = paced_client(server, budget)
    for _ in range(450):
        api.request("GET", "/v1/project")
    assert server.statuses.count(429) == 0 and len(server.statuses) == 450
    # Four full windows were spent, so the run waited for four resets (about a minute each).
    assert 4 * 55 < clock.slept < 4 * 62
    assert api.stats.paced_seconds == pytest.approx(clock.slept)


def test_threads_sharing_one_budget_get_no_429():
    clock = FakeClock()
    server = FixedWindowServer(clock)
    budget = budget_for("http://api.test", KEY)
    budget._clock, budget._sleep = clock, clock.sleep  # the shared budget, on the fake clock
    errors: list[BaseException] = []

    def worker() -> None:
        api = paced_client(server, budget_for("http://api.test/", KEY))
        try:
            for _ in range(80):
                api.request("GET", "/v1/project")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(server.statuses) == 320 and server.statuses.count(429) == 0


def test_registry_gives_one_budget_per_url_and_key():
    assert budget_for("http://a.test", KEY) is budget_for("http://a.test/", KEY)
    assert budget_for("http://a.test", KEY) is not budget_for("http://b.test", KEY)
    assert budget_for("http://a.test", KEY) is not budget_for("http://a.test", KEY + "x")
    assert KEY not in repr(budget_for("http://a.test", KEY))


def test_before_the_first_answer_only_one_request_is_in_flight():
    budget = RateBudget(clock=lambda: START, sleep=lambda s: None)
    budget.acquire()
    second = threading.Event()
    thread = threading.Thread(target=lambda: (budget.acquire(), second.set()))
    thread.start()
    assert not second.wait(0.2)  # blocked until the first request is answered
    budget.release({"x-ratelimit-limit": "100", "x-ratelimit-remaining": "99",
                    "x-ratelimit-reset": str(int(START) + 60)})  # fmt: skip
    assert second.wait(5)
    thread.join()


def test_without_rate_limit_headers_the_budget_does_not_throttle():
    sleeps: list[float] = []
    budget = RateBudget(clock=lambda: START, sleep=sleeps.append)
    budget.acquire()
    budget.release({})
    for _ in range(500):
        budget.acquire()
    assert sleeps == []


def test_spent_window_waits_until_reset_plus_margin():
    clock = FakeClock()
    budget = RateBudget(clock=clock, sleep=clock.sleep, margin=1.0)
    budget.acquire()
    budget.release({"x-ratelimit-limit": "3", "x-ratelimit-remaining": "1",
                    "x-ratelimit-reset": str(int(START) + 20)})  # fmt: skip
    assert budget.acquire() == 0.0
    waited = budget.acquire()
    assert waited == pytest.approx(int(START) + 20 + 1.0 - START)


def test_someone_else_spending_the_window_lowers_the_budget():
    clock = FakeClock()
    budget = RateBudget(clock=clock, sleep=clock.sleep)
    reset = str(int(START) + 30)
    budget.acquire()
    budget.release(
        {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "50", "x-ratelimit-reset": reset}
    )
    budget.acquire()
    budget.release(
        {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "2", "x-ratelimit-reset": reset}
    )
    assert budget.acquire() == 0.0 and budget.acquire() == 0.0
    assert budget.acquire() > 0  # the third must wait for the reset


def test_a_failed_request_without_answer_frees_its_slot():
    budget = RateBudget(clock=lambda: START, sleep=lambda s: None)
    budget.acquire()
    budget.release(None)
    assert budget.acquire() == 0.0  # does not block forever


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1800000060", 1_800_000_060.0),
        ("1800000060000", 1_800_000_060.0),
        ("60", START + 60),
        ("0", START),
    ],
    ids=["epoch-seconds", "epoch-millis", "delta", "zero-delta"],
)
def test_reset_forms_are_detected(value, expected):
    assert reset_at(value, START) == expected


@pytest.mark.parametrize("value", ["soon", "-3", "nan", ""])
def test_bad_reset_values_are_refused(value):
    with pytest.raises(ValueError):
        reset_at(value, START)
    headers = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "1", "x-ratelimit-reset": value}
    assert RateLimitHeaders.parse(headers, START) is None
