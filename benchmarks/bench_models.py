"""How fast the SQL models rebuild: all marts from 1,000,000 and 10,000,000 raw events.

Goals (issue 5, 2 cores): a full rebuild at 10M events in under 20 s; rebuilding one new day
in under 5% of the full rebuild; cost growing no faster than linearly from 1M to 10M. The
issue's scale is plain DuckDB on the same machine: one breakdown over 10M events ~0.6 s and a
3-step per-user funnel ~1 s, so 20 s is ~12.5x (breakdown + funnel). Both are measured here,
on the same raw events in the same run, so a loaded machine can be judged by the ratio.
Run: ``.venv/bin/python benchmarks/bench_models.py [--sizes 1000000 10000000] [--days 30]
[--sql-dir OLD/sql sql]`` (several ``--sql-dir`` time each set of models on the same data).

The raw tables are generated straight into DuckDB (no API, no sync), shaped like a sync's:
sessions of 2 to 12 events 20-90 s apart, ~80% pageviews over 12 paths, custom events
``click``/``signup``/``purchase`` with a ``plan`` property, users returning on later days,
a users row per (user, active day), the three generated funnels, and the API-answer rows that
name the synced ranges (the whole window and each day). Then, for each size:

1. the two plain-DuckDB reference queries on the raw events;
2. ``build(full=True)``: every model rebuilt whole;
3. one more day is landed (as a daily sync would) and ``build()`` rebuilds only what changed.

The raw warehouse of each size is generated once and kept under ``data/bench/`` (each run
works on a copy). Every figure is printed with the load average at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from pipelines import models, raw_vemetric, warehouse

START = date(2026, 1, 1)
PATHS = ["/", "/features", "/pricing", "/blog", "/blog/funnel-analysis-101", "/docs",
         "/signup", "/checkout", "/blog/utm-tags-explained", "/docs#api", "/about", "/careers"]
FUNNELS = [
    ("Signup", [("page", "/"), ("page", "/pricing"), ("event", "signup")]),
    ("Purchase", [("event", "signup"), ("event", "purchase")]),
    ("Blog to signup", [("page", "/blog"), ("page", "/signup"), ("event", "signup")]),
]


def land_events(conn: duckdb.DuckDBPyConnection, events: int, first_day: date, days: int,
                synced_at: datetime, offset: int = 0) -> None:
    """``events`` rows over ``days`` days from ``first_day``, all in SQL."""
    users = max(events // 12, 1)
    conn.execute(f"""
        insert into raw_vemetric.user_events
        with base as (
            select i, i // 8 as session,                       -- sessions of ~8 events
                   hash(i // 8) as h
            from range({offset}, {offset} + {events}) t(i)
        ),
        shaped as (
            select i, session,
                   'u' || (h % {users})                                         as user_id,
                   's' || session                                                as session_id,
                   $start + to_days(cast((session - {offset // 8}) * {days} // ({events} // 8 + 1) as integer))
                     + to_seconds(cast(h % 80000 + (i % 8) * (20 + h % 70) as bigint)) as created_at,
                   hash(i) % 10                                                  as kind
            from base
        )
        select cast(i as varchar) as event_id, user_id, session_id,
               case when kind < 8 then '$$pageView' when kind = 8 then 'click'
                    when i % 3 = 0 then 'purchase' else 'signup' end             as name,
               kind < 8                                                         as is_page_view,
               created_at,
               'https://example.com'                                           as origin,
               $paths[cast(1 + hash(i, 7) % {len(PATHS)} as bigint)]                            as path,
               null                                                            as hash,
               case when kind >= 9 then '{{"plan":"pro"}}' else '{{}}' end       as data,
               1                                                               as occurrences,
               cast(created_at as date)                                        as partition_date,
               $at                                                             as synced_at
        from shaped
    """, {"start": datetime.combine(first_day, datetime.min.time(), UTC), "paths": PATHS,
          "at": synced_at})


def land_day_rows(conn, first_day: date, last_day: date, synced_at: datetime,
                  whole_window: bool) -> None:
    """users per (user, day), and the API-answer rows naming the synced ranges."""
    conn.execute("""
        insert into raw_vemetric.users (id, country, city, last_seen_at, data, anonymous,
                                        partition_date, synced_at)
        select user_id, ['US', 'DE', 'GB', 'FR', ''][cast(1 + hash(user_id) % 5 as bigint)], '',
               max(created_at), '{}', true, partition_date, $at
        from raw_vemetric.user_events where partition_date between $f and $l
        group by user_id, partition_date""", {"f": first_day, "l": last_day, "at": synced_at})
    ranges = [(first_day + timedelta(days=d),) * 2 for d in range((last_day - first_day).days + 1)]
    if whole_window:
        ranges.append((first_day, last_day))
    for date_from, date_to in ranges:
        conn.execute("insert into raw_vemetric.analytics (date_from, date_to, group_by, "
                     "group_value, users, pageviews, events, synced_at) values "
                     "($f, $l, '', '', 0, 0, 0, $at)", {"f": date_from, "l": date_to,
                                                         "at": synced_at})
        for index in range(len(FUNNELS)):
            conn.execute("insert into raw_vemetric.funnel_results (funnel_id, date_from, "
                         "date_to, synced_at) values ($id, $f, $l, $at)",
                         {"id": f"funnel-{index}", "f": date_from, "l": date_to, "at": synced_at})


def land_funnels(conn, synced_at: datetime) -> None:
    for index, (name, steps) in enumerate(FUNNELS):
        body = [{"id": f"s{i}", "name": value, "filter": (
            {"type": "page", "path": {"operator": "eq", "value": value}} if kind == "page" else
            {"type": "event", "name": {"operator": "eq", "value": value}})}
            for i, (kind, value) in enumerate(steps)]
        conn.execute("insert into raw_vemetric.funnels values ($id, $n, null, $s, $at, $at, $at)",
                     {"id": f"funnel-{index}", "n": name, "s": json.dumps(body), "at": synced_at})


GENERATOR_VERSION = 1       # bump when land_* change, so cached raw warehouses are rebuilt
CACHE = Path(__file__).resolve().parent.parent / "data" / "bench"
SYNCED = datetime(2026, 3, 1, tzinfo=UTC)

# The plain-DuckDB scale, on the raw events: one breakdown (users and pageviews per day
# and path), and a 3-step per-user funnel with a 7-day window from the first step.
REFERENCE_BREAKDOWN = """
    select partition_date, path, count(distinct user_id) as users,
           sum(occurrences) filter (where is_page_view) as pageviews
    from raw_vemetric.user_events
    group by all
"""
REFERENCE_FUNNEL = """
    with e as (select user_id, created_at, is_page_view, path, name from raw_vemetric.user_events),
    s1 as (select user_id, min(created_at) as t1 from e where is_page_view and path = '/'
           group by user_id),
    s2 as (select e.user_id, any_value(s1.t1) as t1, min(e.created_at) as t2
           from e join s1 using (user_id)
           where e.is_page_view and e.path = '/pricing'
             and e.created_at > s1.t1 and e.created_at <= s1.t1 + interval 7 day
           group by e.user_id),
    s3 as (select distinct e.user_id from e join s2 using (user_id)
           where e.name = 'signup' and e.created_at > s2.t2
             and e.created_at <= s2.t1 + interval 7 day)
    select (select count(*) from s1), (select count(*) from s2), (select count(*) from s3)
"""


def load() -> str:
    return "load " + "/".join(f"{x:.1f}" for x in os.getloadavg())


def raw_warehouse(events: int, days: int, cache: Path = CACHE) -> Path:
    """The raw tables of ``events`` events over ``days`` days, generated once and kept."""
    path = cache / f"models-raw-v{GENERATOR_VERSION}-{events}-{days}d.duckdb"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    began = time.perf_counter()
    with warehouse.writer(partial) as conn:
        raw_vemetric.ensure_schema(conn)
        land_events(conn, events, START, days, SYNCED)
        land_day_rows(conn, START, START + timedelta(days=days - 1), SYNCED, whole_window=True)
        land_funnels(conn, SYNCED)
        conn.execute("checkpoint")
    partial.rename(path)
    print(f"generated {events:,} raw events in {time.perf_counter() - began:.1f} s ({path})")
    return path


def reference(path: Path) -> dict:
    """Seconds of the two plain-DuckDB reference queries on the raw events (2 runs, the best)."""
    seconds = {}
    with duckdb.connect(str(path), read_only=True) as conn:
        for name, sql in (("breakdown", REFERENCE_BREAKDOWN), ("funnel", REFERENCE_FUNNEL)):
            runs = []
            for _ in range(2):
                began = time.perf_counter()
                conn.execute(sql).fetchall()
                runs.append(time.perf_counter() - began)
            seconds[name] = min(runs)
    print(f"reference: breakdown {seconds['breakdown']:.2f} s, 3-step funnel "
          f"{seconds['funnel']:.2f} s ({load()})")
    return seconds


def run(events: int, days: int, directory: Path, sql_dir: Path = models.SQL_DIR,
        raw: Path | None = None) -> dict:
    """Full rebuild, then one new day, of a copy of the raw warehouse with ``sql_dir``'s models."""
    path = directory / f"bench-{events}-{os.getpid()}.duckdb"
    shutil.copyfile(raw or raw_warehouse(events, days), path)
    try:
        began = time.perf_counter()
        report = models.build(path, full=True, sql_dir=sql_dir)
        full = time.perf_counter() - began
        full_load = load()
        new_day = START + timedelta(days=days)
        later = SYNCED + timedelta(days=1)
        with warehouse.writer(path) as conn:
            land_events(conn, events // days, new_day, 1, later, offset=events)
            land_day_rows(conn, new_day, new_day, later, whole_window=False)
        began = time.perf_counter()
        incremental = models.build(path, sql_dir=sql_dir)
        one_day = time.perf_counter() - began
    finally:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
    print(f"\n{events:,} events over {days} days, models of {sql_dir}")
    print(report.describe())
    print(f"one new day ({events // days:,} events):")
    print(incremental.describe())
    print(f"full rebuild {full:.2f} s ({full_load}); one new day {one_day:.2f} s "
          f"({100 * one_day / full:.1f}% of the full rebuild; {load()})")
    return {"full": full, "day": one_day,
            "models": {m.name: m.seconds for m in report.models if m.mode != "view"},
            "day_models": {m.name: m.seconds for m in incremental.models if m.mode != "view"}}


def summary(results: dict[int, dict]) -> str:
    """One table for every size: per-model seconds of the full rebuild and of one new day,
    the totals, the new day in percent of the full rebuild, the full rebuild over the
    reference queries, and the largest/smallest ratio."""
    sizes = sorted(results)
    names = list(dict.fromkeys(n for size in sizes for n in results[size]["models"]))
    head = f"{'seconds':<24}" + "".join(f"{f'{n:,} full':>16}{'new day':>10}" for n in sizes)
    ratio = len(sizes) > 1
    if ratio:
        head += f"{f'{sizes[-1] // sizes[0]}x events':>14}"
    lines = [head]
    for name in [*names, "runner (wall - models)", "build (wall clock)"]:
        if name == "build (wall clock)":
            full = [results[n]["full"] for n in sizes]
            day = [results[n]["day"] for n in sizes]
        elif name == "runner (wall - models)":
            # connect, planning (changed days, lookback checks), state, commit, checkpoint
            full = [results[n]["full"] - sum(results[n]["models"].values()) for n in sizes]
            day = [results[n]["day"] - sum(results[n]["day_models"].values()) for n in sizes]
        else:
            full = [results[n]["models"].get(name, 0.0) for n in sizes]
            day = [results[n]["day_models"].get(name, 0.0) for n in sizes]
        line = f"{name:<24}" + "".join(f"{f:>16.2f}{d:>10.2f}" for f, d in zip(full, day))
        if ratio:
            line += f"{f'{full[-1] / full[0]:.1f}x' if full[0] else '-':>14}"
        lines.append(line)
    shares = [f"{100 * results[n]['day'] / results[n]['full']:.1f}%" for n in sizes]
    lines.append(f"{'new day % of full':<24}" + "".join(f"{'':>16}{s:>10}" for s in shares))
    if all("reference" in results[n] for n in sizes):
        refs = [results[n]["reference"] for n in sizes]
        for key, label in (("breakdown", "ref. breakdown"), ("funnel", "ref. 3-step funnel")):
            lines.append(f"{label:<24}" + "".join(f"{r[key]:>16.2f}{'':>10}" for r in refs))
        multiples = [results[n]["full"] / (r["breakdown"] + r["funnel"]) for n, r in zip(sizes, refs)]
        lines.append(f"{'full / (ref. b + f)':<24}" + "".join(f"{f'{m:.1f}x':>16}{'':>10}"
                                                             for m in multiples))
    return "\n".join(lines)


def verdict(results: dict[int, dict]) -> list[str]:
    """The issue's three goals, judged on the largest size (and the smallest, for growth)."""
    small, large = min(results), max(results)
    big = results[large]
    lines = []
    reference_sum = big["reference"]["breakdown"] + big["reference"]["funnel"] \
        if "reference" in big else None
    if reference_sum:
        lines.append(f"full rebuild at {large:,}: {big['full']:.1f} s = "
                     f"{big['full'] / reference_sum:.1f}x the reference queries "
                     f"(goal: 20 s, 12.5x of the issue's 1.6 s)")
    share = 100 * big["day"] / big["full"]
    lines.append(f"one new day: {share:.1f}% of the full rebuild (goal < 5%)")
    if large != small:
        growth = big["full"] / results[small]["full"]
        lines.append(f"full rebuild grows {growth:.1f}x for {large / small:.0f}x the events "
                     f"({'linear or better' if growth <= large / small else 'worse than linear'})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--sql-dir", type=Path, nargs="+", default=[models.SQL_DIR],
                        help="the models to time; several (say, an older checkout's sql/ and "
                             "ours) are timed one after the other on the same data")
    args = parser.parse_args()
    results: dict[Path, dict[int, dict]] = {d: {} for d in args.sql_dir}
    for size in sorted(args.sizes):
        raw = raw_warehouse(size, args.days)
        for sql_dir in args.sql_dir:
            # measured right before each build, so both see nearly the same load
            scale = reference(raw)
            results[sql_dir][size] = {**run(size, args.days, args.dir, sql_dir, raw),
                                      "reference": scale}
    for sql_dir, by_size in results.items():
        print(f"\nmodels of {sql_dir} ({load()})")
        print(summary(by_size))
        print("\n".join(verdict(by_size)))


if __name__ == "__main__":
    main()
