"""Keys, scopes, plan gate, sessions, key management and the per-key rate limit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from pipelines.reference.engagetrack.app import create_app

from .conftest import KEYS, ORG, SHOP, bearer


@pytest.mark.parametrize("key", ["expired", "revoked", "et_live_" + "0" * 32, "garbage"])
def test_unknown_expired_or_revoked_keys_get_the_seed_401(http, key):
    answer = http.get(ORG + "/sites", headers=bearer(key))
    assert (answer.status_code, answer.json()) == (401, {"error": "Invalid or expired API key"})


def test_missing_header_is_401(http):
    answer = http.get(ORG + "/sites")
    assert answer.status_code == 401
    assert answer.json() == {"error": "Missing Authorization header. Use Bearer <key>"}


def test_maker_plan_key_gets_402_and_the_gate_is_a_server_option(tiny):
    url = "/api/v1/organizations/org_maker/sites"
    with TestClient(create_app(tiny)) as http:
        answer = http.get(url, headers=bearer("maker"))
        assert (answer.status_code, answer.json()) == \
            (402, {"error": "API key access requires a Startup plan or higher"})
    with TestClient(create_app(tiny, plan_gate_on_data=False)) as http:
        assert http.get(url, headers=bearer("maker")).status_code == 200


@pytest.mark.parametrize(
    ("path", "scope"),
    [("/visitors", "visitors:read"), ("/funnels", "funnels:read"), ("/goals", "goals:read"),
     ("/annotations", "annotations:read")],
)
def test_missing_scope_is_403_naming_it(http, path, scope):
    answer = http.get(SHOP + path, headers=bearer("report"))
    assert (answer.status_code, answer.json()) == \
        (403, {"error": f"API key missing required scope: {scope}"})


def test_write_scope_does_not_imply_read_and_read_does_not_allow_write(http):
    body = {"name": "Two", "steps": [{"pattern": "/"}, {"pattern": "/pricing"}]}
    answer = http.post(SHOP + "/funnels", headers=bearer("sync"), json=body)
    assert answer.json() == {"error": "API key missing required scope: funnels:write"}
    created = http.post(SHOP + "/funnels", headers=bearer("writer"), json=body)
    assert created.status_code == 201
    assert [s["order"] for s in created.json()["data"]["steps"]] == [1, 2]
    assert [s["match_type"] for s in created.json()["data"]["steps"]] == ["contains", "contains"]


def test_other_organizations_and_unknown_sites_are_404(http):
    answer = http.get("/api/v1/organizations/org_maker/sites", headers=bearer("sync"))
    assert (answer.status_code, answer.json()) == (404, {"error": "Organization not found"})
    answer = http.get(ORG + "/sites/site_nope", headers=bearer("sync"))
    assert (answer.status_code, answer.json()) == (404, {"error": "Site not found"})


def login(http, email="ana@acme.test", password="correct horse battery") -> str:
    answer = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["token"]


def test_login_gives_a_session_that_manages_keys_and_api_keys_are_refused_there(http):
    assert http.post("/api/v1/auth/login", json={"email": "ana@acme.test", "password": "x"}) \
        .json() == {"error": "Invalid email or password"}
    refused = http.get(ORG + "/api-keys", headers=bearer("sync"))
    assert refused.status_code == 403
    assert refused.json()["error"].startswith("API keys cannot manage API keys")
    session = {"Authorization": f"Bearer {login(http)}"}
    listing = http.get(ORG + "/api-keys", headers=session).json()["data"]
    assert [k["id"] for k in listing] == ["key_sync", "key_report", "key_writer", "key_expired"]
    assert listing[0]["key_preview"] == "****0001"
    assert all(KEYS["sync"] not in str(k) for k in listing)


def test_created_key_is_shown_once_works_at_once_and_revocation_is_immediate(http):
    session = {"Authorization": f"Bearer {login(http)}"}
    body = {"name": "Data Warehouse Sync", "scopes": ["analytics:read", "sites:read"],
            "expires_at": "2026-12-31T23:59:59Z"}
    created = http.post(ORG + "/api-keys", headers=session, json=body)
    assert created.status_code == 201
    data = created.json()["data"]
    assert data["key"].startswith("et_live_") and len(data["key"]) == 40
    assert data["expires_at"] == "2026-12-31T23:59:59Z"
    assert http.get(ORG + "/sites", headers=bearer(data["key"])).status_code == 200
    listed = [k for k in http.get(ORG + "/api-keys", headers=session).json()["data"]
              if k["id"] == data["id"]]
    assert "key" not in listed[0] and listed[0]["key_preview"] == "****" + data["key"][-4:]
    assert http.delete(f"{ORG}/api-keys/{data['id']}", headers=session).status_code == 200
    assert http.get(ORG + "/sites", headers=bearer(data["key"])).status_code == 401


def test_key_creation_on_maker_plan_is_402_and_bad_bodies_are_400(http):
    session = {"Authorization": f"Bearer {login(http, 'max@maker.test', 'maker pass 1')}"}
    answer = http.post("/api/v1/organizations/org_maker/api-keys", headers=session,
                       json={"name": "x", "scopes": ["sites:read"]})
    assert (answer.status_code, answer.json()) == \
        (402, {"error": "API key access requires a Startup plan or higher"})
    session = {"Authorization": f"Bearer {login(http)}"}
    bad = http.post(ORG + "/api-keys", headers=session, json={"name": "x", "scopes": ["all"]})
    assert bad.status_code == 400 and bad.json()["error"].startswith("Invalid scopes.0:")
    past = http.post(ORG + "/api-keys", headers=session,
                     json={"name": "x", "scopes": ["sites:read"], "expires_at": "2026-01-01T00:00:00Z"})
    assert past.json() == {"error": "Invalid expires_at: must be in the future"}


def test_rate_limit_is_per_key_with_unix_reset_and_the_seed_429(tiny):
    moment = datetime(2026, 3, 14, 12, 0, 0, tzinfo=UTC)
    app = create_app(tiny, rate_limit=2, clock=lambda: moment)
    with TestClient(app) as http:
        first = http.get(ORG + "/sites", headers=bearer("sync"))
        assert first.headers["x-ratelimit-limit"] == "2"
        assert first.headers["x-ratelimit-remaining"] == "1"
        assert first.headers["x-ratelimit-reset"] == str(int(moment.timestamp()) + 60)
        http.get(ORG + "/sites", headers=bearer("sync"))
        limited = http.get(ORG + "/sites", headers=bearer("sync"))
        assert limited.status_code == 429
        assert limited.json() == {"error": "Rate limit exceeded. Retry after 2026-03-14T12:01:00Z"}
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert http.get(ORG + "/sites", headers=bearer("report")).status_code == 200


def test_a_missing_scope_answers_before_the_body_or_parameters_are_validated(http):
    assert http.post(SHOP + "/funnels", headers=bearer("sync"), json={}).status_code == 403
    assert http.post(SHOP + "/funnels", headers=bearer("writer"), json={}).status_code == 400
    assert http.get(SHOP + "/visitors?limit=0", headers=bearer("report")).status_code == 403
    assert http.patch(SHOP + "/goals/nope", headers=bearer("sync"), json={}).json() == \
        {"error": "API key missing required scope: goals:write"}
