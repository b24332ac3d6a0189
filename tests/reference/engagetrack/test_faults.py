"""The shared fault injector in front of EngageTrack: its paths and its error bodies."""

from __future__ import annotations

from starlette.testclient import TestClient

from pipelines.reference.engagetrack.app import create_app
from pipelines.reference.engagetrack.errors import FAULT_PATHS, fault_body, reset_text
from pipelines.reference.faults import Faults, with_faults

from .conftest import ORG, bearer


def test_injected_429_and_500_use_engagetrack_bodies_and_honest_headers(tiny):
    for kind, status in (("429", 429), ("500", 500)):
        app = with_faults(create_app(tiny, rate_limit=600), Faults.parse(f"{kind}=1"),
                          paths=FAULT_PATHS, error_body=fault_body)
        with TestClient(app) as http:
            answer = http.get(ORG + "/sites", headers=bearer("sync"))
        assert answer.status_code == status
        reset = answer.headers["x-ratelimit-reset"]
        if kind == "429":
            assert answer.json() == {"error": f"Rate limit exceeded. Retry after {reset_text(int(reset))}"}
            assert answer.headers["x-ratelimit-remaining"] == "599"
        else:
            assert answer.json() == {"error": "Internal server error"}


def test_unauthenticated_and_login_requests_are_never_faulted(tiny):
    app = with_faults(create_app(tiny), Faults.parse("500=1"), paths=FAULT_PATHS,
                      error_body=fault_body)
    with TestClient(app) as http:
        assert http.get(ORG + "/sites").status_code == 401
        login = http.post("/api/v1/auth/login", json={"email": "ana@acme.test", "password": "nope"})
        assert login.status_code == 401
