"""One benchmark run: funnelhouse vs dlt vs the bare loop vs DuckDB's ceiling (issue 7).

    .venv/bin/python benchmarks/run.py                        # 100,000 and 1,000,000 events (plan below)
    .venv/bin/python benchmarks/run.py --full                 # every step 3 times at both sizes
    .venv/bin/python benchmarks/run.py --quick                # 1,000 events, 1 run: a smoke test
    .venv/bin/python benchmarks/run.py --sizes 10000,100000 --runs 5 --json out.json
    .venv/bin/python benchmarks/run.py --steps report --json b.json   # some steps only
    .venv/bin/python benchmarks/run.py --table out.json b.json        # reprint saved runs

For each size a Vemetric dataset is generated (cached under --data) over 30 days and served by
the reference API in its own process with the rate limit lifted. Then, run after run, each
step runs in its own child process (so one step's memory never counts in another's):

  funnelhouse    the sync's users + events landing (``land_users_and_events``, what the asset
                 ``raw_vemetric_users_and_events`` runs): users list, each user's events,
                 typed, validated, landed in a DuckDB warehouse
  dlt-parquet    dlt's rest_api source on the same endpoints, parquet loader files
  dlt-default    the same with dlt's default loader (insert statements)
  bare-loop      the same requests with bodies thrown away (what the server allows)
  duckdb-load    the same event rows, already in memory, in one CREATE TABLE AS (what DuckDB
                 allows)
  models         the marts rebuilt whole on the funnelhouse warehouse (``models.build``),
                 once the rest of a sync (aggregates, funnels, ...) is landed, untimed
  report         the weekly report rendered to HTML from the built warehouse

The default plan fits 10 minutes on 2 cores: at the smallest size every step runs --runs
times (3) except dlt's default loader (once); each larger size runs once, without dlt (at
1,000,000 events dlt alone would take ~15 minutes a run). ``--full`` runs every step --runs
times at every size. A figure taken fewer times than the others is marked with its runs,
and the steps left out of a size are named under the table.

It prints one table: per size and step the median, min and max over the runs of wall time,
events per second and peak RSS, the requests made, funnelhouse's throughput and peak RSS
divided by the step's, and each step's wall time at the largest size divided by the smallest.
Wall time is the child's timed work (interpreter start and imports excluded, for every step
alike); peak RSS is the child process's, sampled every 50 ms. Not a test: nothing here asserts
a speed; the goals are printed with the measured figure beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _measure import (  # noqa: E402
    DAYS,
    DEFAULT_DATA,
    Sample,
    Server,
    api_key,
    child_result,
    dataset,
    run_child,
    spread,
    window_days,
)

STEPS = {
    "funnelhouse": "funnelhouse sync (users + events)",
    "dlt-parquet": "dlt rest_api, parquet loader",
    "dlt-default": "dlt rest_api, default loader",
    "bare-loop": "bare fetch loop (server ceiling)",
    "duckdb-load": "DuckDB load from memory (ceiling)",
    "models": "rebuild marts (build --full)",
    "report": "render weekly report",
}
SYNC_PEERS = ("dlt-parquet", "dlt-default", "bare-loop", "duckdb-load")
DEFAULT_SIZES = (100_000, 1_000_000)
# One small size: the quick run exists so the benchmark never rots, and its cost is the
# children's start-up, not the data (the size-growth column is tested on its own).
QUICK_SIZES = (1_000,)
# The weekly report "as run" on the Monday after the dataset's fourth week: it covers
# 2026-01-19..25, inside every generated dataset (30 days from 2026-01-01).
REPORT_AS_OF = datetime(2026, 1, 26, 7, 0, tzinfo=UTC)
GOALS = {"vs_dlt": 6.0, "vs_bare": 0.8, "growth": 12.0}
# The default run's plan, so that it fits issue 7's 10 minutes on 2 cores (``--full`` runs
# every step --runs times at every size instead). What a figure costs there, per run: an HTTP
# step is bound by its Python client (httpx ~0.8 ms a request, the server ~0.3 ms), so at
# 1,000,000 events (94,000 requests) the sync and the bare loop take ~100 s each, dlt with
# parquet ~330 s and dlt's default loader ~600 s; at 100,000 events 10-60 s. So the smallest
# size runs every step --runs times but dlt's default loader once (its figure is no goal),
# and larger sizes run once, without dlt (the dlt goals are then read at the smallest size).
ONCE_AT_SMALLEST = ("dlt-default",)
AT_LARGER_SIZES = ("funnelhouse", "bare-loop", "duckdb-load", "models", "report")


# --- children: one step each, printing its timed section as JSON -------------------------------

def child_funnelhouse(data: Path, url: str, work: Path, first: date, last: date) -> None:
    from pipelines.connectors.vemetric import VemetricConnector
    from pipelines.raw_vemetric import Window, land_users_and_events

    work.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with VemetricConnector.connect(url, api_key(data)) as api:
        land_users_and_events(api, work / "w.duckdb", Window(first, last), datetime.now(UTC))
        requests = api.stats.requests
    seconds = time.perf_counter() - began
    child_result(seconds, landed_events(work / "w.duckdb"), requests)


def landed_events(path: Path) -> int:
    """Events in the warehouse: identical events in one second share a row (occurrences)."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as conn:
        return int(conn.execute(
            "select coalesce(sum(occurrences), 0) from raw_vemetric.user_events").fetchone()[0])


def child_dlt(file_format: str) -> Callable[..., None]:
    def run(data: Path, url: str, work: Path, first: date, last: date) -> None:
        from dlt_peer import run_dlt

        began = time.perf_counter()
        events, requests = run_dlt(url, api_key(data), first, last, work, file_format)
        child_result(time.perf_counter() - began, events, requests)
    return run


def child_bare_loop(data: Path, url: str, work: Path, first: date, last: date) -> None:
    from bare import fetch_loop

    began = time.perf_counter()
    events, requests = fetch_loop(url, api_key(data), first, last)
    child_result(time.perf_counter() - began, events, requests)


def child_duckdb_load(data: Path, url: str, work: Path, first: date, last: date) -> None:
    from bare import duckdb_load, events_frame

    import pyarrow  # noqa: F401  (DuckDB reads polars through arrow: loaded before the clock)

    frame = events_frame(data, first, last)  # "already in memory": not part of the timing
    work.mkdir(parents=True, exist_ok=True)
    seconds, rows = duckdb_load(frame, work / "ceiling.duckdb")
    child_result(seconds, rows, None)


def child_models(data: Path, url: str, work: Path, first: date, last: date) -> None:
    """Rebuild the marts on a copy of this run's funnelhouse warehouse, completed first with
    the rest of a sync (untimed), then publish the snapshot the report opens."""
    from pipelines import models, warehouse

    path = work / "w.duckdb"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(work.parent / work.name.replace("models", "funnelhouse") / "w.duckdb", path)
    complete_sync(url, api_key(data), path, first, last)
    began = time.perf_counter()
    models.build(path, full=True)
    seconds = time.perf_counter() - began
    warehouse.publish_snapshot(path)
    child_result(seconds, landed_events(path), None)


def complete_sync(url: str, key: str, path: Path, first: date, last: date) -> None:
    """Land what a sync lands besides users and events (project, funnels, the API's own
    aggregates, funnel results, filter values): the models read the funnels, and the report
    knows which days were synced from the aggregates' ranges."""
    import duckdb

    from pipelines import raw_vemetric as raw
    from pipelines.connectors.vemetric import VemetricConnector

    window, now = raw.Window(first, last), datetime.now(UTC)
    with VemetricConnector.connect(url, key) as api:
        raw.land_project(api, path, window, now)
        raw.land_funnels(api, path, window, now)
        raw.land_analytics(api, path, window, now, raw.event_properties(path, window))
        with duckdb.connect(str(path), read_only=True) as conn:
            funnels = [row[0] for row in conn.execute(
                f"select id from {raw.SCHEMA}.funnels order by id").fetchall()]
        raw.land_funnel_results(api, path, window, now, funnels)
        raw.land_filter_values(api, path, window, now)


def child_report(data: Path, url: str, work: Path, first: date, last: date) -> None:
    from pipelines.reports.config import load_reports
    from pipelines.reports.data import NOT_SYNCED
    from pipelines.reports.runner import make_report

    built = work.parent / work.name.replace("report", "models") / "w.duckdb"
    config = load_reports()["weekly"]
    began = time.perf_counter()
    result = make_report(config, as_of=REPORT_AS_OF, warehouse_path=built, out_dir=work)
    seconds = time.perf_counter() - began
    if result.path is None or NOT_SYNCED in result.path.read_text():
        raise SystemExit(f"the report has no data for {result.period}: {result.notices}")
    child_result(seconds, landed_events(built), None)


CHILDREN: dict[str, Callable[..., None]] = {
    "funnelhouse": child_funnelhouse,
    "dlt-parquet": child_dlt("parquet"),
    "dlt-default": child_dlt("default"),
    "bare-loop": child_bare_loop,
    "duckdb-load": child_duckdb_load,
    "models": child_models,
    "report": child_report,
}


# --- the parent: sizes x runs x steps ---------------------------------------------------------

@dataclass
class Measured:
    size: int
    step: str
    samples: list[Sample]


def run_plan(sizes: list[int], steps: list[str], runs: int, full: bool
             ) -> dict[tuple[int, str], int]:
    """Runs of each (size, step): every step ``runs`` times at every size when ``full``,
    else the default plan (see ONCE_AT_SMALLEST, AT_LARGER_SIZES). A step runs at most as
    often as the steps it builds on (models: funnelhouse; report: models)."""
    plan: dict[tuple[int, str], int] = {}
    for size in sizes:
        for step in steps:
            if full or (size == sizes[0] and step not in ONCE_AT_SMALLEST):
                plan[size, step] = runs
            elif size == sizes[0] or step in AT_LARGER_SIZES:
                plan[size, step] = 1
    return plan


def measure_size(size: int, plan: dict[tuple[int, str], int], data_dir: Path,
                 say: Callable[[str], None]) -> list[Measured]:
    """Every step of ``plan`` at this size as often as it says, steps interleaved run by run
    so that a slow spell of the machine spreads over all of them instead of hitting one."""
    runs = {step: n for (at, step), n in plan.items() if at == size}
    path = dataset(data_dir, size)
    first, last = window_days()
    measured = {step: Measured(size, step, []) for step in runs}
    with Server(path) as server, tempfile.TemporaryDirectory(prefix="funnelhouse-bench-") as tmp:
        for run in range(max(runs.values(), default=0)):
            for step in (step for step in runs if run < runs[step]):
                work = Path(tmp) / f"{run}-{step}"
                sample = run_child([__file__, "--child", step, "--data", str(path),
                                    "--url", server.url, "--work", str(work),
                                    "--first", str(first), "--last", str(last)],
                                   env={"RUNTIME__DLTHUB_TELEMETRY": "false"})
                measured[step].samples.append(sample)
                say(f"{size:>9,} events  run {run + 1}/{runs[step]}  {step:<12} "
                    f"{sample.seconds:8.2f} s {sample.rows:>9,} rows  "
                    f"{sample.peak_rss_mb:7.0f} MB")
                if step.startswith("dlt"):
                    shutil.rmtree(work, ignore_errors=True)  # dlt's files are not needed again
    return list(measured.values())


def rates(m: Measured) -> list[float]:
    return [s.rows / s.seconds if s.seconds > 0 else float("inf") for s in m.samples]


def paired(a: list[float], b: list[float]) -> list[float]:
    """Run-by-run ratios a[i] / b[i] (runs are interleaved, so run i of each step met the
    same machine)."""
    return [x / y for x, y in zip(a, b) if y]


def fmt(values: list[float], digits: int = 2) -> str:
    if not values:
        return "—"
    s = spread(values)
    return f"{s.median:,.{digits}f} [{s.low:,.{digits}f}–{s.high:,.{digits}f}]"


def table(results: list[Measured]) -> list[str]:
    """The one table (markdown), a row per (size, step)."""
    sizes = sorted({m.size for m in results})
    by = {(m.size, m.step): m for m in results}
    most = max(len(m.samples) for m in results)
    lines = [
        "| events | step | wall s | events/s | peak RSS MB | requests | funnelhouse ÷ step, "
        "events/s | funnelhouse ÷ step, peak RSS | wall ÷ smallest size |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        fh = by.get((size, "funnelhouse"))
        for step, label in STEPS.items():
            if (size, step) not in by:
                continue
            m = by[(size, step)]
            requests = {s.requests for s in m.samples if s.requests is not None}
            peers = step in SYNC_PEERS and fh is not None
            lines.append("| " + " | ".join([
                f"{m.samples[0].rows:,}",
                label + fewer_runs(len(m.samples), most),
                fmt([s.seconds for s in m.samples]),
                fmt(rates(m), 0),
                fmt([s.peak_rss_mb for s in m.samples], 0),
                ", ".join(f"{r:,}" for r in sorted(requests)) or "—",
                fmt(paired(rates(fh), rates(m))) if peers else "—",
                fmt(paired([s.peak_rss_mb for s in fh.samples],
                           [s.peak_rss_mb for s in m.samples])) if peers else "—",
                fmt(growth(by, size, step, sizes)) if (sizes[0], step) in by and size != sizes[0]
                else "—",
            ]) + " |")
    return lines


def fewer_runs(runs: int, most: int) -> str:
    """The mark of a figure taken fewer times than the table's others: its runs."""
    return "" if runs == most else f" ({runs} run{'s' if runs > 1 else ''})"


def not_run(results: list[Measured]) -> list[str]:
    """A line per size naming the steps that ran at another size but not at this one."""
    sizes = sorted({m.size for m in results})
    ran = {(m.size, m.step) for m in results}
    steps = [step for step in STEPS if any((size, step) in ran for size in sizes)]
    lines = []
    for size in sizes:
        missing = [STEPS[step] for step in steps if (size, step) not in ran]
        if missing:
            lines.append(f"not run at {size:,} events (the default plan; --full runs them): "
                         + "; ".join(missing))
    return lines


def growth(by: dict, size: int, step: str, sizes: list[int]) -> list[float]:
    return paired([s.seconds for s in by[(size, step)].samples],
                  [s.seconds for s in by[(sizes[0], step)].samples])


def goal_lines(results: list[Measured]) -> list[str]:
    """Each goal of issue 7 with the measured median beside it, at the largest size (a goal
    whose steps were not run is left out)."""
    sizes = sorted({m.size for m in results})
    by = {(m.size, m.step): m for m in results}
    top = sizes[-1]
    fh = by.get((top, "funnelhouse"))
    if fh is None:
        return []
    lines = []
    # dlt is left out of larger sizes by the default plan: its goals at the largest size it ran
    at = max((size for size in sizes if (size, "dlt-parquet") in by
              and (size, "funnelhouse") in by), default=None)
    if at is not None:
        fh_at, dlt = by[(at, "funnelhouse")], by[(at, "dlt-parquet")]
        vs_dlt = spread(paired(rates(fh_at), rates(dlt))).median
        rss = spread(paired([s.peak_rss_mb for s in fh_at.samples],
                            [s.peak_rss_mb for s in dlt.samples])).median
        lines += [
            f"goal: funnelhouse >= {GOALS['vs_dlt']:g}x dlt (parquet) in events/s at {at:,}: "
            f"{vs_dlt:.2f}x -> {'met' if vs_dlt >= GOALS['vs_dlt'] else 'MISSED'}",
            f"goal: funnelhouse peak RSS below dlt (parquet): ratio {rss:.2f} -> "
            f"{'met' if rss < 1 else 'MISSED'}",
        ]
    if (top, "bare-loop") in by:
        vs_bare = spread(paired(rates(fh), rates(by[(top, "bare-loop")]))).median
        lines.append(f"goal: funnelhouse >= {GOALS['vs_bare']:g} of the bare loop: {vs_bare:.2f} "
                     f"-> {'met' if vs_bare >= GOALS['vs_bare'] else 'MISSED'}")
    if len(sizes) > 1 and (sizes[0], "funnelhouse") in by:
        cost = spread(growth(by, top, "funnelhouse", sizes)).median
        events = fh.samples[0].rows / by[(sizes[0], "funnelhouse")].samples[0].rows
        lines.append(f"goal: funnelhouse wall time from {sizes[0]:,} to {top:,} events (x{events:.1f} "
                     f"events) within {GOALS['growth']:g}x: {cost:.2f}x -> "
                     f"{'met' if cost <= GOALS['growth'] else 'MISSED'}")
    return lines


def machine() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated event counts, got {text!r}") \
            from exc
    if not sizes or sizes[0] < 100:
        raise argparse.ArgumentTypeError(f"sizes must be at least 100 events, got {text!r}")
    return sizes


def parse_steps(text: str) -> list[str]:
    """Some of STEPS, in STEPS' order; each step brings the ones it builds on."""
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(wanted - set(STEPS))
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(f"unknown steps {unknown}; expected some of "
                                         f"{', '.join(STEPS)}")
    needs = {"report": "models", "models": "funnelhouse"}
    for step in ("report", "models"):
        if step in wanted:
            wanted.add(needs[step])
    return [step for step in STEPS if step in wanted]


def load_samples(paths: list[Path]) -> list[Measured]:
    """Measurements saved with --json; a later file's (size, step) replaces an earlier one's."""
    merged: dict[tuple[int, str], Measured] = {}
    for path in paths:
        for m in json.loads(path.read_text()):
            merged[(m["size"], m["step"])] = Measured(
                m["size"], m["step"], [Sample(**s) for s in m["samples"]])
    return [merged[key] for key in sorted(merged, key=lambda k: (k[0], list(STEPS).index(k[1])))]


def print_results(results: list[Measured], heading: str) -> None:
    print(heading)
    print("\n".join(table(results)))
    print()
    print("\n".join([*not_run(results), *goal_lines(results)]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"size {','.join(map(str, QUICK_SIZES))} and 1 run (a smoke test; "
                             "its figures are not medians)")
    parser.add_argument("--runs", type=int, default=None, help="runs per step (default 3)")
    parser.add_argument("--full", action="store_true",
                        help="every step --runs times at every size (by default, to fit 10 "
                             "minutes: dlt's default loader once at the smallest size, and larger "
                             "sizes once each without dlt)")
    parser.add_argument("--sizes", type=parse_sizes, default=None,
                        help="comma-separated event counts (default 100000,1000000)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset cache")
    parser.add_argument("--steps", type=parse_steps, default=list(STEPS),
                        help=f"some of {','.join(STEPS)} (default all)")
    parser.add_argument("--json", type=Path, help="also write every sample here")
    parser.add_argument("--table", type=Path, nargs="+", metavar="JSON",
                        help="print the table of saved --json files (later ones replace a "
                             "size and step of earlier ones) and exit")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--last", type=date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        CHILDREN[args.child](args.data, args.url, args.work, args.first, args.last)
        return
    if args.table:
        print_results(load_samples(args.table), f"funnelhouse benchmark, from {len(args.table)} "
                      "saved run(s): median [min–max]\n")
        return
    runs = args.runs or (1 if args.quick else 3)
    if runs < 1:
        parser.error("--runs must be at least 1")
    sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    began, load = time.perf_counter(), os.getloadavg()[0]
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    plan = run_plan(sizes, args.steps, runs, args.full)
    results = [m for size in sizes for m in measure_size(size, plan, args.data, say)]
    print_results(results, f"funnelhouse benchmark: {runs} run(s) per figure unless marked (median "
                  f"[min–max]), "
                  f"{DAYS}-day Vemetric datasets, reference API on 127.0.0.1 with the rate limit "
                  f"lifted\nmachine: {machine()}; load average (1 min) {load:.1f} at the start, "
                  f"{os.getloadavg()[0]:.1f} at the end\n")
    print(f"\ntotal benchmark time {time.perf_counter() - began:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([{**asdict(m)} for m in results], indent=2))


if __name__ == "__main__":
    main()
