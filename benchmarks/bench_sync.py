"""Benchmark the Vemetric sync against the reference server on generated datasets.

    .venv/bin/python benchmarks/bench_sync.py                      # 100,000 and 1,000,000 events
    .venv/bin/python benchmarks/bench_sync.py --events 20000 --days 14

For each size it generates a dataset (cached under --data), serves it with the rate limit
lifted (``funnelhouse serve --rate-limit``), then side by side:

- runs ``funnelhouse sync vemetric`` in a child process, sampling the child's RSS;
- runs a bare loop that fetches exactly the same pages with the same connector and discards
  them (no parsing into frames, no validation, no DuckDB).

It reports, per size (goals from issue 4):

- requests made / the lower bound for the range (goal <= 1.05). The lower bound is
  ``planning.vemetric_requests`` on the range's true shape (users, event pages per user,
  breakdown rows, filter values, funnels), without the preflight and plan-gate probe;
- sync throughput / bare-loop throughput over the same pages (goal >= 0.8);
- peak RSS of the sync process (goal: under 1 GB and flat from 100k to 1M events).

With ``--against OLD_CHECKOUT`` it instead times the users-and-events step (what
``benchmarks/run.py`` calls ``funnelhouse``) of this checkout and of another one (a
``git worktree add /tmp/old <commit>``) side by side against one reference server, with the
bare loop (and, with ``--dlt``, dlt's parquet loader) interleaved run by run, and prints
per step: wall time, events/s, peak RSS, CPU seconds, and this checkout's throughput and
peak RSS divided by each other step's, with the load average at start and end::

    .venv/bin/python benchmarks/bench_sync.py --against /tmp/old-sync --events 100000 --runs 3

Not a test: nothing here asserts; numbers go to stdout (and --json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _measure import ROOT, SEED, START, PeakRss, Server, dataset  # noqa: E402

from pipelines.connectors.planning import VemetricShape, pages, vemetric_requests  # noqa: E402
from pipelines.connectors.vemetric import FIELD_TOKENS, VemetricConnector  # noqa: E402
from pipelines.raw_vemetric import METRICS, Window, analytics_groupings  # noqa: E402


def run_sync(url: str, key: str, window: Window, workdir: Path) -> dict:
    """The CLI sync in a child process: wall time, peak RSS (sampled), requests made."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "VEMETRIC_API_KEY": key}
    env.pop("DAGSTER_HOME", None)
    began = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "sync", "vemetric", "--from", str(window.first),
         "--to", str(window.last), "--base-url", url, "--warehouse", str(workdir / "w.duckdb")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = PeakRss(child.pid)
    out, err = child.communicate()
    seconds = time.perf_counter() - began
    peak.stop()
    if child.returncode != 0:
        raise RuntimeError(f"sync failed: {err.strip().splitlines()[-1:]}")
    made = re.search(r"^([\d,]+) requests; snapshot", out, re.MULTILINE)
    if made is None:
        raise RuntimeError(f"no request count in the sync's output: {out[-500:]!r}")
    requests = int(made.group(1).replace(",", ""))
    return {"seconds": seconds, "peak_rss_mb": peak.mb, "requests": requests}


def bare_loop(url: str, key: str, window: Window, funnel_ids: list[str],
              properties: list[str]) -> dict:
    """The same pages the sync asks for, fetched and thrown away."""
    span = window.date_range()
    began = time.perf_counter()
    with VemetricConnector.connect(url, key) as api:
        api.preflight(span)
        api.project()
        api.funnels()
        for fid in funnel_ids:
            for r in [window, *window.days]:
                api.funnel_results(fid, r.date_range())
        users = [u["id"] for page in api.user_pages(span) for u in page]
        for uid in users:
            for _ in api.user_event_pages(uid, span):
                pass
        for grouping in analytics_groupings(properties):
            for _ in api.analytics_pages(span, metrics=list(METRICS), group_by=grouping):
                pass
        for day in window.days:
            for _ in api.analytics_pages(day.date_range(), metrics=list(METRICS)):
                pass
        for _ in api.filter_value_pages(span, list(FIELD_TOKENS)):
            pass
        requests = api.stats.requests
    return {"seconds": time.perf_counter() - began, "requests": requests}


def lower_bound(data: Path, warehouse: Path, window: Window) -> int:
    """The fewest requests that fetch the range: the planned calls on the range's true shape,
    without the preflight and the plan-gate probe."""
    import duckdb

    events = pl.scan_parquet(data / "events.parquet").filter(
        pl.col("createdAt").is_between(window.start, window.end, closed="left"))
    per_user = events.group_by("userId").len().collect()
    fixture = json.loads((data / "fixture.json").read_text())
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        breakdowns = dict(conn.execute(
            "select group_by, count(*) from raw_vemetric.analytics where date_from = $f and "
            "date_to = $l and group_by not in ('', 'interval:auto') group by 1",
            {"f": window.first, "l": window.last}).fetchall())
        values = dict(conn.execute("select field, count(*) from raw_vemetric.filter_values "
                                   "group by 1").fetchall())
    finally:
        conn.close()
    shape = VemetricShape(
        days=len(window.days), users=per_user.height,
        user_event_pages=sum(pages(n, 1000) for n in per_user["len"]),
        funnels=len(fixture["projects"][0]["funnels"]),
        event_properties=tuple(sorted(t.removeprefix("event:prop:") for t in breakdowns
                                      if t.startswith("event:prop:"))),
        breakdown_rows=breakdowns, filter_values=values,
    )
    needed = [g for g in vemetric_requests(shape) if g.name not in ("preflight", "plan-gate probe")]
    return sum(g.count for g in needed)


def bench(events: int, days: int, data: Path) -> dict:
    path = dataset(data, events, days)
    key = json.loads((path / "fixture.json").read_text())["projects"][0]["apiKeys"][0]["key"]
    window = Window(START, START + timedelta(days=days - 1))
    with Server(path) as server, tempfile.TemporaryDirectory() as tmp:
        # The reference server builds per-user indexes lazily: warm it with one sync first so
        # the measured sync and bare loop both meet a warm server.
        run_sync(server.url, key, window, Path(tmp) / "warm")
        synced = run_sync(server.url, key, window, Path(tmp))
        import duckdb

        conn = duckdb.connect(str(Path(tmp) / "w.duckdb"), read_only=True)
        funnel_ids = [r[0] for r in conn.execute("select id from raw_vemetric.funnels order by id").fetchall()]
        properties = [r[0].removeprefix("event:prop:") for r in conn.execute(
            "select distinct group_by from raw_vemetric.analytics where group_by like 'event:prop:%' "
            "order by 1").fetchall()]
        landed = conn.execute("select sum(occurrences) from raw_vemetric.user_events").fetchone()[0]
        conn.close()
        bare = bare_loop(server.url, key, window, funnel_ids, properties)
        bound = lower_bound(path, Path(tmp) / "w.duckdb", window)
    return {
        "events": events, "days": days, "events_landed": landed,
        "requests": synced["requests"], "lower_bound": bound,
        "requests_ratio": round(synced["requests"] / bound, 4),
        "sync_seconds": round(synced["seconds"], 2), "bare_seconds": round(bare["seconds"], 2),
        "bare_requests": bare["requests"],
        "throughput_ratio": round(bare["seconds"] / synced["seconds"], 3),
        "peak_rss_mb": round(synced["peak_rss_mb"], 1),
    }


# --- this checkout's users-and-events step against another checkout's, side by side ----------

def compare(events: int, data: Path, against: Path, runs: int, with_dlt: bool) -> list[dict]:
    """Each step ``runs`` times, interleaved run by run, against one reference server (this
    checkout's): the steps' own figures and the ratios of this checkout's to each."""
    from _measure import run_child, window_days

    path = dataset(data, events)
    first, last = window_days()
    steps = {"new": ROOT, "old": against.resolve()}
    children = [("new", "funnelhouse"), ("old", "funnelhouse"), ("new", "bare-loop")]
    children += [("new", "dlt-parquet")] if with_dlt else []
    samples: dict[str, list] = {f"{who} {step}": [] for who, step in children}
    with Server(path) as server, tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        # The reference server builds per-user indexes lazily: one untimed pass over every
        # page first, so that no step meets a cold server.
        run_child([str(ROOT / "benchmarks" / "run.py"), "--child", "bare-loop", "--data",
                   str(path), "--url", server.url, "--work", str(Path(tmp) / "warm"),
                   "--first", str(first), "--last", str(last)])
        for run in range(runs):
            for who, step in children:
                work = Path(tmp) / f"{run}-{who}-{step}"
                began = _cpu_of_children()
                sample = run_child([str(steps[who] / "benchmarks" / "run.py"), "--child", step,
                                    "--data", str(path), "--url", server.url, "--work",
                                    str(work), "--first", str(first), "--last", str(last)],
                                   env={"RUNTIME__DLTHUB_TELEMETRY": "false"})
                samples[f"{who} {step}"].append((sample, _cpu_of_children() - began))
                print(f"{events:>9,} events run {run + 1}/{runs} {who} {step:<12} "
                      f"{sample.seconds:7.2f} s {sample.peak_rss_mb:6.0f} MB "
                      f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    return [_compared(events, name, runs_of, samples["new funnelhouse"])
            for name, runs_of in samples.items()]


def _cpu_of_children() -> float:
    """CPU seconds of this process's finished children (the measured step's whole process)."""
    usage = os.times()
    return usage.children_user + usage.children_system


def _compared(events: int, name: str, runs_of: list, new: list) -> dict:
    from _measure import spread

    rate = [s.rows / s.seconds for s, _ in runs_of]
    new_rate = [s.rows / s.seconds for s, _ in new]
    med = lambda values: round(spread(values).median, 3)  # noqa: E731
    return {
        "events": events, "step": name, "rows": runs_of[0][0].rows,
        "seconds": [round(s.seconds, 2) for s, _ in runs_of],
        "events_per_s": med(rate), "peak_rss_mb": [round(s.peak_rss_mb) for s, _ in runs_of],
        "cpu_s": [round(cpu, 2) for _, cpu in runs_of],
        "new_over_step_rate": [round(a / b, 3) for a, b in zip(new_rate, rate)],
        "new_over_step_rss": [round(a.peak_rss_mb / b.peak_rss_mb, 3)
                              for (a, _), (b, _) in zip(new, runs_of)],
    }


def print_comparison(rows: list[dict], load: tuple[float, float]) -> None:
    print(f"load average (1 min) {load[0]:.1f} at the start, {load[1]:.1f} at the end")
    print("| events | step | wall s (runs) | events/s (median) | peak RSS MB (runs) | CPU s (runs) "
          "| new ÷ step, events/s | new ÷ step, peak RSS |")
    print("|---:|---|---|---:|---|---|---|---|")
    for r in rows:
        print(f"| {r['rows']:,} | {r['step']} | {r['seconds']} | {r['events_per_s']:,.0f} | "
              f"{r['peak_rss_mb']} | {r['cpu_s']} | {r['new_over_step_rate']} | "
              f"{r['new_over_step_rss']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--against", type=Path, metavar="CHECKOUT",
                        help="time the users-and-events step of this checkout against that one")
    parser.add_argument("--runs", type=int, default=3, help="runs per step with --against")
    parser.add_argument("--dlt", action="store_true", help="with --against: dlt (parquet) too")
    args = parser.parse_args()
    if args.against is not None:
        load_before = os.getloadavg()[0]
        rows = [r for n in args.events for r in compare(n, args.data, args.against, args.runs,
                                                         args.dlt)]
        print_comparison(rows, (load_before, os.getloadavg()[0]))
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2))
        return
    results = [bench(n, args.days, args.data) for n in args.events]
    for r in results:
        print(f"{r['events']:>9,} events ({r['events_landed']:,} landed): "
              f"requests {r['requests']:,} / lower bound {r['lower_bound']:,} = {r['requests_ratio']} "
              f"(goal <= 1.05); throughput vs bare loop {r['throughput_ratio']} (goal >= 0.8; "
              f"sync {r['sync_seconds']} s, bare {r['bare_seconds']} s); "
              f"peak RSS {r['peak_rss_mb']} MB (goal < 1024, flat)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
