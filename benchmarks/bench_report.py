"""How fast the weekly report renders over a 1,000,000-event warehouse, charts included.

Goal (2 cores): gathering the numbers from the snapshot, drawing the charts and rendering
the HTML (email and standalone forms, CSS inlined, plain text) in under 5 s, measured in the
process that makes the report (imports reported apart, as a scheduled run pays them once).
Run: ``.venv/bin/python benchmarks/bench_report.py [--events 1000000] [--days 30]``.

The warehouse is shaped like a month of daily syncs and built the way bench_models.py builds
its own (raw tables generated in DuckDB, no API), plus the API's per-day breakdowns by
channel, referrer and device that the report reads; then the models are rebuilt and a
snapshot published. The report is the project's ``weekly`` (reports/reports.yaml) for the
Monday after the third full week, compared with the week before.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_models, run as a script

GOAL_SECONDS = 5.0
START = date(2026, 1, 5)  # a Monday: week 3 is 19..25 Jan, reported on Mon 26 Jan
AS_OF = datetime(2026, 1, 26, 7, tzinfo=UTC)
BREAKDOWNS = {
    "referrerType": ["direct", "search", "social", "email", "paid", "llm"],
    "referrer": ["Direct / None", "Google", "Newsletter", "LinkedIn", "ChatGPT", "Bing",
                 "Reddit", "Hacker News", "DuckDuckGo", "Twitter"],
    "deviceType": ["desktop", "mobile", "tablet"],
}


def build_warehouse(path: Path, events: int, days: int) -> float:
    """Raw tables for ``days`` daily syncs, models rebuilt, snapshot published; seconds."""
    from bench_models import land_day_rows, land_events, land_funnels

    from pipelines import models, raw_vemetric, warehouse

    began = time.perf_counter()
    synced = datetime(2026, 3, 1, tzinfo=UTC)
    last = START + timedelta(days=days - 1)
    with warehouse.writer(path) as conn:
        raw_vemetric.ensure_schema(conn)
        land_events(conn, events, START, days, synced)
        land_day_rows(conn, START, last, synced, whole_window=False)
        land_funnels(conn, synced)
        land_breakdowns(conn, START, last, synced)
    models.build(path, full=True)
    warehouse.publish_snapshot(path)
    return time.perf_counter() - began


def land_breakdowns(conn, first: date, last: date, synced_at: datetime) -> None:
    """The API's grouped answers for each synced day, as daily syncs land them."""
    for token, values in BREAKDOWNS.items():
        conn.execute("""
            insert into raw_vemetric.analytics (date_from, date_to, group_by, group_value,
                                                users, pageviews, events, synced_at)
            select d::date, d::date, $token, v,
                   100 + hash(d, v) % 900, 300 + hash(v, d) % 3000, hash(d) % 200, $at
            from generate_series($first::timestamp, $last::timestamp, interval 1 day) g(d),
                 unnest($values) u(v)""",
                     {"token": token, "values": values, "first": first, "last": last,
                      "at": synced_at})


def make_once(path: Path, out: Path) -> dict[str, float]:
    """Gather, render and write the weekly report; seconds per stage."""
    from pipelines import warehouse
    from pipelines.reports.config import load_reports
    from pipelines.reports.data import gather
    from pipelines.reports.render import render
    from pipelines.reports.runner import write_html

    times = {}
    began = time.perf_counter()
    conn = warehouse.connect(path)
    try:
        report = gather(conn, load_reports()["weekly"], AS_OF)
    finally:
        conn.close()
    times["gather (queries + charts)"] = time.perf_counter() - began
    mark = time.perf_counter()
    rendered = render(report)
    write_html(rendered, report.header.period, out)
    times["render + write"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - began
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--repeat", type=int, default=3, help="warm runs after the first")
    args = parser.parse_args()

    began = time.perf_counter()
    import pipelines.reports.data  # noqa: F401  (altair, duckdb, polars, jinja2, css-inline)
    import pipelines.reports.render  # noqa: F401
    imports = time.perf_counter() - began

    path = args.dir / f"bench-report-{args.events}.duckdb"
    path.unlink(missing_ok=True)
    built = build_warehouse(path, args.events, args.days)
    print(f"{args.events:,} events over {args.days} days: warehouse built in {built:.1f} s; "
          f"imports {imports:.2f} s (paid once per process)")

    out = args.dir / "bench-report-out"
    first = make_once(path, out)
    warm = [make_once(path, out)["total"] for _ in range(args.repeat)]
    for stage, seconds in first.items():
        print(f"first report  {stage:<26} {seconds:6.2f} s")
    if warm:
        print(f"warm reports  total (median of {len(warm)})     {statistics.median(warm):6.2f} s "
              f"(min {min(warm):.2f}, max {max(warm):.2f})")
    total = first["total"]
    print(f"first report {total:.2f} s   goal {GOAL_SECONDS:.0f} s   ratio "
          f"{total / GOAL_SECONDS:.3f}   {'OK' if total < GOAL_SECONDS else 'OVER GOAL'}")
    for leftover in path.parent.glob(path.stem + "*"):  # the file, its snapshots, pointer
        shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
