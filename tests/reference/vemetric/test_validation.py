"""Request validation: zod 3's exact messages and ``details[].field`` paths (spec §4, §5, §7)."""

from __future__ import annotations

import pytest

from tests.reference.vemetric.surface import AUTH, SIGNUP_FUNNEL, client, details

UTC_MESSAGE = "UTC date input must be either YYYY-MM-DD or UTC ISO-8601 with second precision"
STRING_OPS = "'any' | 'eq' | 'notEq' | 'contains' | 'notContains' | 'startsWith' | 'endsWith'"
ALL_TYPES = (
    "'page' | 'event' | 'user' | 'location' | 'referrer' | 'referrerUrl' | 'referrerType' | "
    "'utmTags' | 'browser' | 'device' | 'os' | 'funnel'"
)
FIELDS = (
    "'country' | 'city' | 'page:origin' | 'page:path' | 'browser' | 'deviceType' | 'os' | 'referrer' | "
    "'referrerType' | 'utmCampaign' | 'utmContent' | 'utmMedium' | 'utmSource' | 'utmTerm' | 'event:name'"
)


@pytest.fixture(scope="module")
def http():
    return client()


def analytics(http, **body):
    return http.post("/v1/analytics/query", headers=AUTH, json={"dateRange": "30days", **body})


@pytest.mark.parametrize(
    ("date_range", "expected"),
    [
        (None, [("dateRange", "Invalid input")]),
        ("today", [("dateRange", "Invalid input")]),
        (7, [("dateRange", "Invalid input")]),
        (["2026-01-01"], [("dateRange", "Invalid input")]),
        ([1, "2026-01-02"], [("dateRange", "Invalid input")]),
        (["2026-01-01T00:00:00+02:00", "2026-01-02"], [("dateRange.0", UTC_MESSAGE)]),
        (["2026-01-01", "2026-01-02T00:00:00.123Z"], [("dateRange.1", UTC_MESSAGE)]),
        (["2026-1-1", "20260102"], [("dateRange.0", UTC_MESSAGE), ("dateRange.1", UTC_MESSAGE)]),
        (["2026-02-30", "2026-03-01"], [("dateRange.0", UTC_MESSAGE)]),
        (
            ["2026-01-01", "2026-01-02", "2026-01-03"],
            [("dateRange", "Array must contain at most 2 element(s)")],
        ),
        (
            ["2026-01-05", "2026-01-01"],
            [("dateRange", "Start date must be before or equal to end date")],
        ),
        # The order check compares the raw dates: a date-only end is midnight there.
        (
            ["2026-01-05T10:00:00Z", "2026-01-05"],
            [("dateRange", "Start date must be before or equal to end date")],
        ),
    ],
)
def test_date_range_messages(http, date_range, expected):
    body = {} if date_range is None else {"dateRange": date_range}
    assert details(http.post("/v1/analytics/query", headers=AUTH, json=body)) == expected


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("limit", "10", "Expected number, received string"),
        ("limit", True, "Expected number, received boolean"),
        ("limit", None, "Expected number, received null"),
        ("limit", 0, "Number must be greater than or equal to 1"),
        ("limit", 1001, "Number must be less than or equal to 1000"),
        ("limit", 10.5, "Expected integer, received float"),
        ("offset", -1, "Number must be greater than or equal to 0"),
        ("offset", [0], "Expected number, received array"),
        ("filtersOperator", "xor", "Invalid enum value. Expected 'and' | 'or', received 'xor'"),
        ("metrics", "users", "Expected array, received string"),
        ("groupBy", {"0": "country"}, "Expected array, received object"),
    ],
)
def test_strict_numbers_and_enums(http, field, value, message):
    assert details(analytics(http, **{field: value})) == [(field, message)]


def test_a_float_below_the_minimum_reports_both_checks(http):
    assert details(analytics(http, limit=0.5)) == [
        ("limit", "Expected integer, received float"),
        ("limit", "Number must be greater than or equal to 1"),
    ]


def test_issues_come_in_schema_order(http):
    assert details(analytics(http, offset=-1, limit=0, metrics=["clicks"])) == [
        ("metrics.0", "Invalid enum value. Expected 'users' | 'pageviews' | 'events' | 'bounceRate' | "
                      "'visitDuration', received 'clicks'"),
        ("limit", "Number must be greater than or equal to 1"),
        ("offset", "Number must be greater than or equal to 0"),
    ]  # fmt: skip


def test_body_must_be_an_object(http):
    response = http.post("/v1/analytics/query", headers=AUTH, json=["30days"])
    assert details(response) == [("", "Expected object, received array")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"groupBy": ["country", "city"]}, [("groupBy", "groupBy can include max one item")]),
        ({"groupBy": ["nation"]}, [("groupBy.0", "Invalid grouping token")]),
        ({"groupBy": ["event:prop:"]}, [("groupBy.0", "Invalid grouping token")]),
        ({"groupBy": ["event:prop:a\nb"]}, [("groupBy.0", "Invalid grouping token")]),
        ({"groupBy": [3]}, [("groupBy.0", "Invalid input")]),
        (
            {"orderBy": [["users", "desc"], ["events", "asc"]]},
            [("orderBy", "orderBy can include max one item")],
        ),
        (
            {"orderBy": [["bounceRate", "desc"]]},
            [("orderBy.0.0", "Sort metric must be included in metrics")],
        ),
        ({"orderBy": [["country", "asc"]]}, [("orderBy.0.0", "Invalid sort field")]),
        (
            {"groupBy": ["country"], "orderBy": [["date", "asc"]]},
            [("orderBy.0.0", "Invalid sort field")],
        ),
        (
            {"groupBy": ["event:prop:plan"], "orderBy": [["event:prop:tier", "asc"]]},
            [("orderBy.0.0", "Invalid sort field")],
        ),
        (
            {"orderBy": [["users", "down"]]},
            [("orderBy.0.1", "Invalid enum value. Expected 'asc' | 'desc', received 'down'")],
        ),
        # zod reports an unknown field twice: once from the field's union, once from the
        # object-level check that still runs because the first issue only made it "dirty".
        (
            {"orderBy": [["nonsense", "desc"]]},
            [("orderBy.0.0", "Invalid sort field"), ("orderBy.0.0", "Invalid sort field")],
        ),
        ({"orderBy": [["users"]]}, [("orderBy.0", "Array must contain at least 2 element(s)")]),
    ],
)
def test_group_by_and_order_by_rules(http, body, expected):
    assert details(analytics(http, **body)) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"groupBy": ["event:prop:plan-name$"]},
        {"groupBy": ["interval:auto"], "orderBy": [["date", "desc"]]},
        {"groupBy": ["event:prop:plan"], "orderBy": [["event:prop:plan", "asc"]]},
        {"groupBy": ["browser"], "orderBy": [["browser", "asc"]]},
        {"metrics": [], "orderBy": [["events", "asc"]]},  # [] means the default three
        {"metrics": ["bounceRate"], "orderBy": [["bounceRate", "asc"]]},
        {"dateRange": ["2026-01-05", "2026-01-05"]},
        {"dateRange": ["2026-01-05T10:00:00Z", "2026-01-05T10:00:00Z"]},
    ],
)
def test_valid_queries_pass(http, body):
    assert analytics(http, **body).status_code == 200


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([{"type": "nope"}], [("filters.0.type", f"Invalid discriminator value. Expected {ALL_TYPES}")]),
        ([{"value": "x"}], [("filters.0.type", f"Invalid discriminator value. Expected {ALL_TYPES}")]),
        ([{"type": "user"}], [("filters.0.anonymous", "Required")]),
        ([{"type": "user", "anonymous": "yes"}], [("filters.0.anonymous", "Expected boolean, received string")]),
        (
            [{"type": "page", "path": {"value": "/", "operator": "is"}}],
            [("filters.0.path.operator", f"Invalid enum value. Expected {STRING_OPS}, received 'is'")],
        ),
        (
            [{"type": "browser", "value": "Chrome", "operator": "oneOf"}],
            [("filters.0.value", "Expected array, received string")],
        ),
        (
            [{"type": "location", "country": {"value": ["US"], "operator": "eq"}}],
            [("filters.0.country.operator", "Invalid enum value. Expected 'any' | 'oneOf' | 'noneOf', received 'eq'")],
        ),
        (
            [{"type": "event", "name": {"value": "signup", "operator": "eq"},
              "properties": [{"property": "plan", "value": 1, "operator": "eq"}]}],
            [("filters.0.properties.0.value", "Expected string, received number")],
        ),
        (
            [{"type": "funnel", "id": "x", "step": -1, "operator": "done"}],
            [
                ("filters.0.id", "Invalid uuid"),
                ("filters.0.step", "Number must be greater than or equal to 0"),
                ("filters.0.operator", "Invalid enum value. Expected 'completed' | 'notCompleted', received 'done'"),
            ],
        ),
        ("page", [("filters", "Expected array, received string")]),
        ([None], [("filters.0", "Expected object, received null")]),
    ],
)  # fmt: skip
def test_filter_messages(http, filters, expected):
    assert details(analytics(http, filters=filters)) == expected


def values(http, **body):
    return http.post("/v1/filters/values", headers=AUTH, json={"dateRange": "30days", **body})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (None, [("fields", "Required")]),
        ([], [("fields", "fields must include at least one item")]),
        (["country", "city", "country"], [("fields", "fields must not contain duplicates")]),
        (
            ["country"] * 26,
            [
                ("fields", "fields can include max 25 items"),
                ("fields", "fields must not contain duplicates"),
            ],
        ),
        (
            ["interval:auto"],
            [("fields.0", f"Invalid enum value. Expected {FIELDS}, received 'interval:auto'")],
        ),
        (
            ["event:prop:plan"],
            [("fields.0", f"Invalid enum value. Expected {FIELDS}, received 'event:prop:plan'")],
        ),
    ],
)
def test_filter_values_fields(http, fields, expected):
    body = {} if fields is None else {"fields": fields}
    assert details(values(http, **body)) == expected


def users(http, **body):
    return http.post("/v1/users", headers=AUTH, json={"dateRange": "30days", **body})


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ([["lastEventFired", "desc"]], [("orderBy.0", "Invalid input")]),
        ([["name", "asc"]], [("orderBy.0", "Invalid input")]),
        ([["lastSeenAt", "down"]], [("orderBy.0", "Invalid input")]),
        ([["lastSeenAt", "desc", {}]], [("orderBy.0", "Array must contain at most 2 element(s)")]),
        (
            [["lastSeenAt", "desc"], ["country", "asc"]],
            [("orderBy", "orderBy can include max one item")],
        ),
    ],
)
def test_users_order_by_forms(http, order_by, expected):
    assert details(users(http, orderBy=order_by)) == expected


def test_users_need_a_date_range(http):
    assert details(http.post("/v1/users", headers=AUTH, json={})) == [
        ("dateRange", "Invalid input")
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [("id", "Provide exactly one of id or identifier"), ("identifier", "Provide exactly one of id or identifier")]),
        ("?id=1&identifier=user-1",
         [("id", "Provide exactly one of id or identifier"), ("identifier", "Provide exactly one of id or identifier")]),
        ("?id=abc", [("id", "id must be a numeric user id")]),
        ("?id=-1", [("id", "id must be a numeric user id")]),
        ("?id=%EF%BC%91", [("id", "id must be a numeric user id")]),  # a fullwidth digit is not \d
        ("?identifier=", [("identifier", "String must contain at least 1 character(s)")]),
        ("?id=1&id=2", [("id", "Expected string, received array")]),
    ],
)  # fmt: skip
def test_user_lookup_query(http, query, expected):
    assert details(http.get(f"/v1/users/single{query}", headers=AUTH)) == expected
    response = http.post(f"/v1/users/events{query}", headers=AUTH, json={"dateRange": "30days"})
    assert details(response) == expected


def test_user_events_validate_the_query_before_the_body(http):
    response = http.post("/v1/users/events?id=x", headers=AUTH, json={"limit": "x"})
    assert details(response) == [("id", "id must be a numeric user id")]


def test_user_events_allow_only_event_level_filters(http):
    response = http.post(
        "/v1/users/events?id=1",
        headers=AUTH,
        json={"dateRange": "30days", "filters": [{"type": "location"}]},
    )
    assert details(response) == [
        (
            "filters.0.type",
            "Invalid discriminator value. Expected 'event' | 'page' | 'browser' | 'device' | 'os'",
        )
    ]


def test_funnel_results_validate_before_looking_up_the_funnel(http):
    assert details(http.post("/v1/funnels/unknown", headers=AUTH, json={})) == [
        ("dateRange", "Invalid input")
    ]
    response = http.post(
        f"/v1/funnels/{SIGNUP_FUNNEL}", headers=AUTH, json={"dateRange": "30days", "filters": {}}
    )
    assert details(response) == [("filters", "Expected array, received object")]
