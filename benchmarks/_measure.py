"""What the benchmark scripts share: datasets, the reference server, RSS sampling, medians.

- :func:`dataset` generates a Vemetric dataset once per (events, days) and reuses it;
- :class:`Server` runs ``funnelhouse serve vemetric`` in its own process with the rate limit
  lifted, so the server's CPU is never charged to the client being measured;
- :func:`run_child` runs one measured step in a child process and samples that process's
  RSS, so one step's memory never leaks into another's figure;
- :func:`spread` turns repeated samples into (median, min, max).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
START = date(2026, 1, 1)  # fixed, so every run of a size benchmarks the same data
SEED = 7
DAYS = 30
DEFAULT_DATA = ROOT / "data" / "bench"


def dataset(data: Path, events: int, days: int = DAYS) -> Path:
    """The generated dataset of about ``events`` events over ``days`` days from START."""
    from pipelines.reference.vemetric.generate import generate, users_for_events

    out = data / f"vemetric-{events}-{days}d"
    if not (out / "fixture.json").exists():
        summary = generate(out, users=users_for_events(events, days), days=days, seed=SEED,
                           start=START)
        print(summary.describe(), file=sys.stderr)
    return out


def api_key(path: Path) -> str:
    """The generated project's raw API key (the reference server's own key store)."""
    return json.loads((path / "fixture.json").read_text())["projects"][0]["apiKeys"][0]["key"]


def window_days(days: int = DAYS) -> tuple[date, date]:
    """First and last day (inclusive) of a dataset generated over ``days`` days."""
    return START, START + timedelta(days=days - 1)


class Server:
    """``funnelhouse serve vemetric`` in a child process, rate limit lifted; ``root`` serves
    another checkout's ``pipelines`` (e.g. a ``git archive`` of an older commit)."""

    def __init__(self, data: Path, root: Path = ROOT) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "serve", "vemetric", "--data", str(data),
             "--port", "0", "--rate-limit", str(10**9)],
            cwd=root, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.process.kill()
            raise RuntimeError(f"reference server did not start: {line!r}")
        self.url = line.removeprefix("listening on ")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class PeakRss:
    """Samples a process's RSS every 50 ms until stopped (its children included)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(0.05):
            try:
                rss = self.process.memory_info().rss + sum(
                    c.memory_info().rss for c in self.process.children(recursive=True))
            except psutil.Error:
                return
            self.peak = max(self.peak, rss)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    @property
    def mb(self) -> float:
        return self.peak / 2**20


@dataclass(frozen=True)
class Sample:
    """One run of one step: the child's timed work, what it handled, its peak RSS."""

    seconds: float
    rows: int
    requests: int | None
    peak_rss_mb: float


class StepFailed(RuntimeError):
    """A measured child process exited with an error; carries its last stderr lines."""


def run_child(argv: Sequence[str], env: dict[str, str] | None = None) -> Sample:
    """Run ``python argv...`` and sample its RSS; the child's last stdout line is the JSON
    ``{"seconds", "rows", "requests"}`` of its timed section (imports and set-up excluded)."""
    child = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env={**os.environ, **(env or {})},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = PeakRss(child.pid)
    out, err = child.communicate()
    peak.stop()
    if child.returncode != 0:
        tail = "\n".join(err.strip().splitlines()[-8:])
        raise StepFailed(f"{' '.join(argv[:3])} exited {child.returncode}:\n{tail}")
    result = json.loads(out.strip().splitlines()[-1])
    return Sample(result["seconds"], result["rows"], result.get("requests"), peak.mb)


def child_result(seconds: float, rows: int, requests: int | None = None) -> None:
    """What a measured child prints last: its timed section's seconds, rows and requests."""
    print(json.dumps({"seconds": seconds, "rows": rows, "requests": requests}), flush=True)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float


def spread(values: Sequence[float]) -> Spread:
    """Median, min and max of repeated measurements."""
    if not values:
        raise ValueError("no measurements to summarise")
    return Spread(statistics.median(values), min(values), max(values))
