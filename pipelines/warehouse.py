"""The DuckDB warehouse: where it lives, the writer's connection, and read-only snapshots.

One process writes the warehouse file (Dagster's ``duckdb_warehouse`` pool, size 1); everyone
else reads a *snapshot*: after each successful sync the file is copied and a pointer is swapped
atomically, so a notebook holding a connection open never blocks the next sync (DuckDB allows
either one read-write process or many readers of a file, never both).

Layout, next to the warehouse file (default ``.funnelhouse/warehouse.duckdb``, or the path in
``$FUNNELHOUSE_WAREHOUSE``)::

    warehouse.duckdb                    the writer's file; only syncs open it
    warehouse.snapshots/<stamp>.duckdb  published copies, the newest few are kept
    warehouse.current                   one line: the file name of the latest snapshot

Notebooks::

    from pipelines import warehouse
    warehouse.sql("select count(*) as n from raw_vemetric.user_events where partition_date >= $d",
                  d="2026-01-01")
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

__all__ = [
    "ENV_VAR",
    "WarehouseError",
    "breakdown",
    "connect",
    "current_snapshot",
    "default_path",
    "funnel",
    "publish_snapshot",
    "query",
    "sql",
    "writer",
]

ENV_VAR = "FUNNELHOUSE_WAREHOUSE"
DEFAULT_PATH = Path(".funnelhouse") / "warehouse.duckdb"
KEEP_SNAPSHOTS = 3
# Offline machines: never let DuckDB try to download an extension (stack.md §4.6).
_CONFIG = {"autoinstall_known_extensions": False}


class WarehouseError(RuntimeError):
    """The warehouse or its snapshot is missing or cannot be opened."""


def default_path() -> Path:
    """``$FUNNELHOUSE_WAREHOUSE`` if set, else ``.funnelhouse/warehouse.duckdb`` (read at call)."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


def _resolve(path: str | os.PathLike | None) -> Path:
    return Path(path) if path else default_path()


def snapshot_dir(path: str | os.PathLike | None = None) -> Path:
    resolved = _resolve(path)
    return resolved.with_name(resolved.stem + ".snapshots")


def pointer_file(path: str | os.PathLike | None = None) -> Path:
    resolved = _resolve(path)
    return resolved.with_name(resolved.stem + ".current")


@contextmanager
def writer(path: str | os.PathLike | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to the warehouse file, closed when the block ends.

    Only code running in the ``duckdb_warehouse`` pool may use it: DuckDB refuses a second
    writer process, and readers use snapshots instead.
    """
    resolved = _resolve(path)
    resolved.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(resolved), config=_CONFIG)
    conn.execute("set TimeZone = 'UTC'")  # dates and formatted times are UTC, whoever runs it
    try:
        yield conn
    finally:
        conn.close()


def publish_snapshot(path: str | os.PathLike | None = None, keep: int = KEEP_SNAPSHOTS) -> Path:
    """Copy the warehouse to a new snapshot, point readers at it, prune old ones; return it.

    The copy is written under a temporary name and renamed, then the pointer file is replaced
    with ``os.replace``: a reader sees either the old snapshot or the new one, never half a file.
    Pruned snapshots that a reader still has open stay readable to it (POSIX unlink semantics).
    """
    resolved = _resolve(path)
    if not resolved.exists():
        raise WarehouseError(f"no warehouse at {resolved}: run a sync first")
    with writer(resolved) as conn:
        conn.execute("checkpoint")  # fold the WAL into the file so the copy is complete
    target_dir = snapshot_dir(resolved)
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = target_dir / f"{resolved.stem}-{stamp}.duckdb"
    partial = target.with_name("." + target.name + ".partial")
    shutil.copyfile(resolved, partial)
    os.replace(partial, target)
    _write_atomically(pointer_file(resolved), target.name + "\n")
    _prune(target_dir, keep=max(keep, 1))
    return target


def _write_atomically(target: Path, text: str) -> None:
    partial = target.with_name("." + target.name + ".partial")
    partial.write_text(text)
    os.replace(partial, target)


def _prune(directory: Path, keep: int) -> None:
    snapshots = sorted(p for p in directory.glob("*.duckdb") if not p.name.startswith("."))
    for old in snapshots[:-keep]:
        old.unlink(missing_ok=True)


def current_snapshot(path: str | os.PathLike | None = None) -> Path:
    """The latest published snapshot of the warehouse at ``path``."""
    pointer = pointer_file(path)
    if not pointer.exists():
        raise WarehouseError(
            f"no snapshot published for {_resolve(path)}: run `funnelhouse sync` first"
        )
    snapshot = snapshot_dir(path) / pointer.read_text().strip()
    if not snapshot.exists():
        raise WarehouseError(f"{pointer} names {snapshot.name}, which does not exist")
    return snapshot


def connect(path: str | os.PathLike | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the latest snapshot; it never blocks a sync. Close it when done."""
    return duckdb.connect(str(current_snapshot(path)), read_only=True, config=_CONFIG)


def sql(query: str, **params: object) -> pl.DataFrame:
    """Run ``query`` (``$name`` parameters) on the latest snapshot and return a polars frame."""
    conn = connect()
    try:
        return conn.execute(query, params or None).pl()
    finally:
        conn.close()


# The design notes' notebook example calls it ``query``; both names mean the same function.
query = sql


# --- analysts' helpers (pipelines.analysis): a frame and a chart from the marts ------------------

def funnel(steps, first, last, **options):
    """A funnel on the latest snapshot: ``funnel("Signup", "2026-01-01", "2026-01-31",
    window=timedelta(days=1), order="strict", by="session", breakdown="country")``.
    Returns ``(frame, chart)``; see :func:`pipelines.analysis.funnel`."""
    from pipelines.analysis import funnel as compute

    return compute(steps, first, last, **options)


def breakdown(dimension, first, last, **options):
    """Vemetric's metrics by ``dimension`` on the latest snapshot: ``breakdown("page:path",
    "2026-01-01", "2026-01-31", over="daily")``. Returns ``(frame, chart)``; see
    :func:`pipelines.analysis.breakdown`."""
    from pipelines.analysis import breakdown as compute

    return compute(dimension, first, last, **options)
