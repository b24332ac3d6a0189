"""The EngageTrack connector against the reference app (tiny.json), in-process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipelines.connectors.engagetrack import (
    EngageTrackConnector,
    MissingScopesError,
    api_key_from_env,
)
from pipelines.connectors.errors import (
    AuthError,
    MissingCredentialsError,
    NotFoundError,
    PlanGateError,
)
from pipelines.reference.engagetrack.app import create_app
from pipelines.reference.engagetrack.dataset import Dataset, load_dataset
from pipelines.reference.engagetrack.errors import FAULT_PATHS, fault_body
from pipelines.reference.faults import Faults, with_faults

TINY = Path(__file__).parents[1] / "fixtures" / "engagetrack" / "tiny.json"
BASE = "http://engagetrack.test/api/v1"
SYNC = "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0001"
REPORT = "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0002"
WRITER = "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0003"
EXPIRED = "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0004"
MAKER = "et_live_6b2f6b2f6b2f6b2f6b2f6b2f6b2f0001"


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    return load_dataset(TINY)


@pytest.fixture
def http(tiny) -> Iterator[TestClient]:
    with TestClient(create_app(tiny)) as client:
        yield client


def connector(http, key: str = SYNC, org: str = "org_acme", **options) -> EngageTrackConnector:
    return EngageTrackConnector.connect(BASE, key, org, http=http, **options)


def test_preflight_passes_for_the_read_key_and_lists_sites(http):
    report = connector(http).preflight()
    assert [s["id"] for s in report.sites] == ["site_shop", "site_blog"]
    assert report.unneeded_write_scopes == ()


def test_a_base_url_without_the_api_root_is_named_at_preflight(http):
    # The reference server prints its address; EngageTrack's root is that plus /api/v1.
    bare = EngageTrackConnector.connect("http://engagetrack.test", SYNC, "org_acme", http=http)
    with pytest.raises(NotFoundError) as caught:
        bare.preflight()
    assert "is http://engagetrack.test EngageTrack's API root? It ends in /api/v1" \
        in str(caught.value)


def test_preflight_names_every_missing_scope_at_once(http):
    with pytest.raises(MissingScopesError) as caught:
        connector(http, REPORT).preflight("site_shop")
    assert caught.value.scopes == ("funnels:read", "goals:read", "visitors:read", "annotations:read")
    assert "API key missing required scope(s): funnels:read, goals:read, visitors:read, " \
           "annotations:read" in str(caught.value)


def test_preflight_warns_about_write_scopes_without_writing(http, caplog):
    et = connector(http, WRITER)
    with caplog.at_level(logging.WARNING, logger="pipelines.connectors.engagetrack"):
        report = et.preflight("site_shop")
    assert report.unneeded_write_scopes == ("goals:write", "funnels:write", "annotations:write")
    assert "goals:write, funnels:write, annotations:write" in caplog.text
    assert [f["id"] for f in et.funnels("site_shop")] == ["fun_signup", "fun_features"]
    assert len(et.annotations("site_shop")) == 2


def test_expired_key_and_maker_plan_fail_with_the_servers_words(http):
    with pytest.raises(AuthError, match="401 .*Invalid or expired API key.*ENGAGETRACK_API_KEY"):
        connector(http, EXPIRED).preflight()
    with pytest.raises(PlanGateError, match="402 .*API key access requires a Startup plan"):
        connector(http, MAKER, "org_maker").preflight()


def test_visitors_and_timelines_page_by_number_to_the_total(http):
    et = connector(http, page_size=3)
    pages = list(et.visitor_pages("site_shop"))
    assert [[v["id"] for v in page] for page in pages] == \
        [["v_7f3a", "v_alice", "v_carla"], ["v_bruno"]]
    timeline = list(et.timeline_pages("site_shop", "v_alice"))
    assert [len(p) for p in timeline] == [3, 3, 1]
    window = list(et.timeline_pages("site_shop", "v_alice", date(2026, 2, 16), date(2026, 2, 16)))
    assert [[e["id"] for e in p] for p in window] == [["evt_a7", "evt_a6"]]
    assert et.stats.calls["GET /organizations/org_acme/sites/site_shop/visitors"] == 2  # pages


def test_analytics_calls_and_funnel_analysis(http):
    et = connector(http)
    day = et.site_stats("site_shop", first=date(2026, 2, 16), last=date(2026, 2, 16))
    assert (day["visitors"], day["pageviews"]) == (2, 3)
    rows = [r for page in et.breakdown_pages("site_shop", "sources", date(2026, 1, 19),
                                              date(2026, 2, 17)) for r in page]
    assert [r["source"] for r in rows] == ["Direct", "Google", "Bing", "Newsletter", "Twitter"]
    steps = et.analyze_funnel("site_shop", "fun_signup", date(2026, 2, 10), date(2026, 2, 17))
    assert [s["visitors"] for s in steps] == [3, 2, 1]
    assert et.revenue("site_shop", date(2026, 2, 1), date(2026, 2, 17))["total_revenue"] == 49.0


def test_injected_429s_and_500s_are_retried_through_the_shared_core(tiny):
    app = with_faults(create_app(tiny), Faults.parse("429=0.3,500=0.2", seed=4),
                      paths=FAULT_PATHS, error_body=fault_body)
    with TestClient(app) as faulty:
        et = connector(faulty, page_size=2)
        visitors = [v["id"] for page in et.visitor_pages("site_shop") for v in page]
        assert visitors == ["v_7f3a", "v_alice", "v_carla", "v_bruno"]
        assert sum(et.stats.retries.values()) > 0


def test_the_key_comes_from_the_environment():
    assert api_key_from_env({"ENGAGETRACK_API_KEY": " et_live_x "}) == "et_live_x"
    with pytest.raises(MissingCredentialsError, match="ENGAGETRACK_API_KEY is not set"):
        api_key_from_env({})
