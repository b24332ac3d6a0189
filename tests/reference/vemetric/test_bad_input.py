"""Hostile and malformed input: the documented 4xx or a correct 200, never a 500."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.reference.vemetric.surface import AUTH, SIGNUP_FUNNEL, client, details, error

HOSTILE = {
    "10kB": "x" * 10_000,
    "unicode": "Zürich 🚀 東京 \u202e\ufeff",
    "nul": "a\x00b",
    "sql": "'; DROP TABLE event; --",
    "html": '<script>alert(1)</script>&amp;"',
    "like": "%_%\\",
}
MALFORMED = "Malformed JSON in request body"


@pytest.fixture(scope="module")
def http():
    return client()


def post_raw(http, path: str, content: bytes, content_type: str | None = "application/json"):
    headers = dict(AUTH)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return http.post(path, headers=headers, content=content)


@pytest.mark.parametrize(
    "content", [b"{bad", b"", b'{"dateRange": "30days"', b'{"limit": NaN}', b"\xff\xfe"]
)
def test_malformed_json_is_an_http_error(http, content):
    response = post_raw(http, "/v1/analytics/query", content)
    assert error(response) == (400, "HTTP_ERROR", MALFORMED)


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [(None, "undefined"), ("text/plain", "text/plain"), ("Application/JSON", "Application/JSON"),
     ("application/json-patch", "application/json-patch"), ("multipart/form-data", "multipart/form-data")],
)  # fmt: skip
def test_missing_or_non_json_content_type_is_an_http_error(http, content_type, shown):
    response = post_raw(http, "/v1/users", b'{"dateRange": "30days"}', content_type)
    assert error(response) == (400, "HTTP_ERROR", f"Invalid HTTP header: Content-Type={shown}")


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/vnd.api+json"],
)
def test_json_content_types_are_accepted(http, content_type):
    assert post_raw(http, "/v1/users", b'{"dateRange": "30days"}', content_type).status_code == 200


def test_unknown_body_keys_are_dropped(http):
    body = {"dateRange": "30days", "projectId": "9000000000000001", "filters": [{"type": "user",
            "anonymous": True, "extra": 1}]}  # fmt: skip
    response = http.post("/v1/analytics/query", headers=AUTH, json=body)
    assert response.json()["query"]["filters"] == [{"type": "user", "anonymous": True}]
    assert "projectId" not in response.json()["query"]


@pytest.mark.parametrize("offset", [b"100000000000000000000000", b"1e23", b"1.0e23"])
def test_huge_offsets_are_integers_and_pages_past_the_end(http, offset):
    body = b'{"dateRange": "30days", "groupBy": ["country"], "offset": ' + offset + b"}"
    response = post_raw(http, "/v1/analytics/query", body)
    assert response.status_code == 200
    # Parsed as a JavaScript double (as JSON.parse does), then echoed as that integer.
    assert response.json()["query"]["offset"] == int(1e23) == 99999999999999991611392
    assert response.json()["pagination"]["returned"] == 0 and response.json()["data"] == []


def test_out_of_range_numbers_are_validation_errors(http):
    assert details(
        post_raw(http, "/v1/analytics/query", b'{"dateRange": "30days", "limit": 1e400}')
    ) == [
        ("limit", "Expected integer, received float"),
        ("limit", "Number must be less than or equal to 1000"),
    ]


def test_deeply_nested_json_is_refused_cleanly(http):
    body = b'{"dateRange": "30days", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert post_raw(http, "/v1/analytics/query", body).status_code == 400


def string_condition(text: str) -> dict:
    return {"value": text, "operator": "contains"}


def analytics_bodies(text: str) -> list[dict]:
    """Every place a string goes in an analytics request, each holding ``text``."""
    filters = [
        {"type": "page", "origin": string_condition(text), "path": string_condition(text), "hash": string_condition(text)},
        {"type": "event", "name": {"value": text, "operator": "eq"}, "properties": [{"property": text, "value": text, "operator": "eq"}]},
        {"type": "location", "country": {"value": [text], "operator": "oneOf"}, "city": {"value": [text], "operator": "noneOf"}},
        {"type": "referrer", "value": text, "operator": "startsWith"},
        {"type": "referrerUrl", "value": text, "operator": "endsWith"},
        {"type": "referrerType", "value": [text], "operator": "oneOf"},
        {"type": "utmTags", **{f: string_condition(text) for f in ("utmCampaign", "utmContent", "utmMedium", "utmSource", "utmTerm")}},
        {"type": "browser", "value": [text], "operator": "oneOf"},
        {"type": "device", "value": [text], "operator": "noneOf"},
        {"type": "os", "value": [text], "operator": "oneOf"},
    ]  # fmt: skip
    return [
        {"dateRange": "30days", "groupBy": [f"event:prop:{text}"]},
        {
            "dateRange": "30days",
            "groupBy": [f"event:prop:{text}"],
            "orderBy": [[f"event:prop:{text}", "asc"]],
        },
        *({"dateRange": "30days", "filters": [f]} for f in filters),
        {
            "dateRange": "30days",
            "filters": filters,
            "filtersOperator": "or",
            "groupBy": ["page:path"],
        },
    ]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_strings_in_analytics_are_answered(http, name):
    for body in analytics_bodies(HOSTILE[name]):
        response = http.post("/v1/analytics/query", headers=AUTH, json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.json()["query"].get("filters", body.get("filters")) == body.get("filters")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_strings_where_a_format_is_required_are_400s(http, name):
    text = HOSTILE[name]
    bad_dates = http.post("/v1/analytics/query", headers=AUTH, json={"dateRange": [text, text]})
    utc = "UTC date input must be either YYYY-MM-DD or UTC ISO-8601 with second precision"
    assert details(bad_dates) == [("dateRange.0", utc), ("dateRange.1", utc)]
    assert details(http.post("/v1/analytics/query", headers=AUTH, json={"dateRange": text})) == [
        ("dateRange", "Invalid input")
    ]
    assert (
        details(
            http.post(
                "/v1/filters/values", headers=AUTH, json={"dateRange": "30days", "fields": [text]}
            )
        )[0][0]
        == "fields.0"
    )
    funnel_filter = {"type": "funnel", "id": text, "step": 0, "operator": "completed"}
    assert details(
        http.post(
            "/v1/users", headers=AUTH, json={"dateRange": "30days", "filters": [funnel_filter]}
        )
    ) == [("filters.0.id", "Invalid uuid")]
    assert details(http.get(f"/v1/users/single?id={quote(text)}", headers=AUTH)) == [
        ("id", "id must be a numeric user id")
    ]  # fmt: skip


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_strings_in_lookups_are_not_found(http, name):
    text = HOSTILE[name]
    user = http.get(f"/v1/users/single?identifier={quote(text)}", headers=AUTH)
    assert error(user) == (404, "USER_NOT_FOUND", "User not found")
    events = http.post(
        f"/v1/users/events?identifier={quote(text)}", headers=AUTH, json={"dateRange": "30days"}
    )
    assert error(events) == (404, "USER_NOT_FOUND", "User not found")
    funnel = http.post(
        f"/v1/funnels/{quote(text, safe='')}", headers=AUTH, json={"dateRange": "30days"}
    )
    assert funnel.status_code == 404 and funnel.json()["error"]["code"] in (
        "FUNNEL_NOT_FOUND",
        "NOT_FOUND",
    )


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_strings_in_users_and_events_filters(http, name):
    text = HOSTILE[name]
    event_filter = {"name": {"value": text, "operator": "eq"}, "properties": [{"property": text, "value": text, "operator": "notContains"}]}  # fmt: skip
    users = http.post("/v1/users", headers=AUTH, json={
        "dateRange": "30days", "orderBy": [["lastEventFired", "asc", event_filter]],
        "filters": [{"type": "page", "path": string_condition(text)}]})  # fmt: skip
    assert users.status_code == 200, users.text
    events = http.post("/v1/users/events?id=1", headers=AUTH, json={
        "dateRange": "30days", "filters": [{"type": "event", **event_filter}, {"type": "os", "value": [text], "operator": "noneOf"}]})  # fmt: skip
    assert events.status_code == 200, events.text
    funnel = http.post(f"/v1/funnels/{SIGNUP_FUNNEL}", headers=AUTH, json={
        "dateRange": "30days", "filters": [{"type": "referrer", "value": text, "operator": "notEq"}]})  # fmt: skip
    assert funnel.status_code == 200, funnel.text


def test_hostile_authorization_headers_are_401s(http):
    for value in (
        "Bearer " + "x" * 10_000,
        "Bearer vem_" + "é" * 32,
        "Bearer vem_" + "'; --" * 6 + "ab",
    ):
        response = http.get("/v1/project", headers={"Authorization": value.encode("utf-8")})
        assert response.status_code == 401
