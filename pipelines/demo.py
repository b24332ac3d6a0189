"""The main job on embedded defaults: generated data → reference API → sync → DuckDB →
models → report.

``funnelhouse demo`` (and ``./dev demo``) runs it end to end on one machine with no
configuration: it generates a small deterministic Vemetric dataset, serves it with the
reference server on a free port of 127.0.0.1, syncs the whole range into a DuckDB warehouse
through the same Dagster job a schedule runs (which also rebuilds the SQL models, reconciles
them with the API's own aggregates and publishes the read-only snapshot), and writes the
weekly report as an HTML file.

The dataset's API key is handed to the sync through ``$VEMETRIC_API_KEY`` in this process
only, exactly as a real deployment passes it; it is never printed or written anywhere but the
generated fixture (which is the reference server's own key store).
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from pipelines.connectors.vemetric import API_KEY_ENV

DEFAULT_WORKDIR = Path(".funnelhouse") / "demo"
# The real API allows 100 requests a minute; the demo's server allows more so that the whole
# run takes seconds. `funnelhouse serve --rate-limit 100` shows the real pacing.
DEMO_RATE_LIMIT = 6000


@dataclass(frozen=True)
class DemoSettings:
    workdir: Path = DEFAULT_WORKDIR
    users: int = 400
    days: int = 14
    seed: int = 7
    # A Sunday: the 14 days are two whole weeks, so the weekly report (last week against the
    # week before) has every day it needs.
    end: date = date(2026, 2, 15)
    rate_limit: int = DEMO_RATE_LIMIT

    @property
    def start(self) -> date:
        return self.end - timedelta(days=self.days - 1)

    @property
    def dataset_dir(self) -> Path:
        return self.workdir / "dataset"

    @property
    def warehouse_path(self) -> Path:
        return self.workdir / "warehouse.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.workdir / "reports"

    @property
    def report_time(self) -> datetime:
        """When the demo's weekly report "runs": 07:00 UTC the day after the data ends."""
        return datetime.combine(self.end + timedelta(days=1), time(7), UTC)


def dataset_key(dataset_dir: Path) -> str:
    """The raw API key of the generated project (the reference server's own key store)."""
    fixture = json.loads((dataset_dir / "fixture.json").read_text())
    return fixture["projects"][0]["apiKeys"][0]["key"]


@contextmanager
def api_key_in_environment(key: str):
    """Set ``$VEMETRIC_API_KEY`` for the duration of the sync, then restore what was there."""
    previous = os.environ.get(API_KEY_ENV)
    os.environ[API_KEY_ENV] = key
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(API_KEY_ENV, None)
        else:
            os.environ[API_KEY_ENV] = previous


def prepare(settings: DemoSettings):
    """Generate the dataset afresh (it is deterministic, so this is cheap and repeatable)."""
    from pipelines.reference.vemetric.generate import generate

    if settings.dataset_dir.exists():
        shutil.rmtree(settings.dataset_dir)
    return generate(settings.dataset_dir, users=settings.users, days=settings.days,
                    seed=settings.seed, start=settings.start)


@dataclass
class DemoResult:
    settings: DemoSettings
    generated: object  # GenerateSummary
    sync: object  # SyncResult
    report: object  # ReportResult


def run_demo(settings: DemoSettings, observer=None, say=print) -> DemoResult:
    """Generate, serve, sync (models included), report; ``say`` reports each stage in a line,
    ``observer`` follows the sync."""
    from pipelines.reference.serving import ServerThread
    from pipelines.reference.vemetric.app import create_app
    from pipelines.reference.vemetric.dataset import load_dataset
    from pipelines.reports.config import load_reports
    from pipelines.reports.runner import make_report
    from pipelines.sync import run_sync

    say(f"1/4 generating {settings.users} visitors over {settings.days} days "
        f"({settings.start} .. {settings.end}) into {settings.dataset_dir}")
    generated = prepare(settings)
    say(f"    {generated.events:,} events, {generated.sessions:,} sessions, "
        f"{generated.users:,} identified users")
    app = create_app(load_dataset(settings.dataset_dir), rate_limit=settings.rate_limit)
    with ServerThread(app) as server, api_key_in_environment(dataset_key(settings.dataset_dir)):
        say(f"2/4 reference Vemetric API listening on {server.url} "
            f"(rate limit {settings.rate_limit}/min; the real API allows 100)")
        say(f"3/4 syncing {settings.start} .. {settings.end} into {settings.warehouse_path}, "
            "then building the models and reconciling them with the API")
        synced = run_sync(settings.start, settings.end, base_url=server.url,
                          warehouse_path=settings.warehouse_path, observer=observer)
    say(f"4/4 rendering the weekly report as of {settings.report_time:%Y-%m-%d %H:%M} UTC")
    report = make_report(load_reports()["weekly"], as_of=settings.report_time,
                         warehouse_path=settings.warehouse_path, out_dir=settings.reports_dir)
    return DemoResult(settings, generated, synced, report)
