"""Latency of the Vemetric reference server's query engine on a generated 1,000,000-event dataset.

Goals: a 1000-row page of ``/v1/users/events`` in <= 50 ms, a grouped analytics query in < 1 s.
Run: ``.venv/bin/python benchmarks/bench_reference_server.py [--events 1000000] [--repeat 15]``.
The dataset is generated once into ``--data`` (default: a directory under the system temp dir)
and reused while its ``fixture.json`` exists and it has a user with at least 1000 events in the
range (the generator's power users); otherwise it is generated again.

The user-events pages are those of the user with the most events in the range: full pages of
1000 rows (the API's largest), the first and the second; each line reports the rows it got.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
from fastapi.testclient import TestClient

from pipelines.reference.vemetric.app import create_app
from pipelines.reference.vemetric.dataset import load_dataset
from pipelines.reference.vemetric.generate import generate, users_for_events
from pipelines.reference.vemetric.queries import Period, analytics_rows, user_events

DAYS = 30
GROUPINGS = ["country", "page:path", "event:prop:plan", "interval:auto"]
METRICS = ["users", "pageviews", "events", "bounceRate", "visitDuration"]
PAGE = 1000  # the API's largest page of /v1/users/events


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    """Wall time in ms of each call; the first (cold: builds caches) is reported separately."""
    samples = []
    for _ in range(repeat):
        begin = time.perf_counter()
        call()
        samples.append((time.perf_counter() - begin) * 1000)
    return samples


def report(label: str, samples: list[float], goal_ms: float) -> None:
    cold, warm = samples[0], samples[1:] or samples
    median = statistics.median(warm)
    print(f"{label:<46} cold {cold:8.1f} ms | median {median:7.1f} min {min(warm):7.1f} "
          f"max {max(warm):7.1f} ms | goal {goal_ms:.0f} ms, median/goal {median / goal_ms:.2f}")


def heaviest_user(events: pl.DataFrame) -> tuple[str, int, datetime, datetime]:
    """The user with the most events in the last DAYS days, their count, and that range."""
    last = events["createdAt"].max()
    start = last.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS - 1)
    counts = (events.filter(pl.col("createdAt") >= start).group_by("userId").len()
              .sort("len", "userId", descending=True))
    return counts["userId"][0], int(counts["len"][0]), start, last


def dataset_dir(path: Path, events: int) -> Path:
    if (path / "fixture.json").is_file():
        if heaviest_user(pl.read_parquet(path / "events.parquet"))[1] >= PAGE:
            return path
        print(f"{path} has no user with {PAGE} events (an older generator): generating again")
    begin = time.perf_counter()
    generate(path, users=users_for_events(events, DAYS), days=DAYS, seed=1)
    print(f"generated {path} in {time.perf_counter() - begin:.1f} s")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--data", type=Path,
                        default=Path(tempfile.gettempdir()) / "funnelhouse-bench-vemetric-1m")
    args = parser.parse_args()

    path = dataset_dir(args.data, args.events)
    begin = time.perf_counter()
    dataset = load_dataset(path)
    project = next(iter(dataset.projects.values()))
    print(f"loaded {project.events.height:,} events, {project.sessions.height:,} sessions, "
          f"{project.users.height:,} user rows in {time.perf_counter() - begin:.1f} s")
    raw_key = json.loads((path / "fixture.json").read_text())["projects"][0]["apiKeys"][0]["key"]

    user_id, in_range, start, last = heaviest_user(project.events)
    if in_range < PAGE:
        raise SystemExit(f"no user has {PAGE} events in the range (the most: {in_range})")
    period = Period(start=start, end=None, interval="daily")
    print(f"user {user_id} has the most events in the {DAYS} days from {start:%Y-%m-%d}: "
          f"{in_range:,}, so full pages of {PAGE} rows")

    for offset in (0, PAGE):
        page = dict(filters=[], filters_operator="and", limit=PAGE, offset=offset)
        samples = timed(lambda page=page: user_events(project, period, user_id, **page),
                        args.repeat)
        rows = len(user_events(project, period, user_id, **page))
        report(f"user events, direct, offset {offset}: {rows} rows", samples, 50)

    app = create_app(dataset, now=last, rate_limit=10**9)
    body = {"dateRange": [f"{start:%Y-%m-%d}", f"{last:%Y-%m-%d}"], "limit": PAGE}
    # TestClient is an httpx.Client over the ASGI app: in-process, no socket.
    with TestClient(app, base_url="http://bench") as http:
        http.headers["Authorization"] = f"Bearer {raw_key}"

        def over_http() -> httpx.Response:
            response = http.post("/v1/users/events", params={"id": user_id}, json=body)
            return response.raise_for_status()

        samples = timed(over_http, args.repeat)
        rows = len(over_http().json()["events"])
        report(f"user events, HTTP in-process: {rows} rows", samples, 50)

    for token in GROUPINGS:
        def grouped(token: str = token) -> None:
            analytics_rows(project, period, metrics=METRICS, group_by=token, order_by=None,
                           limit=100, offset=0, filters=[], filters_operator="and")

        report(f"analytics {token}, 5 metrics, {DAYS} days", timed(grouped, args.repeat), 1000)


if __name__ == "__main__":
    main()
