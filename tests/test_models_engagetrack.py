"""EngageTrack's staging models feed the conformed marts, the warehouse helpers work on them,
and the reconciliation of timelines against the API's own figures passes on generated data and
names what differs when a figure is off."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pipelines import models, reconcile_engagetrack, warehouse
from pipelines import raw_engagetrack as raw
from pipelines.breakdowns import breakdown_frame
from pipelines.cli import app as cli
from pipelines.connectors.engagetrack import EngageTrackConnector
from pipelines.reference.engagetrack.app import create_app
from pipelines.reference.engagetrack.dataset import load_dataset
from pipelines.reference.engagetrack.generate import ORG_ID, SITE_ID, generate
from tests.test_sync_engagetrack import BASE, QUICK, WINDOW, connect, land_all

START, DAYS = date(2026, 1, 5), 4


@pytest.fixture(scope="module")
def tiny_warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "wh.duckdb"
    with TestClient(create_app(load_dataset(Path(__file__).parent / "fixtures" / "engagetrack"
                                            / "tiny.json"))) as http:
        land_all(connect(http), path)
    models.build(path, full=True)
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """A small generated site, synced in two windows (so both ranges are reconciled)."""
    out = tmp_path_factory.mktemp("generated")
    generate(out / "data", users=60, days=DAYS, seed=11, start=START)
    key = json.loads((out / "data" / "fixture.json").read_text())["organizations"][0][
        "api_keys"][0]["key"]
    path = out / "wh.duckdb"
    with TestClient(create_app(load_dataset(out / "data"))) as http:
        connector = EngageTrackConnector.connect(BASE, key, ORG_ID, http=http, policy=QUICK)
        middle = START + timedelta(days=1)
        land_all(connector, path, raw.Window(START, middle), SITE_ID)
        land_all(connector, path, raw.Window(middle + timedelta(days=1),
                                             START + timedelta(days=DAYS - 1)), SITE_ID)
    models.build(path, full=True)
    return path


def query(path: Path, sql: str, **params) -> list[tuple]:
    with warehouse.writer(path) as conn:
        return conn.execute(sql, params or None).fetchall()


def test_marts_hold_the_engagetrack_events_users_and_sessions(tiny_warehouse):
    assert query(tiny_warehouse, "select source, count(*), sum(occurrences) from marts.events "
                                 "group by 1") == [("engagetrack", 16, 16)]
    assert query(tiny_warehouse, "select user_id, identifier, anonymous, country from marts.users "
                                 "where user_id = 'v_bruno'") == [("v_bruno", None, True, "DE")]
    # each source session id is one session (none has a 30-minute gap)
    assert query(tiny_warehouse, "select count(*) from marts.sessions") == \
        query(tiny_warehouse, "select count(distinct session_id) from marts.events")


def test_event_names_follow_the_conformed_rules(tiny_warehouse):
    rows = query(tiny_warehouse, "select event_id, event_name, is_pageview, origin, path "
                                 "from marts.events where event_id in ('evt_a1', 'evt_b3') "
                                 "order by 1")
    assert rows == [("evt_a1", "", True, "shop.acme.test", "/"),
                    ("evt_b3", "cta", False, "", "/pricing")]


def test_daily_metrics_match_the_api_s_daily_stats(tiny_warehouse):
    local = query(tiny_warehouse, "select day, users, pageviews, events from marts.daily_metrics "
                                  "where dimension = '' order by day")
    api = query(tiny_warehouse, "select date_from, visitors, pageviews, events "
                                "from raw_engagetrack.stats where date_from = date_to "
                                "and visitors > 0 order by 1")
    assert local == api


def test_the_funnel_mart_is_engagetrack_s_own_analysis(tiny_warehouse):
    rows = query(tiny_warehouse, """
        select step_index, step_name, users, conversion_from_previous, conversion_from_first,
               dropoff, funnel_conversion_rate, active_users
        from marts.funnel_steps
        where funnel_id = 'fun_signup' and date_from = $f and date_to = $t order by step_index""",
                 f=WINDOW.first, t=WINDOW.last)
    assert rows == [(0, "Home", 3, 100.0, 100.0, 0, 33.33, 4),
                    (1, "Pricing", 2, 66.67, 66.67, 1, 33.33, 4),
                    (2, "Signed up", 1, 50.0, 33.33, 1, 33.33, 4)]


def test_the_breakdown_helper_works_on_an_engagetrack_site(tiny_warehouse):
    with warehouse.writer(tiny_warehouse) as conn:
        frame = breakdown_frame(conn, "page:path", WINDOW.first, WINDOW.last)
    pages = dict(zip(frame["value"], frame["pageviews"]))
    api = dict(query(tiny_warehouse, "select value, pageviews from raw_engagetrack.breakdowns "
                                     "where breakdown = 'pages'"))
    assert pages == api


def test_reconciliation_passes_on_the_tiny_fixture(tiny_warehouse):
    with warehouse.writer(tiny_warehouse) as conn:
        outcomes = reconcile_engagetrack.reconcile(conn)
    assert outcomes and {o.status for o in outcomes} == {"passed"}
    assert {o.family for o in outcomes} == {f"engagetrack_{f}"
                                            for f in reconcile_engagetrack.FAMILIES}


@pytest.mark.slow  # generates and syncs a small site (several seconds)
def test_reconciliation_passes_on_generated_data(generated):
    with warehouse.writer(generated) as conn:
        outcomes = reconcile_engagetrack.reconcile(conn)
    failed = [(o.describe(), o.differences.rows()) for o in outcomes if o.status != "passed"]
    assert failed == []
    # two windows, each with its days: stats per range; the rest per window (funnels per range)
    ranges = {(o.first, o.last) for o in outcomes}
    assert len(ranges) == 2 + DAYS
    assert sum(o.kind == "breakdowns" for o in outcomes) == 2 * 8


def test_reconciliation_names_what_differs(tmp_path, tiny_warehouse):
    copy = tmp_path / "wh.duckdb"
    copy.write_bytes(tiny_warehouse.read_bytes())
    query(copy, "update raw_engagetrack.stats set sessions = sessions + 1, bounce_rate = 12.5 "
                "where date_from = $f and date_to = $t", f=WINDOW.first, t=WINDOW.last)
    query(copy, "update raw_engagetrack.funnel_analyses set visitors = 9 where step_id = 'st_pricing' "
                "and date_from = $f and date_to = $t", f=WINDOW.first, t=WINDOW.last)
    with warehouse.writer(copy) as conn:
        outcomes = reconcile_engagetrack.reconcile(conn, WINDOW.first, WINDOW.last)
    failed = {o.name: o.differences.rows() for o in outcomes if o.status == "failed"}
    assert failed == {
        "stats totals 2026-02-10..2026-02-16": [("", "sessions", "6", "5"),
                                               ("", "bounce_rate", "12.5", "20")],
        "funnels fun_signup 2026-02-10..2026-02-16": [("st_pricing", "visitors", "9", "2")],
    }


def test_funnelhouse_check_reports_engagetrack_s_families(tiny_warehouse):
    done = CliRunner().invoke(cli, ["check", "--warehouse", str(tiny_warehouse)])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "reconcile engagetrack_stats: passed (8 passed)",
        "reconcile engagetrack_breakdowns: passed (8 passed)",
        "reconcile engagetrack_revenue: passed (1 passed)",
        "reconcile engagetrack_goals: passed (1 passed)",
        "reconcile engagetrack_funnels: passed (16 passed)",
    ]


def test_the_funnel_helper_resolves_an_engagetrack_funnel_by_name(tiny_warehouse):
    from pipelines.analysis import resolve_steps
    from pipelines.funnels import funnel_frame

    with warehouse.writer(tiny_warehouse) as conn:
        steps = resolve_steps(conn, "Signup")
        frame = funnel_frame(conn, steps, WINDOW.first, WINDOW.last)
    assert [s["filter"] for s in steps] == [
        {"type": "page", "path": {"operator": "eq", "value": "/"}},
        {"type": "page", "path": {"operator": "eq", "value": "/pricing"}},
        {"type": "event", "name": {"operator": "eq", "value": "signup"}}]
    # over these few days the helper's funnel and EngageTrack's own analysis agree
    assert frame.sort("step_index")["users"].to_list() == [3, 2, 1]
