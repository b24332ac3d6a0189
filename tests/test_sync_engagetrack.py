"""The EngageTrack sync: landing against the reference app (tiny.json) in-process, and the whole
Dagster job over real HTTP on 127.0.0.1: exact rows, idempotent re-runs, quarantine,
401/402/403 stopping before any write, faults converging, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pipelines import raw_engagetrack as raw
from pipelines import sync, warehouse
from pipelines.cli import app as cli
from pipelines.connectors._http import RetryPolicy
from pipelines.connectors.engagetrack import EngageTrackConnector
from pipelines.connectors.planning_engagetrack import (
    EngageTrackShape,
    engagetrack_requests,
    plan_engagetrack,
)
from pipelines.defs.resources import EngageTrackApi
from pipelines.landing import MalformedAnswer
from pipelines.reference.engagetrack.app import create_app
from pipelines.reference.engagetrack.dataset import load_dataset
from pipelines.reference.engagetrack.errors import FAULT_PATHS, fault_body
from pipelines.reference.faults import Faults, with_faults
from pipelines.reference.serving import ServerThread
from pipelines.reports.config import ReportConfig, Schedule

TINY = Path(__file__).parent / "fixtures" / "engagetrack" / "tiny.json"
BASE = "http://engagetrack.test/api/v1"
KEYS = {
    "sync": "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0001",
    "report": "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0002",  # analytics:read, sites:read only
    "expired": "et_live_5a1e5a1e5a1e5a1e5a1e5a1e5a1e0004",
    "maker": "et_live_6b2f6b2f6b2f6b2f6b2f6b2f6b2f0001",
}
ORG, SITE = "org_acme", "site_shop"
WINDOW = raw.Window(date(2026, 2, 10), date(2026, 2, 16))
AT = datetime(2026, 2, 17, 3, 0, tzinfo=UTC)
QUICK = RetryPolicy(attempts=30, transient_attempts=30, wait_initial=0.001, wait_max=0.01,
                    max_header_wait=0.01, reset_margin=0.0)
SNAPSHOT_TABLES = ("sites", "goals", "funnels", "annotations")


def land_all(connector, path: Path, window: raw.Window = WINDOW, site: str = SITE,
             reports: Sequence[ReportConfig] = (), at: datetime = AT) -> None:
    """Every landing function, in the order the Dagster assets run them (``reports``: the
    declared reports, whose EngageTrack funnel reports' periods are asked for too)."""
    raw.land_sites(connector, path, window, at)
    for land in (raw.land_goals, raw.land_funnels, raw.land_annotations,
                 raw.land_visitors_and_events, raw.land_stats, raw.land_revenue,
                 raw.land_breakdowns, raw.land_goal_stats):
        land(connector, path, window, at, site)
    raw.land_site_funnel_analyses(connector, path, window, at, site, reports)


def tables(path: Path) -> dict[str, list[tuple]]:
    """Every raw table's rows, sorted, without synced_at/quarantined_at."""
    out = {}
    with warehouse.writer(path) as conn:
        for table in raw.TABLES:
            stamp = "quarantined_at" if table == "_quarantine" else "synced_at"
            out[table] = sorted(conn.execute(
                f"select * exclude ({stamp}) from raw_engagetrack.{table}").fetchall(), key=repr)
    return out


@pytest.fixture(scope="module")
def tiny():
    return load_dataset(TINY)


@pytest.fixture
def http(tiny) -> Iterator[TestClient]:
    with TestClient(create_app(tiny)) as client:
        yield client


def connect(http, key: str = "sync", **options) -> EngageTrackConnector:
    return EngageTrackConnector.connect(BASE, KEYS[key], ORG, http=http, policy=QUICK, **options)


@pytest.fixture(scope="module")
def landed_once(tiny, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("landed") / "wh.duckdb"
    with TestClient(create_app(tiny)) as http:
        land_all(connect(http), path)
    return path


@pytest.fixture
def landed(landed_once, tmp_path) -> Path:
    """The window landed once, copied for each test (which may change it)."""
    path = tmp_path / "wh.duckdb"
    path.write_bytes(landed_once.read_bytes())
    return path


# --- landing ---------------------------------------------------------------------------------

def test_window_rows_are_exactly_the_fixture_s(landed):
    assert raw.window_rows(landed, WINDOW, SITE) == {
        "sites": 2, "goals": 3, "funnels": 2, "annotations": 2,
        # alice on 02-10 and 02-16, bruno on 02-11, carla on 02-12, v_7f3a on 02-16
        "visitors": 5, "timeline_events": 16,
        "stats": 8,  # the window and its 7 days
        "breakdowns": 5 + 5 + 4 + 2 + 3 + 4 + 3 + 4,  # values of the 8 dimensions
        "revenue": 1, "goal_stats": 2,  # the two active goals
        "funnel_analyses": (3 + 2) * 8,  # two funnels of 3 and 2 steps, 8 ranges
    }


def test_events_keep_the_api_s_ids_and_fields(landed):
    with warehouse.writer(landed) as conn:
        row = conn.execute(
            "select event_id, visitor_id, session_id, type, name, timestamp, path, revenue, "
            "currency, properties, partition_date from raw_engagetrack.timeline_events "
            "where event_id = 'evt_b3'").fetchone()
    assert row[:5] == ("evt_b3", "v_bruno", "s_b1", "click", "cta")
    assert row[5] == datetime(2026, 2, 11, 14, 4, tzinfo=UTC)
    assert row[6:] == ("/pricing", 0.0, "", '{"button":"cta"}', date(2026, 2, 11))


def test_a_re_run_of_the_window_changes_nothing(http, landed):
    before = tables(landed)
    land_all(connect(http), landed)
    assert tables(landed) == before


def test_a_day_re_run_replaces_only_that_day(http, landed):
    before = tables(landed)
    day = raw.Window(date(2026, 2, 11), date(2026, 2, 11))
    land_all(connect(http), landed, day)
    after = tables(landed)
    for table in ("visitors", "timeline_events", *SNAPSHOT_TABLES):
        assert after[table] == before[table], table
    # The day's own ranges are added beside the window's (which it lies inside, unchanged).
    with warehouse.writer(landed) as conn:
        ranges = conn.execute("select distinct date_from, date_to from raw_engagetrack.revenue "
                              "order by all").fetchall()
    assert ranges == [(date(2026, 2, 10), date(2026, 2, 16)), (date(2026, 2, 11), date(2026, 2, 11))]


def test_stats_agree_with_the_api_s_own_answer(http, landed):
    with warehouse.writer(landed) as conn:
        row = conn.execute("select visitors, sessions, pageviews, events from raw_engagetrack.stats "
                           "where date_from = '2026-02-10' and date_to = '2026-02-16'").fetchone()
    answer = connect(http).site_stats(SITE, first=WINDOW.first, last=WINDOW.last)
    assert row == (answer["visitors"], answer["sessions"], answer["pageviews"], answer["events"])


def test_a_bad_value_is_quarantined_with_its_checks_and_the_rest_lands(http, tmp_path):
    class NegativeRevenue(EngageTrackConnector):
        def timeline_pages(self, site_id, visitor_id, first=None, last=None):
            for page in super().timeline_pages(site_id, visitor_id, first, last):
                yield [dict(e, revenue=-1.0) if e["id"] == "evt_b3" else e for e in page]

    base = connect(http)
    odd = NegativeRevenue(base.api, ORG)
    path = tmp_path / "wh.duckdb"
    landed = raw.land_visitors_and_events(odd, path, WINDOW, AT, SITE)
    assert landed.quarantined == {"visitors": 0, "timeline_events": 1}
    assert landed.rows["timeline_events"] == 15
    records = raw.quarantined(path, "timeline_events", WINDOW, SITE)
    assert records["checks"].to_list() == ["revenue:greater_than_or_equal_to(0)"]
    assert json.loads(records["raw"][0])["id"] == "evt_b3"  # the API's field names


def test_an_event_outside_the_window_is_quarantined(http, tmp_path):
    class Leaky(EngageTrackConnector):
        def timeline_pages(self, site_id, visitor_id, first=None, last=None):
            yield from super().timeline_pages(site_id, visitor_id, None, None)

    path = tmp_path / "wh.duckdb"
    day = raw.Window(date(2026, 2, 10), date(2026, 2, 10))
    landed = raw.land_visitors_and_events(Leaky(connect(http).api, ORG), path, day, AT, SITE)
    records = raw.quarantined(path, "timeline_events", day, SITE)
    assert landed.quarantined["timeline_events"] == records.height > 0
    assert set(records["checks"]) == {"timestamp:greater_than_or_equal_to(2026-02-10 00:00:00+00:00)",
                                      "timestamp:less_than(2026-02-11 00:00:00+00:00)"}


def test_a_malformed_page_fails_before_anything_is_written(http, landed):
    class Broken(EngageTrackConnector):
        def site_stats(self, site_id, **kwargs):
            return {**super().site_stats(site_id, **kwargs), "pageviews": "many"}

    before = tables(landed)
    with pytest.raises(MalformedAnswer, match="expected int 'pageviews'"):
        raw.land_stats(Broken(connect(http).api, ORG), landed, WINDOW, AT, SITE)
    assert tables(landed) == before


def test_an_answer_for_another_period_is_malformed(http, tmp_path):
    class Shifted(EngageTrackConnector):
        def revenue(self, site_id, first, last):
            return super().revenue(site_id, first, last.replace(day=last.day - 1))

    with pytest.raises(MalformedAnswer, match="answered period"):
        raw.land_revenue(Shifted(connect(http).api, ORG), tmp_path / "w.duckdb", WINDOW, AT, SITE)


@pytest.mark.slow  # a Dagster run (or a faulty landing) of several seconds
def test_faults_converge_to_the_clean_tables(tiny, landed, tmp_path):
    app = with_faults(create_app(tiny), Faults.parse("429=0.2,500=0.2", seed=3),
                      paths=FAULT_PATHS, error_body=fault_body)
    path = tmp_path / "faulty.duckdb"
    with TestClient(app) as faulty:
        land_all(connect(faulty, page_size=2), path)
    assert tables(path) == tables(landed)


def test_requests_match_the_plan(http, tmp_path):
    connector = connect(http)
    connector.preflight(SITE)
    land_all(connector, tmp_path / "wh.duckdb")
    shape = EngageTrackShape(days=7, visitors=4, funnels=2)
    assert connector.stats.snapshot()["requests"] == sum(
        g.count for g in engagetrack_requests(shape))
    plan = plan_engagetrack(connect(http), SITE, WINDOW.first, WINDOW.last, reports=[])
    assert plan.requests == plan.most_requests == connector.stats.snapshot()["requests"]


# An EngageTrack funnel report over the last 7 days, compared with the 7 before, and one over
# the last week: a sync of 10 .. 16 Feb asks for the periods ending on each of its days
# beyond the window itself (4..10 .. 9..15: 6; the previous periods 28 Jan..3 Feb .. 3..9: 7;
# last week 9..15 is one of them): 13 more analyses of the Signup funnel.
SIGNUP_REPORTS = [
    ReportConfig(name="signup_7d", title="Signup", template="funnel", source="engagetrack",
                 funnel="Signup", range="last_7_days", schedule=Schedule(cron="0 7 * * *")),
    ReportConfig(name="signup_week", title="Signup", template="funnel", source="engagetrack",
                 funnel="fun_signup", range="last_week", comparison="none",
                 schedule=Schedule(cron="0 7 * * 1")),
]


def test_requests_match_the_plan_with_funnel_reports_declared(http, tmp_path):
    connector = connect(http)
    connector.preflight(SITE)
    land_all(connector, tmp_path / "wh.duckdb", reports=SIGNUP_REPORTS)
    plan = plan_engagetrack(connect(http), SITE, WINDOW.first, WINDOW.last,
                            reports=SIGNUP_REPORTS)
    groups = {g.name: g.count for g in plan.groups}
    assert groups["report funnel analyses"] == 13
    shape = EngageTrackShape(days=7, visitors=4, funnels=2, report_analyses=13)
    assert connector.stats.snapshot()["requests"] == plan.requests == plan.most_requests == sum(
        g.count for g in engagetrack_requests(shape))
    with warehouse.writer(tmp_path / "wh.duckdb") as conn:
        extra = conn.execute(
            "select count(distinct (date_from, date_to)) from raw_engagetrack.funnel_analyses "
            "where funnel_id = 'fun_signup' and not (date_from >= $first and date_to <= $last)",
            WINDOW.params()).fetchone()[0]
    assert extra == 13


# --- the Dagster job over HTTP -----------------------------------------------------------------

class QuickRetries(EngageTrackApi):
    """The real connector, retrying without the production waits (tests only)."""

    def connector(self):
        if self._connector is None:
            self._connector = EngageTrackConnector.connect(self.base_url, self.api_key,
                                                           self.org_id, policy=QUICK)
        return self._connector


@pytest.fixture(scope="module")
def server(tiny):
    with ServerThread(create_app(tiny, rate_limit=1_000_000)) as running:
        yield running


def resource(server, key_env: str = "ENGAGETRACK_API_KEY", site: str = SITE) -> QuickRetries:
    return QuickRetries(base_url=server.url + "/api/v1", api_key=dg.EnvVar(key_env),
                        org_id=ORG, site_id=site)


@pytest.fixture(scope="module")
def clean(server, tmp_path_factory):
    path = tmp_path_factory.mktemp("clean") / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENGAGETRACK_API_KEY", KEYS["sync"])
        patch.delenv("DAGSTER_HOME", raising=False)
        result = sync.run_sync(WINDOW.first, WINDOW.last, api="engagetrack", warehouse_path=path,
                               engagetrack=resource(server))
    return path, result


@pytest.mark.slow  # a Dagster run (or a faulty landing) of several seconds
def test_the_job_lands_the_window_and_publishes_a_snapshot(clean, landed):
    path, result = clean
    assert (result.api, result.schema) == ("engagetrack", "raw_engagetrack")
    assert result.rows == raw.window_rows(landed, WINDOW, SITE)
    shape = EngageTrackShape(days=7, visitors=4, funnels=2)
    assert result.requests == sum(g.count for g in engagetrack_requests(shape))
    assert tables(path) == tables(landed)
    with duckdb.connect(str(result.snapshot), read_only=True) as snap:
        assert snap.execute("select count(*) from raw_engagetrack.timeline_events").fetchone() == (16,)
        assert snap.execute("select count(*) from marts.events").fetchone() == (16,)
    # the models job reconciled the timelines with the API's figures; only EngageTrack's show
    assert [(c.name, c.passed) for c in result.checks] == [
        (f"stg_engagetrack/events reconcile_engagetrack_{f}", True)
        for f in ("stats", "breakdowns", "revenue", "goals", "funnels")]


@pytest.mark.slow
@pytest.mark.parametrize(("key", "message"), [
    ("expired", "401"),
    ("maker", "402"),
    ("report", "funnels:read, goals:read, visitors:read, annotations:read"),
])
def test_401_402_403_stop_at_once_and_change_nothing(clean, server, monkeypatch, key, message):
    path, _ = clean
    before = tables(path)
    monkeypatch.setenv("ET_TEST_KEY", KEYS[key])
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    org = "org_maker" if key == "maker" else ORG
    api = QuickRetries(base_url=server.url + "/api/v1", api_key=dg.EnvVar("ET_TEST_KEY"),
                       org_id=org, site_id="")
    with pytest.raises(sync.SyncError, match=message) as caught:
        sync.run_sync(WINDOW.first, WINDOW.last, api="engagetrack", warehouse_path=path,
                      engagetrack=api)
    assert str(caught.value).startswith("raw_engagetrack__sites:")
    assert tables(path) == before


@pytest.mark.slow  # a Dagster run (or a faulty landing) of several seconds
def test_a_site_of_another_organization_stops_the_preflight(clean, server, monkeypatch):
    path, _ = clean
    monkeypatch.setenv("ENGAGETRACK_API_KEY", KEYS["sync"])
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with pytest.raises(sync.SyncError, match="sites/site_hobby/.*404 NOT_FOUND: Site not found"):
        sync.run_sync(WINDOW.first, WINDOW.last, api="engagetrack", warehouse_path=path,
                      engagetrack=resource(server, site="site_hobby"))


def test_sync_needs_the_key_and_the_organization(monkeypatch, tmp_path):
    monkeypatch.delenv("ENGAGETRACK_API_KEY", raising=False)
    with pytest.raises(sync.SyncError, match="ENGAGETRACK_API_KEY is not set"):
        sync.run_sync(WINDOW.first, WINDOW.last, api="engagetrack", warehouse_path=tmp_path / "w")
    monkeypatch.setenv("ENGAGETRACK_API_KEY", KEYS["sync"])
    monkeypatch.delenv("ENGAGETRACK_ORG_ID", raising=False)
    with pytest.raises(sync.SyncError, match="--org or set ENGAGETRACK_ORG_ID"):
        sync.run_sync(WINDOW.first, WINDOW.last, api="engagetrack", warehouse_path=tmp_path / "w")


# --- CLI -------------------------------------------------------------------------------------

def test_cli_plan_engagetrack(server, monkeypatch):
    monkeypatch.setenv("ENGAGETRACK_API_KEY", KEYS["sync"])
    monkeypatch.setenv("ENGAGETRACK_ORG_ID", ORG)
    monkeypatch.delenv("ENGAGETRACK_SITE_ID", raising=False)
    done = CliRunner().invoke(cli, ["plan", "engagetrack", "--from", "2026-02-10",
                                    "--to", "2026-02-16", "--base-url", server.url + "/api/v1",
                                    "--site", SITE])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0] == "EngageTrack sync of site_shop 2026-02-10 .. 2026-02-16"
    # the server's own X-RateLimit-Limit (this test server allows 1,000,000 a minute)
    assert lines[-3] == "52 requests, about 0.0 minutes at 1000000 per 60 s"


def reports_file(path: Path, reports: Sequence[ReportConfig]) -> Path:
    entries = {r.name: r.model_dump(exclude={"name"}, exclude_defaults=True) for r in reports}
    path.write_text(json.dumps({"reports": entries}))  # JSON is YAML
    return path


def test_cli_plan_counts_the_declared_funnel_reports(server, monkeypatch, tmp_path):
    monkeypatch.setenv("ENGAGETRACK_API_KEY", KEYS["sync"])
    monkeypatch.setenv("ENGAGETRACK_ORG_ID", ORG)
    monkeypatch.setenv("FUNNELHOUSE_REPORTS_FILE",
                       str(reports_file(tmp_path / "reports.yaml", SIGNUP_REPORTS)))
    done = CliRunner().invoke(cli, ["plan", "engagetrack", "--from", "2026-02-10",
                                    "--to", "2026-02-16", "--base-url", server.url + "/api/v1",
                                    "--site", SITE])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    group = next(line.split() for line in lines if "report funnel analyses" in line)
    assert group[:4] == ["report", "funnel", "analyses", "13"]
    assert lines[-3] == "65 requests, about 0.0 minutes at 1000000 per 60 s"  # 52 + 13


def test_cli_plan_names_a_broken_reports_file(server, monkeypatch, tmp_path):
    monkeypatch.setenv("ENGAGETRACK_API_KEY", KEYS["sync"])
    broken = tmp_path / "reports.yaml"
    broken.write_text("reports: [")
    monkeypatch.setenv("FUNNELHOUSE_REPORTS_FILE", str(broken))
    done = CliRunner().invoke(cli, ["plan", "engagetrack", "--from", "2026-02-10",
                                    "--to", "2026-02-16", "--base-url", server.url + "/api/v1",
                                    "--org", ORG, "--site", SITE])
    assert done.exit_code == 1
    assert f"Error: {broken} is not valid YAML" in done.output


@pytest.mark.slow  # a Dagster run of several seconds
def test_the_job_asks_for_the_declared_reports_periods(server, monkeypatch, tmp_path):
    monkeypatch.setenv("ENGAGETRACK_API_KEY", KEYS["sync"])
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("FUNNELHOUSE_REPORTS_FILE",
                       str(reports_file(tmp_path / "reports.yaml", SIGNUP_REPORTS)))
    result = sync.run_sync(WINDOW.first, WINDOW.last, api="engagetrack",
                           warehouse_path=tmp_path / "wh.duckdb", engagetrack=resource(server))
    shape = EngageTrackShape(days=7, visitors=4, funnels=2, report_analyses=13)
    assert result.requests == sum(g.count for g in engagetrack_requests(shape))
    with warehouse.writer(tmp_path / "wh.duckdb") as conn:
        ranges = conn.execute("select count(distinct (funnel_id, date_from, date_to)) "
                              "from raw_engagetrack.funnel_analyses").fetchone()[0]
    assert ranges == 2 * 8 + 13


def test_cli_plan_asks_for_a_site_when_the_organization_has_several(server, monkeypatch):
    monkeypatch.setenv("ENGAGETRACK_API_KEY", KEYS["sync"])
    monkeypatch.delenv("ENGAGETRACK_SITE_ID", raising=False)
    done = CliRunner().invoke(cli, ["plan", "engagetrack", "--from", "2026-02-10",
                                    "--to", "2026-02-16", "--base-url", server.url + "/api/v1",
                                    "--org", ORG])
    assert done.exit_code == 1
    assert "has 2 sites (site_shop, site_blog): set ENGAGETRACK_SITE_ID or --site" in done.output


def test_cli_refuses_org_and_site_for_vemetric():
    done = CliRunner().invoke(cli, ["plan", "vemetric", "--from", "2026-02-10",
                                    "--to", "2026-02-16", "--site", SITE])
    assert done.exit_code == 1
    assert "--org and --site apply to engagetrack only" in done.output
