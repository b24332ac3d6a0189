"""Generated EngageTrack sites end to end, as a user runs them: sync, reconcile, and the plan
against the run's real request count (a few small seeds and sizes, in-process, a few seconds).

Two bugs these would have caught: a funnel step reached in the same second as the previous
one (the API orders on milliseconds; timelines gave whole seconds, so the warehouse could not
rebuild the step), and timelines of visitors with more events than a page holds (extra
requests the plan's total did not show as unknown)."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from pipelines import models, reconcile_engagetrack, warehouse
from pipelines import raw_engagetrack as raw
from pipelines.connectors.engagetrack import EngageTrackConnector
from pipelines.connectors.planning_engagetrack import (
    EngageTrackShape,
    engagetrack_requests,
    plan_engagetrack,
    timeline_bound,
)
from pipelines.reference.engagetrack.app import create_app
from pipelines.reference.engagetrack.dataset import load_dataset
from pipelines.reference.engagetrack.generate import ORG_ID, SITE_ID, generate
from tests.test_sync_engagetrack import BASE, QUICK, land_all

START = date(2026, 2, 1)
MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# (users, days, seed, page size): the lead's reproduction (same-second funnel steps, visitors
# with over 100 events), a small one, and small pages (visitor listing and timelines paged)
CASES = [(200, 7, 3, 100), (40, 3, 1, 100), (80, 2, 5, 25)]


def _site(data: Path):
    dataset = load_dataset(data)
    return next(iter(dataset.organizations[ORG_ID].sites.values())), dataset


def _timeline_pages(site, window: raw.Window, page_size: int) -> tuple[int, int]:
    """(visitors with events in the window, pages their timelines take), from the data."""
    events = site.events.filter(pl.col("timestamp").dt.date().is_between(window.first, window.last))
    per_visitor = events.group_by("visitor_id").len()["len"].cast(pl.Int64)
    return per_visitor.len(), int((-(-per_visitor // page_size)).sum())


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "u{}-d{}-s{}-p{}".format(*c))
def synced(request, tmp_path_factory):
    users, days, seed, page_size = request.param
    out = tmp_path_factory.mktemp("generated")
    generate(out / "data", users=users, days=days, seed=seed, start=START)
    key = json.loads((out / "data" / "fixture.json").read_text())["organizations"][0][
        "api_keys"][0]["key"]
    window = raw.Window(START, START + timedelta(days=days - 1))
    site, dataset = _site(out / "data")
    path = out / "wh.duckdb"
    with TestClient(create_app(dataset)) as http:
        def connect() -> EngageTrackConnector:
            return EngageTrackConnector.connect(BASE, key, ORG_ID, http=http, policy=QUICK,
                                                page_size=page_size)

        plan = plan_engagetrack(connect(), SITE_ID, window.first, window.last)
        connector = connect()
        connector.preflight(SITE_ID)  # as the sync's first asset does
        land_all(connector, path, window, SITE_ID)
        timeline = http.get(
            f"/api/v1/organizations/{ORG_ID}/sites/{SITE_ID}/visitors/"
            f"{site.events['visitor_id'][0]}/timeline",
            headers={"Authorization": f"Bearer {key}"}).json()["data"]
    models.build(path, full=True)
    return {"path": path, "plan": plan, "stats": connector.stats.snapshot(), "site": site,
            "window": window, "page_size": page_size, "timeline": timeline,
            "funnels": len(site.funnels)}


@pytest.mark.slow  # generates and syncs three small sites (a few seconds each)
def test_reconciliation_passes_on_generated_data(synced):
    with warehouse.writer(synced["path"]) as conn:
        outcomes = reconcile_engagetrack.reconcile(conn)
    failed = [(o.describe(), o.differences.rows()) for o in outcomes if o.status != "passed"]
    assert failed == []
    assert {o.kind for o in outcomes} == set(reconcile_engagetrack.FAMILIES)


@pytest.mark.slow
def test_event_times_carry_milliseconds(synced):
    timeline = synced["timeline"]
    assert timeline["events"]
    for moment in [e["timestamp"] for e in timeline["events"]] + [
            timeline["visitor"]["first_seen_at"], timeline["visitor"]["last_seen_at"]]:
        assert MILLIS.match(moment), moment


@pytest.mark.slow
def test_the_run_makes_exactly_the_requests_the_data_implies(synced):
    """One source of truth: engagetrack_requests with the timeline pages the data implies is
    the run's count, group by group where the connector's stats tell groups apart."""
    visitors, pages = _timeline_pages(synced["site"], synced["window"], synced["page_size"])
    days = (synced["window"].last - synced["window"].first).days + 1
    shape = EngageTrackShape(days=days, visitors=visitors, funnels=synced["funnels"],
                             page_size=synced["page_size"])
    groups = {g.name: g.count for g in engagetrack_requests(shape, timeline_pages=pages)}
    calls = synced["stats"]["calls_by_endpoint"]
    assert synced["stats"]["requests"] == sum(groups.values())
    assert sum(n for e, n in calls.items() if e.endswith("/timeline")) == groups["timelines"]
    assert sum(n for e, n in calls.items() if e.endswith("/analyze")) == \
        groups["funnel analyses"]
    # preflight reads one stats range; the sync the window and each day
    assert calls["GET /organizations/{orgId}/sites/{siteId}/analytics/stats"] == \
        groups["stats"] + 1


@pytest.mark.slow
def test_the_plan_is_exact_or_says_what_it_cannot_know(synced):
    plan, actual = synced["plan"], synced["stats"]["requests"]
    visitors, pages = _timeline_pages(synced["site"], synced["window"], synced["page_size"])
    timelines = next(g for g in plan.groups if g.name == "timelines")
    # everything but the timelines' extra pages is known before the run
    assert actual == plan.requests + (pages - visitors)
    assert plan.requests <= actual <= plan.most_requests
    assert timelines.count == visitors and timelines.most >= pages
    text = plan.describe()
    if plan.most_requests == plan.requests:
        assert actual == plan.requests and "NOT KNOWN" not in text
    else:
        assert "NOT KNOWN before the run" in text
        assert f"({plan.requests:,} to {plan.most_requests:,} requests in all)" in text


def test_timeline_bound_is_tight():
    shape = EngageTrackShape(days=1, visitors=3, funnels=0, page_size=100)
    # one visitor with 201 events and two with 1: 3 + 2 pages, the most 203 events can take
    assert timeline_bound(shape, 203) == 5
    assert timeline_bound(shape, 102) == 3  # 100 events past one each: no extra page certain
    assert timeline_bound(shape, 3) == 3
    assert engagetrack_requests(shape, timeline_pages=4)[5].count == 4
