"""The whole Vemetric sync against the reference server on tiny.json, over real HTTP on
127.0.0.1: clean runs, faults, SIGKILL and re-run, auth and plan failures, the key kept out of
every file, the CLI."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from pipelines import sync, warehouse
from pipelines.cli import app as cli
from pipelines.connectors._http import RetryPolicy
from pipelines.connectors.planning import VemetricShape, vemetric_requests
from pipelines.connectors.vemetric import VemetricConnector
from pipelines.defs.resources import VemetricApi
from pipelines.reference.faults import Faults, with_faults
from pipelines.reference.serving import ServerThread
from pipelines.reference.vemetric.app import create_app
from pipelines.reference.vemetric.dataset import load_dataset
from tests.vemetric_pages import raw_tables

ROOT = Path(__file__).parents[1]
TINY = ROOT / "tests" / "fixtures" / "vemetric" / "tiny.json"
KEY = "vem_abcdefghijklmnopqrstuvwxyz123456"
REVOKED = "vem_revoked0revoked0revoked0revoked0"
FREE_PLAN = "vem_freeplanfreeplanfreeplanfreeplan"
FIRST, LAST = date(2026, 1, 19), date(2026, 1, 20)
QUICK = RetryPolicy(attempts=30, transient_attempts=30, wait_initial=0.001, wait_max=0.01, max_header_wait=0.01, reset_margin=0.0)


class QuickRetries(VemetricApi):
    """The real connector, retrying without the production waits (tests only)."""

    def connector(self):
        if self._connector is None:
            self._connector = VemetricConnector.connect(self.base_url, self.api_key, policy=QUICK)
        return self._connector


def api(url: str) -> QuickRetries:
    return QuickRetries(base_url=url, api_key=dg.EnvVar("VEMETRIC_API_KEY"))


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(TINY)


@pytest.fixture(scope="module")
def server(dataset):
    with ServerThread(create_app(dataset, rate_limit=1_000_000)) as running:
        yield running


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("VEMETRIC_API_KEY", KEY)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return KEY


@pytest.fixture(scope="module")
def clean(server, tmp_path_factory):
    """One uninterrupted sync of the range: the reference every other run is compared with."""
    path = tmp_path_factory.mktemp("clean") / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VEMETRIC_API_KEY", KEY)
        patch.delenv("DAGSTER_HOME", raising=False)
        result = sync.run_sync(FIRST, LAST, warehouse_path=path, vemetric=api(server.url))
    return path, result, raw_tables(path)


def tiny_events() -> list[dict]:
    project = json.loads(TINY.read_text())["projects"][0]
    return [e for e in project["events"] if "2026-01-19" <= e["createdAt"][:10] <= "2026-01-20"]


def test_a_clean_sync_lands_every_event_of_the_range(clean):
    path, result, tables = clean
    events = tiny_events()
    assert result.rows["user_events"] == len(tables["user_events"])
    occurrences = sum(row[10] for row in tables["user_events"])  # the `occurrences` column
    assert occurrences == len(events)
    users = {e["userId"] for e in events}
    assert {row[0] for row in tables["users"]} == users
    assert result.rows["project"] == 1 and result.rows["funnels"] == 2
    assert tables["_quarantine"] == []
    assert warehouse.current_snapshot(path) == result.snapshot


def test_the_apis_own_totals_agree_with_the_landed_events(clean):
    path, _, _ = clean
    with warehouse.writer(path) as conn:
        api_total = conn.execute(
            "select users, pageviews, events from raw_vemetric.analytics where group_by = '' "
            "and date_from = $f and date_to = $l", {"f": FIRST, "l": LAST}).fetchone()
        landed = conn.execute(
            "select count(distinct user_id), sum(occurrences) filter (is_page_view), "
            "sum(occurrences) filter (not is_page_view) from raw_vemetric.user_events").fetchone()
        days = conn.execute(
            "select date_from, users from raw_vemetric.analytics where group_by = '' "
            "and date_from = date_to order by 1").fetchall()
    assert api_total == landed
    assert [d for d, _ in days] == [FIRST, LAST]


def test_requests_made_are_exactly_the_planned_calls(clean):
    path, result, tables = clean
    with warehouse.writer(path) as conn:
        properties = conn.execute(
            "select list(distinct group_by) from raw_vemetric.analytics "
            "where group_by like 'event:prop:%'").fetchone()[0]
    users = len({row[0] for row in tables["users"]})
    shape = VemetricShape(
        days=2, users=users, user_event_pages=users, funnels=2,  # every user fits one page
        event_properties=tuple(sorted(p.removeprefix("event:prop:") for p in properties)),
        range_probe=True,
    )
    assert result.requests == sum(group.count for group in vemetric_requests(shape))


def test_a_sync_under_faults_lands_exactly_the_clean_rows(dataset, clean, tmp_path, key):
    faults = Faults.parse("429=0.1,500=0.08,truncate=0.08", seed=11)
    with ServerThread(with_faults(create_app(dataset, rate_limit=1_000_000), faults)) as faulty:
        result = sync.run_sync(FIRST, LAST, warehouse_path=tmp_path / "w.duckdb",
                               vemetric=api(faulty.url))
    assert raw_tables(tmp_path / "w.duckdb") == clean[2]
    assert result.requests > clean[1].requests  # the faults did happen and were retried


def test_a_revoked_key_stops_at_once_and_changes_nothing(server, clean, tmp_path, key,
                                                        monkeypatch):
    path = tmp_path / "w.duckdb"
    shutil.copyfile(clean[0], path)
    before = path.read_bytes()
    monkeypatch.setenv("VEMETRIC_API_KEY", REVOKED)
    with pytest.raises(sync.SyncError) as failure:
        sync.run_sync(FIRST, LAST, warehouse_path=path, vemetric=api(server.url))
    assert str(failure.value) == (
        "raw_vemetric__project: AuthError: GET /v1/project: 401 UNAUTHORIZED: Invalid or revoked "
        "API key (VEMETRIC_API_KEY is unknown to Vemetric or was revoked; create a new key in "
        "the project's settings)")
    assert path.read_bytes() == before
    assert not warehouse.pointer_file(path).exists()


def test_a_range_beyond_the_plan_stops_with_the_servers_message(server, tmp_path, key,
                                                               monkeypatch):
    monkeypatch.setenv("VEMETRIC_API_KEY", FREE_PLAN)
    path = tmp_path / "w.duckdb"
    with pytest.raises(sync.SyncError, match=r"403 PLAN_LIMIT_EXCEEDED: Upgrade to the "
                                             r"Professional plan for longer data retention"):
        sync.run_sync(date(2025, 12, 20), date(2025, 12, 21), warehouse_path=path,
                      vemetric=api(server.url))
    assert not path.exists()  # nothing was written, not even an empty schema


class KillSwitch:
    """ASGI wrapper: after ``after`` API requests, hold every answer until released, and say
    so, so a test can SIGKILL the client mid-run at a known point."""

    def __init__(self, app, after: int):
        self.app, self.after, self.seen = app, after, 0
        self.reached = threading.Event()
        self.release = threading.Event()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            self.seen += 1
            if self.seen > self.after:
                self.reached.set()
                while not self.release.is_set():
                    await asyncio.sleep(0.01)
        await self.app(scope, receive, send)


@pytest.mark.slow
@pytest.mark.parametrize("after", [12, 30])
def test_a_sync_killed_mid_run_converges_on_rerun(dataset, server, clean, tmp_path, key, after):
    path = tmp_path / "w.duckdb"
    switch = KillSwitch(create_app(dataset, rate_limit=1_000_000), after)
    with ServerThread(switch) as held:
        child = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "sync", "vemetric", "--from", str(FIRST),
             "--to", str(LAST), "--base-url", held.url, "--warehouse", str(path)],
            cwd=ROOT, env={**os.environ, "VEMETRIC_API_KEY": KEY},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert switch.reached.wait(timeout=120), "the sync never got that far"
            child.kill()
            assert child.wait(timeout=30) == -9
        finally:
            switch.release.set()
    sync.run_sync(FIRST, LAST, warehouse_path=path, vemetric=api(server.url))
    assert raw_tables(path) == clean[2]


def test_the_cli_syncs_shows_a_summary_and_never_writes_the_key(server, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("VEMETRIC_API_KEY", KEY)
    path = tmp_path / "wh" / "warehouse.duckdb"
    outcome = CliRunner().invoke(cli, ["sync", "vemetric", "--from", str(FIRST), "--to", str(LAST),
                                       "--base-url", server.url, "--warehouse", str(path)])
    assert outcome.exit_code == 0, outcome.output
    assert "Synced vemetric 2026-01-19 .. 2026-01-20 into raw_vemetric:" in outcome.output
    assert "│ user_events    │    9 │" in outcome.output
    assert "requests; snapshot " in outcome.output
    assert KEY not in outcome.output
    written = [p for d in (home, path.parent) for p in d.rglob("*") if p.is_file()]
    # The check must have looked at real files: the warehouse, its snapshot, Dagster's storage.
    assert {p.suffix for p in written} >= {".duckdb", ".db"}
    assert [p for p in written if KEY.encode() in p.read_bytes()] == []


def test_the_cli_turns_a_missing_key_into_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("VEMETRIC_API_KEY", raising=False)
    outcome = CliRunner().invoke(cli, ["sync", "vemetric", "--from", "2026-01-19", "--to",
                                       "2026-01-20", "--warehouse", str(tmp_path / "w.duckdb")])
    assert outcome.exit_code == 1
    assert outcome.output.strip().splitlines()[-1] == \
        "Error: VEMETRIC_API_KEY is not set: export a Vemetric API key"


def test_the_plan_command_prints_the_planned_requests(server, monkeypatch):
    monkeypatch.setenv("VEMETRIC_API_KEY", KEY)
    outcome = CliRunner().invoke(cli, ["plan", "vemetric", "--from", str(FIRST), "--to", str(LAST),
                                       "--base-url", server.url])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.startswith("Vemetric sync 2026-01-19 .. 2026-01-20\n")
    assert Counter(line.split()[0] for line in outcome.output.splitlines())["Assumes"] >= 1


def test_the_plan_reads_event_properties_from_the_warehouse_and_predicts_the_sync(
        server, clean, monkeypatch):
    path, result, _ = clean
    monkeypatch.setenv("VEMETRIC_API_KEY", KEY)
    with_history = CliRunner().invoke(cli, [
        "plan", "vemetric", "--from", str(FIRST), "--to", str(LAST), "--base-url", server.url,
        "--warehouse", str(path)])
    assert with_history.exit_code == 0, with_history.output
    planned = next(line for line in with_history.output.splitlines() if " requests" in line
                   and line.split()[0].replace(",", "").isdigit())
    assert planned.startswith(f"{result.requests:,} requests, about ")  # exact: no range
    assert "the 2 seen in the warehouse (button, plan)" in with_history.output

    no_history = CliRunner().invoke(cli, [
        "plan", "vemetric", "--from", str(FIRST), "--to", str(LAST), "--base-url", server.url,
        "--warehouse", str(path.with_name("none.duckdb"))])
    assert "no event property breakdowns (none seen in the warehouse yet)" in no_history.output


class Recording:
    """A progress observer that keeps what the sync told it."""

    def __init__(self):
        self.connectors, self.expected, self.rows_seen = [], [], Counter()

    def connected(self, connector):
        self.connectors.append(connector)

    def expect(self, requests):
        made = sum(c.stats.snapshot()["requests"] for c in self.connectors)
        self.expected.append((made, requests))

    def rows(self, table, count):
        self.rows_seen[table] += count


def test_the_progress_display_is_told_how_many_requests_are_to_come(server, key, tmp_path):
    observer = Recording()
    result = sync.run_sync(FIRST, LAST, warehouse_path=tmp_path / "w.duckdb",
                           vemetric=api(server.url), observer=observer)
    users = {e["userId"] for e in tiny_events()}
    # Once the range's users are listed: one events request per user is still to come.
    [(made, to_come)] = observer.expected
    assert to_come == len(users)
    assert made < result.requests - to_come  # said before the users' pages were asked for
    assert observer.rows_seen["users"] == len(users)


def test_the_eta_counts_down_the_requests_still_to_come():
    from io import StringIO
    from time import monotonic

    from rich.console import Console

    class Made:
        def __init__(self):
            self.requests = 10

        def snapshot(self):
            return {"requests": self.requests}

    connector = type("Connector", (), {"stats": Made()})()
    display = sync.RichProgress(Console(file=StringIO()))
    display.connected(connector)
    assert "ETA ?" in str(display.render())  # nothing said yet of what is to come
    display.expect(30)  # 10 made, 30 more to come: 40 in all
    display.started = monotonic() - 10.0  # 10 requests in 10 s: 30 more take 30 s
    assert "ETA 0m30s" in str(display.render())
    connector.stats.requests = 40
    assert "ETA finishing" in str(display.render())
