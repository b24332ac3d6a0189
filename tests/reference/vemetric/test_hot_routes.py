"""The hot routes answer exactly as FastAPI's routing of the same endpoints does.

``create_app(..., hot_routes=False)`` sends every request through FastAPI's middleware stack
and router to the endpoints; the default app answers ``POST /v1/users`` and
``POST /v1/users/events`` itself, ``/v1/users/events`` from pre-serialised JSON when the
request has the common shape. Both apps get the same requests (valid, invalid, and in
between) and must give the same status, headers (rate-limit ones included) and body bytes.
The pre-serialised rows are also checked against rows rendered from scratch by polars.
"""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from pipelines.reference.vemetric import queries, store
from pipelines.reference.vemetric.app import ValidatedBodies, create_app
from pipelines.reference.vemetric.dataset import load_dataset
from pipelines.reference.vemetric.errors import ApiError
from pipelines.reference.vemetric.generate import generate
from pipelines.reference.vemetric.schemas import USER_EVENTS_QUERY
from tests.reference.vemetric.surface import FREE_AUTH, KEY, TestClient, tiny

START = datetime(2026, 1, 1, tzinfo=UTC)
MOMENT = datetime(2026, 1, 20, 12, 0, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("hot") / "data"
    generate(out, users=40, days=12, seed=11, start=START.date())
    dataset = load_dataset(out)
    # The generator writes the raw key into the fixture; the loaded dataset keeps its hash.
    dataset_key[id(dataset)] = orjson.loads((out / "fixture.json").read_bytes())[
        "projects"][0]["apiKeys"][0]["key"]
    return dataset


dataset_key: dict[int, str] = {}


def generated_key(dataset) -> str:
    return dataset_key[id(dataset)]


def twin_clients(dataset, **options) -> tuple[TestClient, TestClient]:
    """(hot routes, FastAPI routing only) on one dataset, one frozen clock each."""
    def make(hot: bool) -> TestClient:
        app = create_app(dataset, clock=lambda: MOMENT, hot_routes=hot, **options)
        return TestClient(app, base_url="http://vemetric.test", raise_server_exceptions=False)
    return make(True), make(False)


def same_answer(hot: TestClient, full: TestClient, method: str, url: str, **kwargs):
    """The hot app's response, once asserted identical to the FastAPI-routed app's."""
    a, b = hot.request(method, url, **kwargs), full.request(method, url, **kwargs)
    assert (a.status_code, a.headers.raw, a.content) == (b.status_code, b.headers.raw, b.content), url
    return a


def user_ids(dataset) -> list[str]:
    project = next(iter(dataset.projects.values()))
    return sorted(project.events["userId"].unique().to_list())[:12]


DATE_RANGES = [
    ["2026-01-01", "2026-01-12"], ["2026-01-03T05:00:00Z", "2026-01-04T00:00:00Z"],
    ["2026-01-05", "2026-01-05"], ["2026-01-09", "2026-01-02"], ["2026-02-30", "2026-03-01"],
    ["2026-01-01"], "30days", "24hrs", "1year", "fortnight", 7, None,
]
LIMITS = [1, 3, 1000, 0, 1001, "10", 5.0, True, None, ...]
OFFSETS = [0, 2, 7, 10**30, 2**53 + 1, -1, 1.5, ...]
FILTERS = [..., [], [{"type": "event", "name": {"operator": "eq", "value": "$$pageView"}}],
           [{"type": "page", "path": {"operator": "startsWith", "value": "/"}}],
           [{"type": "user", "anonymous": True}]]
CONTENT_TYPES = ["application/json", "application/vnd.api+json; charset=utf-8", "text/plain",
                 None]


def body(rng: random.Random) -> dict:
    """A random request body; ``...`` leaves a field out."""
    fields = {"dateRange": rng.choice(DATE_RANGES), "limit": rng.choice(LIMITS),
              "offset": rng.choice(OFFSETS), "filters": rng.choice(FILTERS)}
    if rng.random() < 0.2:
        fields["filtersOperator"] = rng.choice(["and", "or", "xor"])
    if rng.random() < 0.1:
        fields["unknown"] = {"kept": False}
    return {k: v for k, v in fields.items() if v is not ...}


def test_user_events_pages_are_the_same_through_both_paths(generated):
    ids = user_ids(generated)
    hot, full = twin_clients(generated, rate_limit=10**6)
    auth = {"Authorization": f"Bearer {generated_key(generated)}",
            "Content-Type": "application/json"}
    spans = [["2026-01-01", "2026-01-12"], ["2026-01-04", "2026-01-06T12:00:00Z"], "30days"]
    answered = 0
    with hot, full:
        for user, span, (limit, offset) in itertools.product(
                ids, spans, [(1000, 0), (3, 0), (3, 3), (2, 5), (1, 10**6)]):
            answer = same_answer(hot, full, "POST", f"/v1/users/events?id={user}", headers=auth,
                                 content=orjson.dumps({"dateRange": span, "limit": limit,
                                                       "offset": offset}))
            answered += bool(answer.json()["events"])
    assert answered > 60  # many of these pages hold events: the comparison is not vacuous


def test_any_request_body_gets_the_same_answer_through_both_paths(generated):
    ids = user_ids(generated)
    hot, full = twin_clients(generated, rate_limit=10**6)
    rng = random.Random(5)
    key = generated_key(generated)
    statuses = set()
    with hot, full:
        for _ in range(500):
            query = rng.choice([f"id={rng.choice(ids)}", "id=999", "id=12a", f"id={ids[0]}&id=1",
                                "identifier=nobody", "", f"id=%3{ids[0][0]}", "id="])
            headers = {"Authorization": f"Bearer {key}"}
            content_type = rng.choice(CONTENT_TYPES)
            if content_type is not None:
                headers["Content-Type"] = content_type
            raw = json.dumps(body(rng)).encode() if rng.random() < 0.9 else b'{"dateRange": ['
            for path in ("/v1/users/events?" + query, "/v1/users"):
                statuses.add(same_answer(hot, full, "POST", path, headers=headers,
                                         content=raw).status_code)
    assert statuses == {200, 400, 404}


def test_auth_rate_limit_and_plan_answers_are_the_same(generated):
    hot, full = twin_clients(tiny(), rate_limit=3)
    json_body = {"Content-Type": "application/json"}
    payload = orjson.dumps({"dateRange": ["2025-01-01", "2025-01-02"], "limit": 10})
    with hot, full:
        for headers in ({}, {"Authorization": "Basic x"}, {"Authorization": "Bearer vem_short"},
                        {"Authorization": f"Bearer {KEY[:-1]}x"}):
            same_answer(hot, full, "POST", "/v1/users/events?id=1", headers=headers,
                        content=payload)
        for _ in range(5):  # the free plan's 403, then the 429s once the window is used up
            for path in ("/v1/users/events?id=1", "/v1/users"):
                same_answer(hot, full, "POST", path, headers={**FREE_AUTH, **json_body},
                            content=payload)
        last = same_answer(hot, full, "POST", "/v1/users", headers={**FREE_AUTH, **json_body},
                           content=payload)
    assert last.status_code == 429


def test_prepared_rows_equal_rows_rendered_from_scratch(generated):
    project = next(iter(generated.projects.values()))
    periods = [queries.Period(START, START + timedelta(days=12), "daily"),
               queries.Period(START + timedelta(days=3, hours=7), START + timedelta(days=5),
                              "daily"),
               queries.Period(START + timedelta(days=6), None, "daily")]
    checked = 0
    for user in project.events["userId"].unique().to_list():
        frame = store.user_events_frame(project, user)
        for period, (limit, offset) in itertools.product(periods, [(1000, 0), (4, 2)]):
            expected = store.rendered_events(
                frame.filter(store.in_range("createdAt", period.start, period.end))
                .slice(offset, limit))
            rows = [store.event_row(row) for row in expected.iter_rows(named=True)]
            text, count = queries.user_events_json(project, period, user, limit=limit,
                                                   offset=offset)
            assert (b"[" + text + b"]", count) == (orjson.dumps(rows), len(rows))
            checked += count
    assert checked > 300


def test_users_list_pages_equal_a_cold_computation(generated):
    project = next(iter(generated.projects.values()))
    period = queries.Period(START, START + timedelta(days=12), "daily")
    for order_by in (["lastSeenAt", "desc"], ["country", "asc"],
                     ["lastEventFired", "desc", {"name": {"operator": "any", "value": ""}}]):
        def page(offset: int) -> list[dict]:
            return queries.list_users(project, period, filters=[], filters_operator="and",
                                      order_by=order_by, limit=7, offset=offset)
        warm = [page(offset) for offset in range(0, 49, 7)]
        cold = []
        for offset in range(0, 49, 7):
            project.cache.pop("queries:sorted_users", None)
            cold.append(page(offset))
        assert warm == cold and sum(map(len, warm)) == project.events["userId"].n_unique()


def test_validated_bodies_keep_valid_ones_and_raise_the_400_of_others():
    validated = ValidatedBodies(USER_EVENTS_QUERY, kept=2)
    raw = b'{"dateRange":["2026-01-01","2026-01-02"],"limit":5}'
    first = validated(raw)
    assert first == {"dateRange": ["2026-01-01", "2026-01-02"], "filtersOperator": "and",
                     "limit": 5, "offset": 0}
    assert validated(raw) is first
    with pytest.raises(ApiError) as bad:
        validated(b'{"dateRange":"forever"}')
    assert bad.value.status == 400 and bad.value.body()["error"]["details"] == [
        {"field": "dateRange", "message": "Invalid input"}]
    for limit in range(1, 4):  # bounded: older entries go
        validated(b'{"dateRange":"30days","limit":%d}' % limit)
    assert len(validated.found) <= 2
