"""The fault injector: spec parsing, each fault's exact answer, determinism, the real app."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from pipelines.reference.faults import NO_FAULTS, FaultPicker, Faults, FaultSpecError, with_faults

TINY = Path(__file__).parents[1] / "fixtures" / "vemetric" / "tiny.json"
KEY = "vem_abcdefghijklmnopqrstuvwxyz123456"
AUTH = {"Authorization": f"Bearer {KEY}"}


def counting_app() -> Starlette:
    """Auth then a counter, like Vemetric's middleware order: 401s carry no rate headers."""
    hits = {"count": 0}

    async def project(request: Request):
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse(
                {"error": {"code": "UNAUTHORIZED", "message": "no"}}, status_code=401
            )
        hits["count"] += 1
        headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": str(100 - hits["count"]),
                   "X-RateLimit-Reset": "1800000060"}  # fmt: skip
        return JSONResponse({"project": {"id": "1", "name": "A" * 40}}, headers=headers)

    async def docs(request: Request):
        return PlainTextResponse("docs")

    return Starlette(routes=[Route("/v1/project", project), Route("/docs", docs)])


def served(faults: Faults, **kwargs) -> TestClient:
    return TestClient(with_faults(counting_app(), faults, **kwargs))


# --- parsing ------------------------------------------------------------------------------


def test_spec_is_parsed_with_seed_and_hang_time():
    faults = Faults.parse("429=0.1, 500=0.05,timeout=0.02,truncate=0.01", seed=7, hang_seconds=5)
    assert faults.rates == {"429": 0.1, "500": 0.05, "timeout": 0.02, "truncate": 0.01}
    assert (faults.seed, faults.hang_seconds) == (7, 5)
    assert str(faults) == "429=0.1,500=0.05,timeout=0.02,truncate=0.01"
    assert not Faults.parse("") and not NO_FAULTS and Faults.parse("500=0.5")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "404=0.1",
            "unknown fault '404' in '404=0.1'; expected one of 429, 500, timeout, truncate",
        ),
        ("429", "expected KIND=RATE, got '429'"),
        ("429=often", "rate of '429' is not a number: 'often'"),
        ("500=1.5", "rate of '500' must be between 0 and 1, got 1.5"),
        ("500=-0.1", "rate of '500' must be between 0 and 1, got -0.1"),
        ("429=0.1,429=0.2", "fault '429' is given twice"),
        ("429=0.6,500=0.6", "add up to more than 1"),
        ("429=0.1,,500=0.1", "empty item"),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(spec, message):
    with pytest.raises(FaultSpecError) as caught:
        Faults.parse(spec)
    assert message in str(caught.value)


def test_negative_hang_time_is_refused():
    with pytest.raises(FaultSpecError, match="hang time"):
        Faults.parse("timeout=0.1", hang_seconds=-1)


def test_no_faults_returns_the_app_itself():
    app = counting_app()
    assert with_faults(app, NO_FAULTS) is app


# --- each fault ---------------------------------------------------------------------------


def test_injected_429_reaches_the_app_and_keeps_its_honest_headers():
    with served(Faults.parse("429=1")) as http:
        first = http.get("/v1/project", headers=AUTH)
        second = http.get("/v1/project", headers=AUTH)
    assert first.status_code == 429
    assert first.json() == {
        "error": {
            "code": "RATE_LIMIT_EXCEEDED",
            "message": "Rate limit exceeded. Try again shortly.",
        }
    }
    # The rejected requests were counted by the app, as Vemetric counts rejected requests.
    assert [first.headers["x-ratelimit-remaining"], second.headers["x-ratelimit-remaining"]] == [
        "99",
        "98",
    ]
    assert first.headers["x-ratelimit-limit"] == "100"
    assert first.headers["x-ratelimit-reset"] == "1800000060"
    assert first.headers["content-type"] == "application/json"
    assert int(first.headers["content-length"]) == len(first.content)


def test_injected_500_has_the_runtime_error_body():
    with served(Faults.parse("500=1")) as http:
        response = http.get("/v1/project", headers=AUTH)
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "INTERNAL_ERROR", "message": "An unexpected error occurred"}
    }


def test_truncated_body_is_valid_http_but_not_json():
    with served(NO_FAULTS) as http:
        whole = http.get("/v1/project", headers=AUTH).content
    with served(Faults.parse("truncate=1", seed=3)) as http:
        responses = [http.get("/v1/project", headers=AUTH) for _ in range(20)]
    for response in responses:
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content)
        assert 1 <= len(response.content) < len(whole) and whole.startswith(response.content)
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
    assert len({len(r.content) for r in responses}) > 1  # cut at different places


def test_timeout_hangs_for_the_configured_time_then_answers_normally():
    naps: list[float] = []

    async def nap(seconds: float) -> None:
        naps.append(seconds)

    with served(Faults.parse("timeout=1", hang_seconds=12.5), sleep=nap) as http:
        response = http.get("/v1/project", headers=AUTH)
    assert naps == [12.5]
    assert response.status_code == 200 and response.json()["project"]["id"] == "1"


def test_unauthenticated_and_non_api_requests_are_never_faulted():
    with served(Faults.parse("429=1")) as http:
        unauthenticated = http.get("/v1/project", headers={"Authorization": "Bearer wrong"})
        docs = http.get("/docs")
    assert (
        unauthenticated.status_code == 401
        and unauthenticated.json()["error"]["code"] == "UNAUTHORIZED"
    )
    assert docs.status_code == 200 and docs.text == "docs"


def outcomes(seed: int, count: int = 60) -> list[int]:
    with served(Faults.parse("429=0.2,500=0.1,truncate=0.1", seed=seed)) as http:
        return [http.get("/v1/project", headers=AUTH).status_code for _ in range(count)]


def test_the_same_seed_gives_the_same_faults():
    first, again, other = outcomes(11), outcomes(11), outcomes(12)
    assert first == again and first != other
    assert {429, 500, 200} <= set(first)


def test_rates_are_honoured():
    picker = FaultPicker(Faults.parse("429=0.1,500=0.05,timeout=0.02,truncate=0.01", seed=5))
    counts = Counter(picker.pick()[0] for _ in range(20_000))
    expected = {"429": 2000, "500": 1000, "timeout": 400, "truncate": 200, None: 16_400}
    for kind, mean in expected.items():
        assert abs(counts[kind] - mean) < 5 * mean**0.5, kind  # within 5 sigma


def test_faults_on_the_reference_app_carry_its_rate_limit_headers():
    from pipelines.reference.vemetric.app import create_app
    from pipelines.reference.vemetric.dataset import load_dataset

    app = with_faults(create_app(load_dataset(TINY)), Faults.parse("429=1"))
    with TestClient(app) as http:
        answers = [http.get("/v1/project", headers=AUTH) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["99", "98", "97"]
    assert all(a.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED" for a in answers)
