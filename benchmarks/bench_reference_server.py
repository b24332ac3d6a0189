"""Latency of the Vemetric reference server's query engine on a generated 1,000,000-event dataset.

Goals: a 1000-row page of ``/v1/users/events`` in <= 50 ms, a grouped analytics query in < 1 s.
Run: ``.venv/bin/python benchmarks/bench_reference_server.py [--events 1000000] [--repeat 15]``.
The dataset is generated once into ``--data`` (default: a directory under the system temp dir)
and reused while its ``fixture.json`` exists.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from pipelines.reference.vemetric.app import create_app
from pipelines.reference.vemetric.dataset import load_dataset
from pipelines.reference.vemetric.generate import generate, users_for_events
from pipelines.reference.vemetric.queries import Period, analytics_rows, user_events

DAYS = 30
GROUPINGS = ["country", "page:path", "event:prop:plan", "interval:auto"]
METRICS = ["users", "pageviews", "events", "bounceRate", "visitDuration"]


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
    print(f"{label:<44} cold {cold:8.1f} ms | median {median:7.1f} min {min(warm):7.1f} "
          f"max {max(warm):7.1f} ms | goal {goal_ms:.0f} ms, median/goal {median / goal_ms:.2f}")


def dataset_dir(path: Path, events: int) -> Path:
    if not (path / "fixture.json").is_file():
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

    last = project.events["createdAt"].max()
    start = last.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS - 1)
    period = Period(start=start, end=None, interval="daily")
    heavy = project.events.group_by("userId").len().sort("len", descending=True)
    user_id = heavy["userId"][0]
    print(f"user {user_id} has the most events ({heavy['len'][0]}), so the page holds "
          f"min(that, 1000) rows; period from {start:%Y-%m-%d}")

    page = dict(filters=[], filters_operator="and", limit=1000, offset=0)
    report("user events, direct", timed(lambda: user_events(project, period, user_id, **page),
                                         args.repeat), 50)

    app = create_app(dataset, now=last, rate_limit=10**9)
    body = {"dateRange": [f"{start:%Y-%m-%d}", f"{last:%Y-%m-%d}"], "limit": 1000}
    # TestClient is an httpx.Client over the ASGI app: in-process, no socket.
    with TestClient(app, base_url="http://bench") as http:
        http.headers["Authorization"] = f"Bearer {raw_key}"

        def over_http() -> None:
            response = http.post("/v1/users/events", params={"id": user_id}, json=body)
            response.raise_for_status()

        report("user events, HTTP in-process", timed(over_http, args.repeat), 50)

    for token in GROUPINGS:
        def grouped(token: str = token) -> None:
            analytics_rows(project, period, metrics=METRICS, group_by=token, order_by=None,
                           limit=100, offset=0, filters=[], filters_operator="and")

        report(f"analytics {token}, 5 metrics, {DAYS} days", timed(grouped, args.repeat), 1000)


if __name__ == "__main__":
    main()
