"""``funnelhouse sync``: run an API's sync job (``vemetric_sync``, ``engagetrack_sync``)
in-process over a date range.

The run is the same job ``dagster dev`` and the schedule run (same assets, checks and
single-run backfill over the partition key range); only the executor differs (in-process).
The API key never passes through here: the resource reads ``VEMETRIC_API_KEY`` (or
``ENGAGETRACK_API_KEY``) through
``dg.EnvVar`` at launch, so it appears in no run config, event log or file.

    result = run_sync(date(2026, 1, 1), date(2026, 1, 31), base_url="http://127.0.0.1:8000")
    result.rows   # {"user_events": 81234, ...} for the window, as landed
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines import progress, raw_vemetric, warehouse
from pipelines.connectors.vemetric import API_KEY_ENV, DEFAULT_BASE_URL

__all__ = ["SyncError", "SyncResult", "RichProgress", "run_sync", "window_rows"]

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# The CLI shows its own progress and turns a failure into one clean line (`first_failure`), so
# Dagster's console log stays silent: no step tracebacks on stderr for a bad key. The run's
# event log in the instance still holds everything, tracebacks included.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class SyncError(RuntimeError):
    """A sync that could not start (bad range, no key) or whose run failed; says why."""


@dataclass
class SyncResult:
    """How a run ended: rows per raw table for the window, requests made, the snapshot."""

    first: date
    last: date
    rows: dict[str, int]
    requests: int
    snapshot: Path | None
    run_id: str
    # Models hook (issue 5): each reconciliation check's result, from pipelines.defs.models.
    checks: list = field(default_factory=list)
    api: str = "vemetric"
    schema: str = "raw_vemetric"


def run_sync(
    first: date,
    last: date,
    *,
    base_url: str | None = None,
    warehouse_path: str | os.PathLike | None = None,
    observer: progress.SyncObserver | None = None,
    instance: dg.DagsterInstance | None = None,
    vemetric: Any = None,
    api: str = "vemetric",
    engagetrack: Any = None,
    org_id: str | None = None,
    site_id: str | None = None,
) -> SyncResult:
    """Sync ``first``..``last`` (inclusive days) of ``api`` into the warehouse, build the models
    and publish a snapshot.

    ``vemetric`` / ``engagetrack`` replace the API resource (tests hand in one whose connector
    retries faster or is a fake); otherwise the key comes from ``$VEMETRIC_API_KEY`` or
    ``$ENGAGETRACK_API_KEY`` and the URL from ``base_url``, ``$<API>_BASE_URL`` or the real API.
    EngageTrack also needs the organization (``org_id`` or ``$ENGAGETRACK_ORG_ID``) and reads
    the site from ``site_id`` or ``$ENGAGETRACK_SITE_ID`` (else the organization's only site).
    Raises :class:`SyncError` with the first failure.
    """
    from pipelines.defs.resources import Warehouse
    from pipelines.defs.vemetric import START_DATE

    _check_range(first, last, date.fromisoformat(START_DATE))
    source = _source(api, base_url=base_url, vemetric=vemetric, engagetrack=engagetrack,
                     org_id=org_id, site_id=site_id)
    path = Path(warehouse_path) if warehouse_path else warehouse.default_path()
    definitions = dg.Definitions(
        assets=source.assets, jobs=[source.job],
        resources={source.resource_key: source.resource, "warehouse": Warehouse(path=str(path))},
    )
    job = definitions.resolve_job_def(source.job.name)
    tags = {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}
    with progress.observing(observer or progress.Silent()), _instance(instance) as dagster:
        result = job.execute_in_process(run_config=QUIET, instance=dagster, tags=tags,
                                        raise_on_error=False)
    if not result.success:
        raise SyncError(first_failure(result))
    # The models job reconciles every source; the summary shows the synced API's checks.
    checks = [c for c in _build_models(first, last, path, instance)
              if _is_engagetrack_check(c.name) == (source.name == "engagetrack")]
    rows = source.rows(path, first, last, result)
    return SyncResult(first, last, rows, _requests(result), warehouse.current_snapshot(path),
                      result.run_id, checks, api=source.name, schema=source.schema)


@dataclass(frozen=True)
class _Source:
    """What ``run_sync`` needs to know of one API: its assets, job, resource and row counts."""

    name: str
    schema: str
    resource_key: str
    resource: Any
    assets: list
    job: Any
    rows: Any  # (path, first, last, run result) -> rows per raw table for the window


SYNCED_APIS = ("vemetric", "engagetrack")


def _is_engagetrack_check(name: str) -> bool:
    return " reconcile_engagetrack_" in name


def _source(api: str, *, base_url: str | None, vemetric: Any, engagetrack: Any,
            org_id: str | None, site_id: str | None) -> _Source:
    if api == "vemetric":
        return _vemetric_source(base_url, vemetric)
    if api == "engagetrack":
        return _engagetrack_source(base_url, engagetrack, org_id, site_id)
    raise SyncError(f"cannot sync {api!r}: expected one of {', '.join(SYNCED_APIS)}")


def _vemetric_source(base_url: str | None, resource: Any) -> _Source:
    from pipelines.defs import vemetric as defs_vemetric
    from pipelines.defs.resources import VemetricApi

    if resource is None:
        if not os.environ.get(API_KEY_ENV, "").strip():
            raise SyncError(f"{API_KEY_ENV} is not set: export a Vemetric API key")
        url = base_url or os.environ.get("VEMETRIC_BASE_URL") or DEFAULT_BASE_URL
        resource = VemetricApi(base_url=url, api_key=dg.EnvVar(API_KEY_ENV))

    def rows(path, first, last, result) -> dict[str, int]:
        return window_rows(path, raw_vemetric.Window(first, last))

    return _Source("vemetric", raw_vemetric.SCHEMA, "vemetric", resource, defs_vemetric.ASSETS,
                   defs_vemetric.vemetric_sync, rows)


def _engagetrack_source(base_url: str | None, resource: Any, org_id: str | None,
                        site_id: str | None) -> _Source:
    from pipelines import raw_engagetrack
    from pipelines.connectors import engagetrack as connector
    from pipelines.defs import engagetrack as defs_engagetrack
    from pipelines.defs.resources import EngageTrackApi

    if resource is None:
        if not os.environ.get(connector.API_KEY_ENV, "").strip():
            raise SyncError(f"{connector.API_KEY_ENV} is not set: export an EngageTrack API key")
        org = org_id or os.environ.get("ENGAGETRACK_ORG_ID", "").strip()
        if not org:
            raise SyncError("no EngageTrack organization: pass --org or set ENGAGETRACK_ORG_ID")
        url = base_url or os.environ.get("ENGAGETRACK_BASE_URL") or connector.DEFAULT_BASE_URL
        site = site_id or os.environ.get("ENGAGETRACK_SITE_ID", "").strip()
        resource = EngageTrackApi(base_url=url, api_key=dg.EnvVar(connector.API_KEY_ENV),
                                  org_id=org, site_id=site)

    def rows(path, first, last, result) -> dict[str, int]:
        window = raw_engagetrack.Window(first, last)
        return raw_engagetrack.window_rows(path, window, _synced_site(result))

    return _Source("engagetrack", raw_engagetrack.SCHEMA, "engagetrack", resource,
                   defs_engagetrack.ASSETS, defs_engagetrack.engagetrack_sync, rows)


def _synced_site(result: dg.ExecuteInProcessResult) -> str:
    """The site the run synced, as its assets recorded it."""
    for event in result.get_asset_materialization_events():
        site = event.materialization.metadata.get("site")
        if site is not None:
            return str(site.value)
    raise SyncError("the run recorded no site")


def _build_models(first: date, last: date, path: Path, instance) -> list:
    """Models hook (issue 5): rebuild the SQL models for the window, reconcile them with the
    API's answers and publish the snapshot again, in the job ``vemetric_models``."""
    from pipelines.defs.models import run_models
    from pipelines.models import ModelError

    try:
        return run_models(first, last, path, instance=instance)
    except ModelError as exc:
        raise SyncError(str(exc)) from exc


def _check_range(first: date, last: date, earliest: date) -> None:
    if last < first:
        raise SyncError(f"--to {last} is before --from {first}")
    if first < earliest:
        raise SyncError(f"--from {first} is before the first partition ({earliest})")


class _instance:
    """The instance in $DAGSTER_HOME when set, else a temporary one (disposed afterwards)."""

    def __init__(self, given: dg.DagsterInstance | None) -> None:
        self.given = given
        self.owned: dg.DagsterInstance | None = None

    def __enter__(self) -> dg.DagsterInstance:
        if self.given is not None:
            return self.given
        self.owned = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") \
            else dg.DagsterInstance.ephemeral()
        return self.owned

    def __exit__(self, *exc: object) -> None:
        if self.owned is not None:
            self.owned.dispose()


def first_failure(result: dg.ExecuteInProcessResult) -> str:
    """The root cause of the first failed step (the server's message for an API error), or the
    failed checks' descriptions."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            # "pipelines.connectors.errors.AuthError: GET /v1/project: 401 ..." -> "AuthError: ..."
            message = error.message.strip()
            if error.cls_name and f"{error.cls_name}:" in message:
                message = error.cls_name + message.split(f"{error.cls_name}", 1)[1]
            return f"{event.step_key}: {message}"
    failed_checks = [
        f"{e.asset_check_evaluation_data.asset_key.to_user_string()}: "
        f"{e.asset_check_evaluation_data.description}"
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    ]
    return "; ".join(failed_checks) or "the run failed"


def _requests(result: dg.ExecuteInProcessResult) -> int:
    """Requests the run made: the in-process run shares one connector across its steps, so
    the largest ``requests_so_far`` any asset reported is the total."""
    seen = [
        int(event.materialization.metadata["requests_so_far"].value)
        for event in result.get_asset_materialization_events()
        if "requests_so_far" in event.materialization.metadata
    ]
    return max(seen, default=0)


def window_rows(path: str | os.PathLike, window: raw_vemetric.Window) -> dict[str, int]:
    """Rows per raw table that belong to the window (snapshot tables: all rows)."""
    daily = {"users", "user_events"}
    ranged = {"analytics", "funnel_results", "filter_values"}
    counts = {}
    with warehouse.writer(path) as conn:
        for table in ("project", "funnels", *sorted(daily), *sorted(ranged)):
            where = ("where partition_date between $first and $last" if table in daily else
                     "where date_from >= $first and date_to <= $last" if table in ranged else "")
            counts[table] = conn.execute(
                f"select count(*) from {raw_vemetric.SCHEMA}.{table} {where}",
                window.params() if where else None).fetchone()[0]
    return counts


@dataclass
class RichProgress:
    """A live line for ``funnelhouse sync``: requests, rate window, rows landed, ETA."""

    console: Any
    expected_requests: int | None = None
    connectors: list[Any] = field(default_factory=list)
    landed: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    live: Any = None

    def __enter__(self) -> RichProgress:
        from rich.live import Live

        self.live = Live(self.render(), console=self.console, refresh_per_second=4,
                         transient=True, get_renderable=self.render)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(*exc)

    def connected(self, connector: Any) -> None:
        if all(c is not connector for c in self.connectors):
            self.connectors.append(connector)

    def expect(self, requests: int) -> None:
        self.expected_requests = self._made() + requests

    def rows(self, table: str, count: int) -> None:
        self.landed[table] = self.landed.get(table, 0) + count

    def render(self) -> Any:
        from rich.text import Text

        stats = self._stats()
        made = sum(s["requests"] for s in stats)
        limits = [s["rate_limit"] for s in stats if s.get("rate_limit")]
        left = f"{limits[-1]['remaining']}/{limits[-1]['limit']}" if limits else "?"
        rows = sum(self.landed.values())
        return Text(f"requests {made}  left in rate window {left}  rows {rows:,}  "
                    f"ETA {self._eta(made)}")

    def _stats(self) -> list[dict]:
        return [c.stats.snapshot() for c in self.connectors if getattr(c, "stats", None)]

    def _made(self) -> int:
        return sum(s["requests"] for s in self._stats())

    def _eta(self, made: int) -> str:
        """Time left at the run's pace so far (rate-limit waits included), "?" until a
        listing has said how many requests are to come."""
        if not self.expected_requests or made == 0:
            return "?"
        left = self.expected_requests - made
        if left <= 0:
            return "finishing"
        remaining = left * (time.monotonic() - self.started) / made
        return f"{int(remaining // 60)}m{int(remaining % 60):02d}s"
