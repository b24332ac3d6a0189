"""How fast the SQL models rebuild: all marts from 1,000,000 and 10,000,000 raw events.

Goals (2 cores): a full rebuild at 10M events in under 20 s; rebuilding one new day in under
5% of the full rebuild; cost growing no faster than linearly from 1M to 10M.
Run: ``.venv/bin/python benchmarks/bench_models.py [--sizes 1000000 10000000] [--days 30]``.

The raw tables are generated straight into DuckDB (no API, no sync), shaped like a sync's:
sessions of 2 to 12 events 20-90 s apart, ~80% pageviews over 12 paths, custom events
``click``/``signup``/``purchase`` with a ``plan`` property, users returning on later days,
a users row per (user, active day), the three generated funnels, and the API-answer rows that
name the synced ranges (the whole window and each day). Then, for each size:

1. ``build(full=True)``: every model rebuilt whole;
2. one more day is landed (as a daily sync would) and ``build()`` rebuilds only what changed.
"""

from __future__ import annotations

import argparse
import json
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


def run(events: int, days: int, directory: Path, sql_dir: Path = models.SQL_DIR) -> dict:
    path = directory / f"bench-{events}.duckdb"
    path.unlink(missing_ok=True)
    synced = datetime(2026, 3, 1, tzinfo=UTC)
    began = time.perf_counter()
    with warehouse.writer(path) as conn:
        raw_vemetric.ensure_schema(conn)
        land_events(conn, events, START, days, synced)
        land_day_rows(conn, START, START + timedelta(days=days - 1), synced, whole_window=True)
        land_funnels(conn, synced)
    generated = time.perf_counter() - began
    began = time.perf_counter()
    report = models.build(path, full=True, sql_dir=sql_dir)
    full = time.perf_counter() - began
    new_day = START + timedelta(days=days)
    later = synced + timedelta(days=1)
    with warehouse.writer(path) as conn:
        land_events(conn, events // days, new_day, 1, later, offset=events)
        land_day_rows(conn, new_day, new_day, later, whole_window=False)
    began = time.perf_counter()
    incremental = models.build(path, sql_dir=sql_dir)
    one_day = time.perf_counter() - began
    print(f"\n{events:,} events over {days} days (generated in {generated:.1f} s)")
    print(report.describe())
    print(f"one new day ({events // days:,} events):")
    print(incremental.describe())
    print(f"full rebuild {full:.2f} s; one new day {one_day:.2f} s "
          f"({100 * one_day / full:.1f}% of the full rebuild)")
    path.unlink(missing_ok=True)
    return {"full": full, "day": one_day,
            "models": {m.name: m.seconds for m in report.models if m.mode != "view"},
            "day_models": {m.name: m.seconds for m in incremental.models if m.mode != "view"}}


def summary(results: dict[int, dict]) -> str:
    """One table for every size: per-model seconds of the full rebuild and of one new day,
    the totals, the new day in percent of the full rebuild, and the largest/smallest ratio."""
    sizes = sorted(results)
    names = list(results[sizes[0]]["models"])
    head = f"{'seconds':<24}" + "".join(f"{f'{n:,} full':>16}{'new day':>10}" for n in sizes)
    ratio = len(sizes) > 1
    if ratio:
        head += f"{f'{sizes[-1] // sizes[0]}x events':>14}"
    lines = [head]
    for name in [*names, "build (wall clock)"]:
        full = [results[n]["full"] if name == "build (wall clock)" else results[n]["models"][name]
                for n in sizes]
        day = [results[n]["day"] if name == "build (wall clock)" else results[n]["day_models"][name]
               for n in sizes]
        line = f"{name:<24}" + "".join(f"{f:>16.2f}{d:>10.2f}" for f, d in zip(full, day))
        if ratio:
            line += f"{f'{full[-1] / full[0]:.1f}x' if full[0] else '-':>14}"
        lines.append(line)
    shares = [f"{100 * results[n]['day'] / results[n]['full']:.1f}%" for n in sizes]
    lines.append(f"{'new day % of full':<24}" + "".join(f"{'':>16}{s:>10}" for s in shares))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--sql-dir", type=Path, default=models.SQL_DIR,
                        help="the models to time (say, an older checkout's sql/ to compare)")
    args = parser.parse_args()
    results = {size: run(size, args.days, args.dir, args.sql_dir) for size in args.sizes}
    print()
    print(summary(results))
    if len(results) > 1:
        small, large = min(results), max(results)
        ratio = results[large]["full"] / results[small]["full"]
        print(f"\nfull rebuild grows {ratio:.1f}x for {large / small:.0f}x the events "
              f"({'linear or better' if ratio <= large / small else 'worse than linear'})")


if __name__ == "__main__":
    main()
