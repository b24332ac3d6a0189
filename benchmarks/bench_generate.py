"""Speed and memory of the Vemetric data generator (``funnelhouse generate vemetric``).

Goals: 1,000,000 events in under 60 s of wall time and under 2 GB of peak memory.
Run: ``.venv/bin/python benchmarks/bench_generate.py [--events 1000000] [--days 30] [--seed 1]``.

The generation runs in a child process, so its peak RSS (``getrusage(RUSAGE_CHILDREN)``) counts
the generator alone, imports included, and nothing of this script. The dataset is written to a
temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

GOAL_SECONDS = 60.0
GOAL_BYTES = 2 * 1024**3
START = date(2026, 1, 1)  # fixed, so every run generates the same data


def child(events: int, days: int, seed: int, out: Path) -> None:
    """Generate the dataset and print what came out as one JSON line."""
    from pipelines.reference.vemetric.generate import generate, users_for_events

    users = users_for_events(events, days)
    summary = generate(out, users=users, days=days, seed=seed, start=START)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(json.dumps({"users": users, "events": summary.events, "sessions": summary.sessions,
                      "seconds": summary.seconds, "bytes_on_disk": size}))


def run(events: int, days: int, seed: int) -> tuple[dict, float, int]:
    """Run the child; return its result, its wall time and its peak RSS in bytes."""
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        command = [sys.executable, __file__, "--child", "--events", str(events),
                   "--days", str(days), "--seed", str(seed), "--out", tmp]
        began = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - began
    if finished.returncode != 0:
        sys.exit(f"generation failed (exit {finished.returncode}):\n{finished.stderr}")
    # ru_maxrss is in KiB on Linux; it is the largest of the children waited for, here one.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return json.loads(finished.stdout.strip().splitlines()[-1]), wall, peak


def report(result: dict, wall: float, peak: int) -> None:
    print(f"visitors {result['users']:,}  sessions {result['sessions']:,}  "
          f"events {result['events']:,}  on disk {result['bytes_on_disk'] / 1024**2:.1f} MiB")
    print(f"generate() {result['seconds']:.2f} s, process wall {wall:.2f} s "
          f"(imports included): {result['events'] / result['seconds']:,.0f} events/s")
    print(f"wall  {wall:7.2f} s   goal {GOAL_SECONDS:.0f} s    ratio {wall / GOAL_SECONDS:.3f}")
    print(f"peak  {peak / 1024**2:7.0f} MiB goal {GOAL_BYTES / 1024**2:.0f} MiB "
          f"ratio {peak / GOAL_BYTES:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to aim for")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.events, args.days, args.seed, args.out)
        return
    report(*run(args.events, args.days, args.seed))


if __name__ == "__main__":
    main()
