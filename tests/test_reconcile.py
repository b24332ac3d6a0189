"""Models against the reference server: generated data synced through the real job, models
built, and every grouping and funnel reconciled with what the API said."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines import warehouse
from pipelines.cli import app
from pipelines.funnels import funnel_frame
from pipelines.models import discover
from pipelines.reconcile import NOT_REBUILDABLE, reconcile, summary_lines
from pipelines.sample import SampleSpec, build_sample_warehouse

SPEC = SampleSpec()
REBUILDABLE = ("aggregate", "interval", "pages", "events", "funnels")


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory):
    return build_sample_warehouse(tmp_path_factory.getbasetemp() / "sample-warehouse", SPEC)


@pytest.fixture
def copy(sample_warehouse, tmp_path):
    target = tmp_path / "warehouse.duckdb"
    shutil.copyfile(sample_warehouse, target)
    return target


def test_every_rebuildable_grouping_and_funnel_agrees_with_the_api(sample_warehouse):
    with duckdb.connect(str(sample_warehouse), read_only=True) as conn:
        outcomes = reconcile(conn)
        windows = conn.execute("select count(distinct (date_from, date_to)) from "
                               "raw_vemetric.funnel_results").fetchone()[0]
    by_family: dict[str, set[str]] = {}
    for outcome in outcomes:
        by_family.setdefault(outcome.family, set()).add(outcome.status)
    assert {f: by_family[f] for f in REBUILDABLE} == {f: {"passed"} for f in REBUILDABLE}
    assert {f: by_family[f] for f in ("locations", "devices", "channels")} == \
        {f: {"not_rebuildable"} for f in ("locations", "devices", "channels")}
    grouped = {o.subject for o in outcomes if o.kind == "analytics"}
    assert {"", "interval:auto", "page:path", "page:origin", "event:name",
            "event:prop:plan"} <= grouped
    # 2 windows and 6 days, 3 funnels each
    assert windows == 8 and sum(o.kind == "funnel" for o in outcomes) == 24
    unsure = next(o for o in outcomes if o.subject == "country")
    assert unsure.reason == NOT_REBUILDABLE["country"]


def test_a_changed_api_answer_fails_its_check_with_the_differing_rows(copy):
    with duckdb.connect(str(copy)) as conn:
        conn.execute("update raw_vemetric.analytics set users = users + 1, bounce_rate = 12.5 "
                     "where group_by = '' and date_from = $d and date_to = $d",
                     {"d": SPEC.start})
        conn.execute("update raw_vemetric.funnel_results set active_users = 999 "
                     "where date_from = $d and date_to = $d", {"d": SPEC.start})
        outcomes = reconcile(conn, SPEC.start, SPEC.start)
    failed = [o for o in outcomes if o.status == "failed"]
    assert {o.kind for o in failed} == {"analytics", "funnel"}
    aggregate = next(o for o in failed if o.kind == "analytics")
    assert aggregate.differences["metric"].to_list() == ["users", "bounceRate"]
    assert aggregate.differences["api"][1] == "12.5"
    funnel = next(o for o in failed if o.kind == "funnel")
    assert funnel.differences.filter(funnel.differences["metric"] == "activeUsers")["api"] \
        .to_list() == ["999"]
    lines = summary_lines(outcomes)
    assert lines[0].startswith("reconcile aggregate: FAILED (1 failed); first: FAILED: "
                               f"analytics aggregate {SPEC.start}..{SPEC.start}")


def test_visit_duration_is_not_passed_when_sessions_touch_the_edge_of_the_synced_days(copy):
    with duckdb.connect(str(copy)) as conn:
        # Forget that the day before the traffic was synced, and move the project's first
        # event back: sessions in the first 30 minutes may then have started earlier.
        conn.execute("delete from raw_vemetric.analytics where date_from = $d",
                     {"d": SPEC.first})
        conn.execute("update raw_vemetric.project set first_event_at = '2025-01-01'")
        conn.execute("update marts.sessions set started_at = $t where session_id = "
                     "(select min(session_id) from marts.sessions where day = $d)",
                     {"t": f"{SPEC.start}T00:10:00Z", "d": SPEC.start})
        early = conn.execute("select count(*) from marts.sessions where started_at < $t",
                             {"t": f"{SPEC.start}T00:30:00Z"}).fetchone()[0]
        outcomes = reconcile(conn, SPEC.start, SPEC.start)
    aggregate = next(o for o in outcomes if o.kind == "analytics" and o.subject == "")
    assert early >= 1
    assert aggregate.status == "not_rebuildable"
    assert aggregate.reason.startswith(f"visitDuration: {early} session(s) starting in the range")


def test_the_analyst_funnel_with_defaults_is_the_mart(sample_warehouse):
    with duckdb.connect(str(sample_warehouse), read_only=True) as conn:
        funnels = conn.execute("select id, steps from raw_vemetric.funnels").fetchall()
        ranges = conn.execute("select distinct date_from, date_to from marts.funnel_steps"
                              ).fetchall()
        for funnel_id, steps in funnels:
            for first, last in ranges:
                mart = conn.execute(
                    "select users, conversion_from_previous, median_seconds_to_convert "
                    "from marts.funnel_steps where funnel_id = $id and date_from = $f and "
                    "date_to = $l order by step_index",
                    {"id": funnel_id, "f": first, "l": last}).fetchall()
                ours = funnel_frame(conn, __import__("orjson").loads(steps), first, last)
                assert ours.select("users", "conversion_from_previous",
                                   "median_seconds_to_convert").rows() == mart


def test_the_sync_built_the_models_and_published_them(sample_warehouse):
    snapshot = warehouse.current_snapshot(sample_warehouse)
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        days = conn.execute("select min(day), max(day) from marts.daily_metrics").fetchone()
        state = {r[0] for r in conn.execute("select model from _models.state").fetchall()}
    assert days == (SPEC.start, SPEC.start + timedelta(days=SPEC.days - 1))
    assert state == {m.name for m in discover()}


def test_check_command_reports_each_family_and_fails_on_a_difference(copy):
    runner = CliRunner()
    ok = runner.invoke(app, ["check", "--warehouse", str(copy)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines()[0] == "reconcile aggregate: passed (8 passed)"
    with duckdb.connect(str(copy)) as conn:
        conn.execute("update raw_vemetric.analytics set pageviews = 0 where group_by = "
                     "'page:path'")
    bad = runner.invoke(app, ["check", "--warehouse", str(copy), "--from",
                              str(SPEC.first), "--to", str(SPEC.last)])
    assert bad.exit_code == 1
    assert "reconcile pages: FAILED (2 passed, 2 failed)" in bad.output
    nothing = runner.invoke(app, ["check", "--warehouse", str(copy), "--from", "2030-01-01"])
    assert nothing.exit_code == 1
    assert "nothing to check: no synced range lies inside --from/--to" in nothing.output


def test_build_command_rebuilds_everything_with_full(copy):
    result = CliRunner().invoke(app, ["build", "--full", "--warehouse", str(copy)])
    assert result.exit_code == 0, result.output
    assert "marts.funnel_steps" in result.output and "full rebuild" in result.output
    again = CliRunner().invoke(app, ["build", "--warehouse", str(copy)])
    assert [line.split()[1] for line in again.output.splitlines() if line.startswith("marts.")] \
        == ["view"] + ["unchanged"] * 4   # marts.events is a view
    assert date.today() >= SPEC.start  # the sample lies in the past: nothing syncs "now"
