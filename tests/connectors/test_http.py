"""The client core against scripted answers: which failures retry, how long, and redaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.utils import formatdate

import httpx
import pytest

from pipelines.connectors._http import (
    DEFAULT_POLICY,
    ApiClient,
    BearerAuth,
    HeaderAuth,
    RetryPolicy,
    retry_after,
)
from pipelines.connectors.errors import (
    ApiError,
    AuthError,
    MalformedResponseError,
    NotFoundError,
    PagingError,
    PlanGateError,
    RateLimitError,
    TransientError,
)
from pipelines.connectors.paging import CursorPaging, OffsetPaging

BASE = "http://api.test"
NOW = 1_800_000_000.0  # 2027-01-15, a fixed "now" for reset arithmetic
CANARY = "vem_canary0canary0canary0canary00042"
OK = {"project": {"id": "1"}}


def answer(
    status: int, body: object = None, *, headers: dict | None = None, raw: bytes | None = None
):
    """One scripted answer: JSON ``body`` (or ``raw`` bytes), or an exception to raise."""
    if raw is not None:
        return httpx.Response(status, content=raw, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return answer(status, {"error": {"code": code, "message": message}}, headers=headers)


class Script:
    """A MockTransport handler that plays answers in order and records what it was sent."""

    def __init__(self, *answers: httpx.Response | Exception | Callable) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(step, Exception):
            raise step
        return step(request) if callable(step) else step


def client(script: Script, *, policy: RetryPolicy = DEFAULT_POLICY, key: str = CANARY) -> ApiClient:
    http = httpx.Client(transport=httpx.MockTransport(script))
    return ApiClient(http, BASE, auth=BearerAuth(key), policy=policy, clock=lambda: NOW)


# --- what is retried --------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 502, 503, 504, 500])
def test_retryable_statuses_are_retried_then_succeed(status):
    script = Script(error(status, "X", "try again"), answer(200, OK))
    api = client(script)
    assert api.request("GET", "/v1/project", expect=("project",)) == OK
    assert len(script.requests) == 2
    assert api.stats.requests == 2 and dict(api.stats.retries) == {str(status): 1}


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "VALIDATION_ERROR", ApiError),
        (401, "UNAUTHORIZED", AuthError),
        (402, "PAYMENT_REQUIRED", PlanGateError),  # EngageTrack's plan gate
        (403, "PLAN_LIMIT_EXCEEDED", PlanGateError),
        (403, "FORBIDDEN", ApiError),
        (404, "USER_NOT_FOUND", NotFoundError),
    ],
)
def test_client_errors_fail_at_once_with_the_servers_code_and_message(status, code, kind):
    script = Script(error(status, code, "the server's words"), answer(200, OK))
    with pytest.raises(kind) as caught:
        client(script).request("POST", "/v1/users", json={"dateRange": "7days"})
    assert type(caught.value) is kind
    assert str(caught.value) == f"POST /v1/users: {status} {code}: the server's words"
    assert (caught.value.status, caught.value.code) == (status, code)
    assert len(script.requests) == 1



def test_a_json_body_is_sent_compact_utf8_with_its_content_type():
    script = Script(answer(200, OK))
    body = {"dateRange": ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"], "name": "café"}
    client(script).request("POST", "/v1/users", json=body)
    sent = script.requests[0]
    assert sent.headers["content-type"] == "application/json"
    assert sent.content == ('{"dateRange":["2026-01-01T00:00:00Z","2026-01-02T00:00:00Z"],'
                            '"name":"café"}').encode()
    assert int(sent.headers["content-length"]) == len(sent.content)


def test_a_first_attempt_that_fails_is_decided_like_any_other():
    # The first attempt is sent before the retry loop exists; its failure still counts as
    # attempt 1 of policy.attempts (here 2: one retry, then final).
    script = Script(error(503, "X", "busy"))
    api = client(script, policy=RetryPolicy(attempts=2, wait_initial=0.001, wait_max=0.001))
    with pytest.raises(TransientError, match="gave up after 2 attempts"):
        api.request("GET", "/v1/project", expect=("project",))
    assert len(script.requests) == 2 and dict(api.stats.retries) == {"503": 1}

def test_error_message_names_the_endpoint_like_the_spec():
    script = Script(error(401, "UNAUTHORIZED", "Invalid or revoked API key"))
    with pytest.raises(AuthError) as caught:
        client(script).request("POST", "/v1/users")
    assert str(caught.value) == "POST /v1/users: 401 UNAUTHORIZED: Invalid or revoked API key"
    assert caught.value.endpoint == "POST /v1/users"


def test_query_parameters_appear_in_the_endpoint():
    script = Script(error(404, "USER_NOT_FOUND", "User not found"))
    with pytest.raises(NotFoundError, match=r"^POST /v1/users/events\?id=42: 404 USER_NOT_FOUND"):
        client(script).request("POST", "/v1/users/events", params={"id": "42"})


def test_500_is_retried_a_bounded_number_of_times_then_final():
    script = Script(error(500, "INTERNAL_ERROR", "An unexpected error occurred"))
    api = client(script, policy=RetryPolicy(transient_attempts=3))
    with pytest.raises(TransientError) as caught:
        api.request("GET", "/v1/project")
    assert str(caught.value) == (
        "GET /v1/project: 500 INTERNAL_ERROR: An unexpected error occurred "
        "(gave up after 3 attempts)"
    )
    assert len(script.requests) == 3


def test_persistent_429_gives_up_after_the_attempts():
    script = Script(error(429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded. Try again shortly."))
    api = client(script, policy=RetryPolicy(attempts=5))
    with pytest.raises(
        RateLimitError, match=r"429 RATE_LIMIT_EXCEEDED: .* \(gave up after 5 attempts\)$"
    ):
        api.request("GET", "/v1/project")
    assert len(script.requests) == 5 and api.stats.retries["429"] == 4


@pytest.mark.parametrize(
    ("failure", "code", "cause"),
    [
        (httpx.ReadTimeout("timed out"), "TIMEOUT", "timeout"),
        (httpx.ConnectError("connection refused"), "CONNECTION_ERROR", "connection"),
        (httpx.RemoteProtocolError("peer closed connection"), "CONNECTION_ERROR", "connection"),
    ],
)
def test_transport_failures_are_retried(failure, code, cause):
    script = Script(failure, answer(200, OK))
    api = client(script)
    assert api.request("GET", "/v1/project") == OK
    assert dict(api.stats.retries) == {cause: 1}
    final = Script(failure)
    with pytest.raises(TransientError) as caught:
        client(final, policy=RetryPolicy(attempts=2)).request("GET", "/v1/project")
    assert caught.value.code == code and caught.value.status is None
    # httpx's exception holds the request, auth header included: it must not be chained.
    chained = caught.value.__context__
    assert chained is None or (isinstance(chained, TransientError) and chained.__context__ is None)
    assert str(caught.value).startswith(f"GET /v1/project: {code}: {type(failure).__name__}: ")


# --- malformed bodies -------------------------------------------------------------------


def test_truncated_json_is_retried_then_succeeds():
    script = Script(answer(200, raw=b'{"project": {"id": "1"'), answer(200, OK))
    api = client(script)
    assert api.request("GET", "/v1/project", expect=("project",)) == OK
    assert dict(api.stats.retries) == {"malformed": 1}


def test_truncated_json_that_persists_is_a_clear_final_error():
    script = Script(answer(200, raw=b'{"project": {"id": "1"'))
    with pytest.raises(MalformedResponseError) as caught:
        client(script).request("GET", "/v1/project", expect=("project",))
    assert str(caught.value) == (
        "GET /v1/project: 200 MALFORMED_RESPONSE: body is not valid JSON "
        '(22 bytes: \'{"project": {"id": "1"\') (gave up after 4 attempts)'
    )
    assert len(script.requests) == 4


def test_json_without_the_envelope_is_malformed():
    script = Script(answer(200, {"unexpected": True}))
    with pytest.raises(MalformedResponseError, match="expected field\\(s\\) project in the answer"):
        client(script).request("GET", "/v1/project", expect=("project",))


def test_a_page_of_the_wrong_shape_is_retried_not_taken_as_the_last_page():
    good = {
        "users": [{"id": "1"}, {"id": "2"}],
        "pagination": {"limit": 2, "offset": 0, "returned": 2},
    }
    last = {"users": [{"id": "3"}], "pagination": {"limit": 2, "offset": 2, "returned": 1}}
    script = Script(answer(200, good), answer(200, {"users": []}), answer(200, last))
    paging = OffsetPaging("users", limit=2, in_body=True, returned_path="pagination.returned")
    api = client(script)
    pages = [
        items for _, items in api.paginate("POST", "/v1/users", paging, json={"dateRange": "7days"})
    ]
    assert pages == [[{"id": "1"}, {"id": "2"}], [{"id": "3"}]]
    assert api.stats.retries["malformed"] == 1
    assert [r.read() for r in script.requests][-1] == b'{"dateRange":"7days","limit":2,"offset":2}'


def test_paging_stops_hard_at_max_pages():
    full = {"data": [1, 2], "pagination": {"returned": 2}}
    script = Script(answer(200, full))
    paging = OffsetPaging("data", limit=2, max_pages=3)
    with pytest.raises(
        PagingError,
        match=r"^GET /v1/rows\?limit=2&offset=6: PAGING_ERROR: stopped after max_pages=3$",
    ):
        list(client(script).paginate("GET", "/v1/rows", paging))
    assert len(script.requests) == 3


def test_repeated_cursor_is_a_paging_error():
    script = Script(answer(200, {"results": [1], "next": "abc"}))
    paging = CursorPaging("results", cursor_path="next")
    with pytest.raises(PagingError, match="returned the cursor it was sent again: 'abc'"):
        list(client(script).paginate("GET", "/v1/things", paging))
    assert len(script.requests) == 2


# --- how long to wait -------------------------------------------------------------------


@pytest.mark.parametrize(
    "reset",
    [str(int(NOW) + 30), str(int(NOW) * 1000 + 30_000), "30"],
    ids=["epoch-seconds", "epoch-millis", "delta-seconds"],
)
def test_spent_window_waits_until_the_reset_in_any_form(reset):
    headers = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    assert retry_after(httpx.Headers(headers), NOW, RetryPolicy()) == 31.0  # + 1 s margin
    script = Script(error(429, "RATE_LIMIT_EXCEEDED", "slow down", **headers), answer(200, OK))
    api = client(script)
    api.request("GET", "/v1/project")
    assert api.stats.backoff_seconds == 31.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), (formatdate(NOW + 12, usegmt=True), 12.0), ("999999", 300.0), ("-5", 0.0)],
    ids=["seconds", "http-date", "clamped-high", "clamped-low"],
)
def test_retry_after_is_obeyed_and_clamped(value, expected):
    headers = httpx.Headers({"retry-after": value})
    assert retry_after(headers, NOW, RetryPolicy()) == expected
    script = Script(error(503, "UNAVAILABLE", "busy", **{"retry-after": value}), answer(200, OK))
    api = client(script)
    api.request("GET", "/v1/project")
    assert api.stats.backoff_seconds == expected


def test_429_with_budget_left_backs_off_exponentially_instead_of_waiting_for_the_reset():
    headers = {
        "x-ratelimit-limit": "100",
        "x-ratelimit-remaining": "57",
        "x-ratelimit-reset": str(int(NOW) + 50),
    }
    assert retry_after(httpx.Headers(headers), NOW, RetryPolicy()) is None
    script = Script(*[error(429, "RATE_LIMIT_EXCEEDED", "x", **headers)] * 3, answer(200, OK))
    api = client(script, policy=RetryPolicy(wait_initial=1.0, wait_max=30.0))
    api.request("GET", "/v1/project")
    # Steps 1, 2, 4 seconds, each half fixed and half jitter.
    assert 0.5 + 1.0 + 2.0 <= api.stats.backoff_seconds <= 1.0 + 2.0 + 4.0


def test_unreadable_retry_after_falls_back_to_backoff():
    assert retry_after(httpx.Headers({"retry-after": "soon"}), NOW, RetryPolicy()) is None


# --- error bodies of other shapes -------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "text"),
    [
        (
            answer(403, {"error": "insufficient_scope", "message": "Key lacks read:events"}),
            "403 insufficient_scope: Key lacks read:events",
        ),
        (
            answer(403, {"error": "Forbidden by IP allow-list"}),
            "403 FORBIDDEN: Forbidden by IP allow-list",
        ),
        (
            answer(400, raw=b"<html>Bad gateway config</html>"),
            "400 BAD_REQUEST: <html>Bad gateway config</html>",
        ),
    ],
)
def test_error_bodies_of_peer_shapes(response, text):
    with pytest.raises(ApiError, match=f"^GET /v1/x: {text}$"):
        client(Script(response)).request("GET", "/v1/x")


# --- secrets ----------------------------------------------------------------------------


def test_bearer_key_is_sent_and_never_shown():
    script = Script(answer(200, OK))
    api = client(script)
    api.request("GET", "/v1/project")
    assert script.requests[0].headers["authorization"] == f"Bearer {CANARY}"
    assert CANARY not in repr(api) and CANARY not in repr(api._auth)
    assert api.redact(f"key={CANARY}; again {CANARY}") == "key=***; again ***"


def test_header_auth_sends_the_key_in_its_header():
    script = Script(answer(200, OK))
    http = httpx.Client(transport=httpx.MockTransport(script))
    api = ApiClient(http, BASE, auth=HeaderAuth("x-umami-api-key", CANARY))
    api.request("GET", "/v1/project")
    assert script.requests[0].headers["x-umami-api-key"] == CANARY
    assert api.redact(CANARY) == "***"


def test_canary_key_appears_in_no_exception_log_or_repr(caplog, capsys):
    """Even when the server and the transport echo the key back, nobody shows it."""

    def echo(request: httpx.Request) -> httpx.Response:
        return error(401, "UNAUTHORIZED", f"bad key {request.headers['authorization']}")

    script = Script(
        httpx.ConnectError(f"cannot connect with {CANARY}"),
        error(503, "UNAVAILABLE", f"busy for {CANARY}"),
        answer(200, raw=f'{{"truncated": "{CANARY}'.encode()),
        echo,
    )
    caplog.set_level(logging.DEBUG)
    api = client(script)
    api.register_secret("second-secret-value")
    with pytest.raises(AuthError) as caught:
        api.request("GET", "/v1/project", params={"token": "second-secret-value"})
    printed = capsys.readouterr()  # stamina reports retries through structlog, on stdout
    texts = [
        str(caught.value),
        repr(caught.value),
        repr(api),
        caplog.text,
        printed.out,
        printed.err,
    ]
    texts += [str(vars(record)) for record in caplog.records]
    assert len(script.requests) == 4 and len(caplog.records) >= 4
    for text in texts:
        assert CANARY not in text
        assert "second-secret-value" not in text
    assert str(caught.value) == "GET /v1/project?token=***: 401 UNAUTHORIZED: bad key Bearer ***"
    assert caught.value.__cause__ is None  # httpx exceptions carry the request and its headers


def test_stats_snapshot_counts_calls_requests_and_the_last_rate_limit():
    headers = {
        "x-ratelimit-limit": "100",
        "x-ratelimit-remaining": "98",
        "x-ratelimit-reset": str(int(NOW) + 60),
    }
    script = Script(
        error(502, "BAD_GATEWAY", "upstream", **headers), answer(200, OK, headers=headers)
    )
    api = client(script)
    api.request("GET", "/v1/project")
    api.request("GET", "/v1/project")
    snapshot = api.stats.snapshot()
    assert snapshot["requests"] == 3 and snapshot["calls"] == 2
    assert snapshot["calls_by_endpoint"] == {"GET /v1/project": 2}
    assert snapshot["retries"] == {"502": 1}
    assert snapshot["rate_limit"] == {"limit": 100, "remaining": 98, "reset_at": NOW + 60}


@pytest.mark.parametrize(
    "module",
    ["_http", "errors", "pacing", "paging", "planning", "vemetric"],
)
def test_public_names_exist_and_are_listed(module):
    imported = __import__(f"pipelines.connectors.{module}", fromlist=["__all__"])
    for name in imported.__all__:
        assert hasattr(imported, name), name
    public_classes = {
        name
        for name, value in vars(imported).items()
        if isinstance(value, type)
        and value.__module__ == imported.__name__
        and not name.startswith("_")
    }
    assert public_classes <= set(imported.__all__)
