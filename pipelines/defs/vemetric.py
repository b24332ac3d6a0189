"""Dagster assets for the Vemetric sync: ``raw_vemetric/*``, their checks, the job and schedule.

All assets share daily partitions with ``BackfillPolicy.single_run()``: a backfill over a range
is ONE run whose window is the partition key range, so the range's users are listed once and
each user's events are asked for once. Every asset that writes the warehouse is in the pool
``duckdb_warehouse`` (limit 1 in ``dagster.yaml``). Each raw table has a blocking check,
``no_quarantined_rows``, which fails the run when validation quarantined any row, naming the
checks that failed; the snapshot for notebooks is only published after every check passed.
"""


import warnings
from datetime import UTC, date, datetime

import dagster as dg

from pipelines import progress
from pipelines import raw_vemetric as raw
from pipelines.defs.resources import POOL, VemetricApi, Warehouse

# BackfillPolicy.single_run() is what makes a backfill one run over its range (the point of
# this design); Dagster still labels the parameter beta. Only that one warning is silenced.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

START_DATE = "2025-01-01"
daily = dg.DailyPartitionsDefinition(start_date=START_DATE)
single_run = dg.BackfillPolicy.single_run()
PREFIX = ["raw_vemetric"]
KEYS = {name: dg.AssetKey([*PREFIX, name]) for name in
        ("project", "funnels", "users", "user_events", "analytics", "funnel_results",
         "filter_values")}
CHECK = "no_quarantined_rows"
COMMON = dict(partitions_def=daily, backfill_policy=single_run, pool=POOL, group_name="vemetric",
              kinds={"duckdb"})


def window_of(context: dg.AssetExecutionContext) -> raw.Window:
    keys = context.partition_key_range
    return raw.Window(date.fromisoformat(keys.start), date.fromisoformat(keys.end))


def check_spec(table: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(CHECK, asset=KEYS[table], blocking=True,
                             description="No row of the partition failed validation")


def check_result(warehouse: Warehouse, table: str, window: raw.Window) -> dg.AssetCheckResult:
    """Pass when nothing was quarantined; else name the failed checks and show a few rows."""
    return quarantine_result(KEYS[table], raw.quarantined(warehouse.resolved(), table, window))


def quarantine_result(key: dg.AssetKey, records) -> dg.AssetCheckResult:
    """The ``no_quarantined_rows`` result of any source's table from its quarantine records."""
    checks = sorted({c for text in records["checks"] for c in text.split(",")})
    return dg.AssetCheckResult(
        asset_key=key, check_name=CHECK, passed=records.height == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if not checks else f"{records.height} row(s) quarantined: failed "
        + ", ".join(checks),
        metadata={"quarantined": records.height, "failed_checks": ", ".join(checks),
                  "examples": dg.MetadataValue.md("\n".join(f"- `{r}`" for r in records["raw"][:5]))},
    )


def _connector(vemetric: VemetricApi):
    connector = vemetric.connector()
    progress.current().connected(connector)
    return connector


def _results(landed: raw.Landed, warehouse: Warehouse, window: raw.Window, connector):
    for table, rows in landed.rows.items():
        yield dg.MaterializeResult(asset_key=KEYS[table], metadata={
            "rows": rows, "quarantined": landed.quarantined.get(table, 0),
            "window": f"{window.first}..{window.last}",
            "requests_so_far": connector.stats.snapshot()["requests"],
        })
    for table in landed.rows:
        yield check_result(warehouse, table, window)


def _now() -> datetime:
    return datetime.now(UTC)


@dg.asset(key=KEYS["project"], check_specs=[check_spec("project")], **COMMON)
def project(context: dg.AssetExecutionContext, vemetric: VemetricApi, warehouse: Warehouse):
    """The project the key belongs to. Runs first: a 401/403 stops the run before any write."""
    window = window_of(context)
    connector = _connector(vemetric)
    # Key check plus the plan-gate probe over the window: a 401 or 403 ends the run here,
    # before anything is written.
    connector.preflight(window.date_range())
    yield from _results(raw.land_project(connector, warehouse.resolved(), window, _now()),
                        warehouse, window, connector)


@dg.asset(key=KEYS["funnels"], deps=[KEYS["project"]], check_specs=[check_spec("funnels")],
          **COMMON)
def funnels(context: dg.AssetExecutionContext, vemetric: VemetricApi, warehouse: Warehouse):
    """Every funnel of the project, steps as JSON; replaced each run."""
    window = window_of(context)
    connector = _connector(vemetric)
    yield from _results(raw.land_funnels(connector, warehouse.resolved(), window, _now()),
                        warehouse, window, connector)


@dg.multi_asset(
    specs=[dg.AssetSpec(KEYS["users"], deps=[KEYS["project"]], kinds={"duckdb"},
                        group_name="vemetric"),
           dg.AssetSpec(KEYS["user_events"], deps=[KEYS["project"]], kinds={"duckdb"},
                        group_name="vemetric")],
    check_specs=[check_spec("users"), check_spec("user_events")],
    partitions_def=daily, backfill_policy=single_run, pool=POOL, can_subset=False,
    name="raw_vemetric_users_and_events",
)
def users_and_events(context: dg.AssetExecutionContext, vemetric: VemetricApi,
                     warehouse: Warehouse):
    """Users listed once for the window, each user's events once, split into days locally."""
    window = window_of(context)
    connector = _connector(vemetric)
    landed = raw.land_users_and_events(connector, warehouse.resolved(), window, _now(),
                                       progress.current())
    yield from _results(landed, warehouse, window, connector)


@dg.asset(key=KEYS["analytics"], deps=[KEYS["user_events"]],
          check_specs=[check_spec("analytics")], **COMMON)
def analytics(context: dg.AssetExecutionContext, vemetric: VemetricApi, warehouse: Warehouse):
    """The API's own aggregates for the window: every grouping, plus each day's aggregate.

    ``event:prop:<p>`` groupings are asked for each string property seen in the window's events.
    """
    window = window_of(context)
    connector = _connector(vemetric)
    properties = raw.event_properties(warehouse.resolved(), window)
    landed = raw.land_analytics(connector, warehouse.resolved(), window, _now(), properties,
                                progress.current())
    yield from _results(landed, warehouse, window, connector)


@dg.asset(key=KEYS["funnel_results"], deps=[KEYS["funnels"]],
          check_specs=[check_spec("funnel_results")], **COMMON)
def funnel_results(context: dg.AssetExecutionContext, vemetric: VemetricApi,
                   warehouse: Warehouse):
    """``POST /v1/funnels/{id}`` per funnel for the window and for each of its days."""
    window = window_of(context)
    connector = _connector(vemetric)
    with warehouse.connection() as conn:
        raw.ensure_schema(conn)
        ids = [r[0] for r in conn.execute(f"select id from {raw.SCHEMA}.funnels order by id").fetchall()]
    landed = raw.land_funnel_results(connector, warehouse.resolved(), window, _now(), ids)
    yield from _results(landed, warehouse, window, connector)


@dg.asset(key=KEYS["filter_values"], deps=[KEYS["project"]],
          check_specs=[check_spec("filter_values")], **COMMON)
def filter_values(context: dg.AssetExecutionContext, vemetric: VemetricApi,
                  warehouse: Warehouse):
    """The values of the 15 filter fields for the window, every page."""
    window = window_of(context)
    connector = _connector(vemetric)
    yield from _results(raw.land_filter_values(connector, warehouse.resolved(), window, _now()),
                        warehouse, window, connector)


@dg.asset(key=dg.AssetKey("warehouse_snapshot"), deps=list(KEYS.values()), **COMMON)
def warehouse_snapshot(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Publish the warehouse as a read-only snapshot for notebooks (after every check passed)."""
    published = warehouse.publish()
    return dg.MaterializeResult(metadata={"snapshot": published.name})


ASSETS = [project, funnels, users_and_events, analytics, funnel_results, filter_values,
          warehouse_snapshot]

vemetric_sync = dg.define_asset_job(
    "vemetric_sync",
    selection=dg.AssetSelection.assets(*ASSETS),
    description="Sync Vemetric into raw_vemetric for a day or a range, then publish a snapshot.",
)

vemetric_daily = dg.build_schedule_from_partitioned_job(
    vemetric_sync, hour_of_day=2, minute_of_hour=15,
    description="Yesterday's Vemetric partition, every night at 02:15 UTC.",
)
