"""A small warehouse built the real way, for the test suite and the notebooks.

Generated Vemetric traffic is served by the reference server on 127.0.0.1 and synced with
``run_sync`` (raw sync, then the models and their reconciliation) in consecutive windows, so
the second window exercises the incremental model build. The synced days run from the day
before the traffic to the day after it: with no event near the edges of the synced days,
every session is whole and visit duration can be reconciled too.

    path = build_sample_warehouse(Path("/tmp/sample"))      # reused when already built
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

__all__ = ["SampleSpec", "build_sample_warehouse"]


@dataclass(frozen=True)
class SampleSpec:
    users: int = 120
    days: int = 4
    start: date = date(2026, 1, 5)
    seed: int = 11
    windows: int = 2

    @property
    def first(self) -> date:
        return self.start - timedelta(days=1)

    @property
    def last(self) -> date:
        return self.start + timedelta(days=self.days)

    def window_bounds(self) -> list[tuple[date, date]]:
        days = (self.last - self.first).days + 1
        size = -(-days // self.windows)
        bounds = []
        for begin in range(0, days, size):
            bounds.append((self.first + timedelta(days=begin),
                           min(self.first + timedelta(days=begin + size - 1), self.last)))
        return bounds


def build_sample_warehouse(directory: Path, spec: SampleSpec = SampleSpec()) -> Path:
    """Generate, serve and sync into ``directory/warehouse.duckdb``; return its path. A
    directory that already holds a finished build is reused as it is."""
    from pipelines.demo import api_key_in_environment, dataset_key
    from pipelines.reference.serving import ServerThread
    from pipelines.reference.vemetric.app import create_app
    from pipelines.reference.vemetric.dataset import load_dataset
    from pipelines.reference.vemetric.generate import generate
    from pipelines.sync import run_sync

    path = directory / "warehouse.duckdb"
    done = directory / "built"
    if done.exists():
        return path
    dataset = directory / "dataset"
    generate(dataset, users=spec.users, days=spec.days, seed=spec.seed, start=spec.start)
    app = create_app(load_dataset(dataset), rate_limit=1_000_000)
    with ServerThread(app) as server, api_key_in_environment(dataset_key(dataset)):
        for first, last in spec.window_bounds():
            run_sync(first, last, base_url=server.url, warehouse_path=path)
    done.write_text("ok\n")
    return path
