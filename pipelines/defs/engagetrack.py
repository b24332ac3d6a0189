"""Dagster assets for the EngageTrack sync: ``raw_engagetrack/*``, their checks, job, schedule.

Built exactly as the Vemetric sync (:mod:`pipelines.defs.vemetric`), on the same daily
partitions with ``BackfillPolicy.single_run()``, in the ``duckdb_warehouse`` pool, each raw
table with the blocking ``no_quarantined_rows`` check. One run syncs the site the resource
names (or the organization's only site). ``raw_engagetrack__sites`` runs first and makes the
preflight: a 401, 402 or 403 (every missing scope named) ends the run before any write.
"""

from datetime import UTC, datetime

import dagster as dg

from pipelines import progress
from pipelines import raw_engagetrack as raw
from pipelines.defs.resources import POOL, EngageTrackApi, Warehouse
from pipelines.defs.vemetric import CHECK, daily, quarantine_result, single_run, window_of
from pipelines.reports.config import load_reports

PREFIX = ["raw_engagetrack"]
GROUP = "engagetrack"
KEYS = {name: dg.AssetKey([*PREFIX, name]) for name in (*raw.SNAPSHOTS, *raw.DAILY, *raw.RANGED)}
COMMON = dict(partitions_def=daily, backfill_policy=single_run, pool=POOL, group_name=GROUP,
              kinds={"duckdb"})


def check_spec(table: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(CHECK, asset=KEYS[table], blocking=True,
                             description="No row of the partition failed validation")


def _connector(engagetrack: EngageTrackApi):
    connector = engagetrack.connector()
    progress.current().connected(connector)
    return connector


def _results(landed, engagetrack: EngageTrackApi, warehouse: Warehouse, window, connector):
    site = engagetrack.site()
    for table, rows in landed.rows.items():
        yield dg.MaterializeResult(asset_key=KEYS[table], metadata={
            "rows": rows, "quarantined": landed.quarantined.get(table, 0), "site": site,
            "window": f"{window.first}..{window.last}",
            "requests_so_far": connector.stats.snapshot()["requests"],
        })
    for table in landed.rows:
        records = raw.quarantined(warehouse.resolved(), table, window, site)
        yield quarantine_result(KEYS[table], records)


def _now() -> datetime:
    return datetime.now(UTC)


def _site_asset(table: str, land, deps: list[str], doc: str):
    """An asset landing one table of the site with ``land(connector, path, window, at, site)``."""

    @dg.asset(key=KEYS[table], deps=[KEYS[d] for d in deps], check_specs=[check_spec(table)],
              description=doc, **COMMON)
    def _asset(context: dg.AssetExecutionContext, engagetrack: EngageTrackApi,
               warehouse: Warehouse):
        window = window_of(context)
        connector = _connector(engagetrack)
        landed = land(connector, warehouse.resolved(), window, _now(), engagetrack.site())
        yield from _results(landed, engagetrack, warehouse, window, connector)

    return _asset


@dg.asset(key=KEYS["sites"], check_specs=[check_spec("sites")], **COMMON)
def sites(context: dg.AssetExecutionContext, engagetrack: EngageTrackApi, warehouse: Warehouse):
    """The organization's sites. Runs first: the preflight names every missing scope at once,
    and a 401/402/403 stops the run before any write."""
    window = window_of(context)
    connector = _connector(engagetrack)
    report = connector.preflight(engagetrack.site_id or None)
    engagetrack.site(report.sites)
    landed = raw.land_sites(connector, warehouse.resolved(), window, _now())
    yield from _results(landed, engagetrack, warehouse, window, connector)


goals = _site_asset("goals", raw.land_goals, ["sites"],
                    "The site's goals, archived ones included; replaced each run.")
funnels = _site_asset("funnels", raw.land_funnels, ["sites"],
                      "The site's funnels, steps as JSON; replaced each run.")
annotations = _site_asset("annotations", raw.land_annotations, ["sites"],
                          "The site's annotations; replaced each run.")


@dg.multi_asset(
    specs=[dg.AssetSpec(KEYS[t], deps=[KEYS["sites"]], kinds={"duckdb"}, group_name=GROUP)
           for t in raw.DAILY],
    check_specs=[check_spec(t) for t in raw.DAILY],
    partitions_def=daily, backfill_policy=single_run, pool=POOL, can_subset=False,
    name="raw_engagetrack_visitors_and_events",
)
def visitors_and_events(context: dg.AssetExecutionContext, engagetrack: EngageTrackApi,
                        warehouse: Warehouse):
    """The window's visitors listed once, each one's timeline paged once for the window."""
    window = window_of(context)
    connector = _connector(engagetrack)
    landed = raw.land_visitors_and_events(connector, warehouse.resolved(), window, _now(),
                                          engagetrack.site(), progress.current())
    yield from _results(landed, engagetrack, warehouse, window, connector)


# The API's aggregates are asked for after the events, so both describe the same moment.
stats = _site_asset("stats", raw.land_stats, ["timeline_events"],
                    "analytics/stats for the window and for each of its days.")
revenue = _site_asset("revenue", raw.land_revenue, ["timeline_events"],
                      "analytics/revenue for the window.")
breakdowns = _site_asset("breakdowns", raw.land_breakdowns, ["timeline_events"],
                         "Pages, sources, channels, devices and locations for the window.")
goal_stats = _site_asset("goal_stats", raw.land_goal_stats, ["goals", "timeline_events"],
                         "goals/stats for the window.")


@dg.asset(key=KEYS["funnel_analyses"], deps=[KEYS["funnels"], KEYS["timeline_events"]],
          check_specs=[check_spec("funnel_analyses")], **COMMON)
def funnel_analyses(context: dg.AssetExecutionContext, engagetrack: EngageTrackApi,
                    warehouse: Warehouse):
    """``funnels/{id}/analyze`` per funnel for the window and for each of its days, and for the
    periods the declared EngageTrack funnel reports read that end on a day of the window."""
    window = window_of(context)
    connector = _connector(engagetrack)
    landed = raw.land_site_funnel_analyses(connector, warehouse.resolved(), window, _now(),
                                           engagetrack.site(), load_reports().values())
    yield from _results(landed, engagetrack, warehouse, window, connector)


@dg.asset(key=dg.AssetKey("engagetrack_snapshot"), deps=list(KEYS.values()), **COMMON)
def engagetrack_snapshot(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Publish the warehouse as a read-only snapshot for notebooks (after every check passed)."""
    return dg.MaterializeResult(metadata={"snapshot": warehouse.publish().name})


ASSETS = [sites, goals, funnels, annotations, visitors_and_events, stats, revenue, breakdowns,
          goal_stats, funnel_analyses, engagetrack_snapshot]

engagetrack_sync = dg.define_asset_job(
    "engagetrack_sync",
    selection=dg.AssetSelection.assets(*ASSETS),
    description="Sync one EngageTrack site into raw_engagetrack for a day or a range, then "
                "publish a snapshot.",
)

engagetrack_daily = dg.build_schedule_from_partitioned_job(
    engagetrack_sync, hour_of_day=2, minute_of_hour=30,
    description="Yesterday's EngageTrack partition, every night at 02:30 UTC.",
)
