"""Dagster assets for the SQL models: one asset per file under ``sql/``, and the reconciliation
checks.

Each model is an asset keyed by its table (``stg_vemetric/events``, ``marts/sessions``, ...)
whose dependencies are the tables its SQL reads (raw tables are the sync's assets). They
share the raw assets' daily partitions and single-run backfills, so a run over a range
rebuilds just those days (widened by a model's lookback), in the ``duckdb_warehouse`` pool.
Reconciliation checks sit on ``marts/daily_metrics`` (one per family of groupings) and on
``marts/funnel_steps``; a mismatch fails its check with the differing rows as a Markdown table,
and what cannot be rebuilt from raw events is reported, not passed (``pipelines.reconcile``).
``marts_snapshot`` publishes the read-only snapshot once the models are built.

``funnelhouse sync`` runs the job ``vemetric_models`` right after the raw sync
(:func:`run_models`). In Dagster, the sensor ``models_after_sync`` does so after every
successful run of a source's sync job (``vemetric_sync``, ``engagetrack_sync``), for the same
days: whenever the sync finishes, however long it took, and for a backfill too. Like the
schedules, it starts stopped: turn it on with them (UI, or ``dagster sensor start
models_after_sync``).
"""


import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

from pipelines import models, reconcile, reconcile_engagetrack
from pipelines.defs.engagetrack import engagetrack_sync
from pipelines.defs.resources import POOL, Warehouse
from pipelines.defs.vemetric import daily, single_run, vemetric_sync, window_of

MODELS = models.discover()
HEADER = re.compile(r"^(partition|lookback_when|lookback|param|materialized|key|span):")
GROUP = "models"
CHECKED = {
    "marts.daily_metrics": [f for f in reconcile.FAMILIES if f != "funnels"],
    "marts.funnel_steps": ["funnels"],
    # EngageTrack: the visitors' timelines against the API's own figures
    "stg_engagetrack.events": [f"engagetrack_{f}" for f in reconcile_engagetrack.FAMILIES],
}


def asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def _description(model: models.Model) -> str:
    """The file's leading comment (header directives aside) and where it lives."""
    lines = []
    for line in model.sql.splitlines():
        if not line.startswith("--"):
            break
        text = line.removeprefix("--").strip()
        if not HEADER.match(text):
            lines.append(text)
    return f"{' '.join(lines)} ({model.path.relative_to(models.SQL_DIR.parent)})"


def _check_specs(model: models.Model) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(f"reconcile_{family}", asset=asset_key(model.name),
                              description=f"The {family} the API reported equal the models'")
            for family in CHECKED.get(model.name, [])]


def _model_asset(model: models.Model) -> dg.AssetsDefinition:
    @dg.asset(key=asset_key(model.name), deps=[asset_key(r) for r in sorted(model.reads)],
              partitions_def=daily, backfill_policy=single_run, pool=POOL, group_name=GROUP,
              kinds={"duckdb", "sql"}, check_specs=_check_specs(model),
              description=_description(model))
    def _build(context: dg.AssetExecutionContext, warehouse: Warehouse):
        window = window_of(context)
        days = models.DayRange(window.first, window.last)
        built = models.build(warehouse.resolved(), only=[model.name], days=days).models[0]
        yield dg.MaterializeResult(asset_key=asset_key(model.name), metadata={
            "mode": built.mode, "rows": built.rows if built.rows is not None else 0,
            "days": f"{built.days.first}..{built.days.last}" if built.days else "all",
            "seconds": round(built.seconds, 3),
        })
        if model.name in CHECKED:
            yield from check_results(warehouse, model.name, window.first, window.last)

    return _build


def check_results(warehouse: Warehouse, table: str, first: date,
                  last: date) -> list[dg.AssetCheckResult]:
    """One result per family checked on ``table``, for the ranges inside first..last."""
    with warehouse.connection() as conn:
        if table.startswith("stg_engagetrack."):
            outcomes = reconcile_engagetrack.reconcile(conn, first, last)
        else:
            kinds = ("funnel",) if CHECKED[table] == ["funnels"] else ("analytics",)
            outcomes = reconcile.reconcile(conn, first, last, kinds)
    return [family_result(table, family, [o for o in outcomes if o.family == family])
            for family in CHECKED[table]]


def family_result(table: str, family: str,
                  outcomes: list[reconcile.Outcome]) -> dg.AssetCheckResult:
    failed = [o for o in outcomes if o.status == "failed"]
    unsure = [o for o in outcomes if o.status == "not_rebuildable"]
    passed = bool(outcomes) and not failed and not unsure
    if failed:
        description = f"{len(failed)} of {len(outcomes)} comparison(s) differ: " + \
            "; ".join(o.name for o in failed[:5])
    elif unsure:
        description = f"not rebuildable from raw events: {unsure[0].reason}"
    elif outcomes:
        description = f"{len(outcomes)} comparison(s) agree"
    else:
        description = "nothing to compare: the API was not asked about this in the range"
    differences = pl.concat(
        [pl.DataFrame({"comparison": [], "value": [], "metric": [], "api": [], "local": []},
                      schema={c: pl.String for c in ("comparison", "value", "metric", "api",
                                                     "local")})]
        + [o.differences.select(pl.lit(o.name).alias("comparison"), pl.all()) for o in failed])
    metadata = {
        "passed": sum(o.status == "passed" for o in outcomes), "failed": len(failed),
        "not_rebuildable": len(unsure),
        "differences": dg.MetadataValue.md(reconcile.markdown_table(differences)),
    }
    return dg.AssetCheckResult(
        asset_key=asset_key(table), check_name=f"reconcile_{family}", passed=passed,
        # Only a real difference is an error; "not rebuildable" and "nothing to compare" (say,
        # Vemetric's checks on a warehouse that only holds EngageTrack) are not counted as
        # passed, but they are warnings, not failures.
        severity=dg.AssetCheckSeverity.ERROR if failed else dg.AssetCheckSeverity.WARN,
        description=description, metadata=metadata)


MODEL_ASSETS = [_model_asset(m) for m in MODELS]


@dg.asset(key=dg.AssetKey("marts_snapshot"), deps=[asset_key(m.name) for m in MODELS],
          partitions_def=daily, backfill_policy=single_run, pool=POOL, group_name=GROUP,
          kinds={"duckdb"})
def marts_snapshot(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Publish the warehouse, models included, as the read-only snapshot notebooks open."""
    return dg.MaterializeResult(metadata={"snapshot": warehouse.publish().name})


ASSETS = [*MODEL_ASSETS, marts_snapshot]

vemetric_models = dg.define_asset_job(
    "vemetric_models", selection=dg.AssetSelection.assets(*ASSETS),
    description="Rebuild the SQL models for a day or a range, reconcile them with the API's "
                "answers, then publish a snapshot.")

PARTITION = "dagster/partition"
RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
SYNC_JOBS = [vemetric_sync, engagetrack_sync]


def synced_days(tags: dict[str, str]) -> tuple[str, str] | None:
    """The first and last day a sync run covered, from its partition tags (a single-run
    backfill tags its range, a daily run its partition); None when it has neither."""
    if PARTITION in tags:
        return tags[PARTITION], tags[PARTITION]
    if all(tag in tags for tag in RANGE):
        return tags[RANGE[0]], tags[RANGE[1]]
    return None


@dg.run_status_sensor(
    name="models_after_sync", run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=SYNC_JOBS, request_job=vemetric_models, minimum_interval_seconds=60,
    description="Rebuild the models for the days a source's sync just landed, once it has "
                "succeeded (each source's nightly sync, a backfill, a manual run).")
def models_after_sync(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    days = synced_days(run.tags)
    if days is None:
        return dg.SkipReason(f"{run.job_name} run {run.run_id} has no partition to rebuild")
    first, last = days
    # One request per sync run (run_key): a sensor tick replayed never builds twice.
    if first == last:
        return dg.RunRequest(run_key=run.run_id, partition_key=first,
                             tags={"funnelhouse/after": run.job_name})
    return dg.RunRequest(run_key=run.run_id, tags={RANGE[0]: first, RANGE[1]: last,
                                                   "funnelhouse/after": run.job_name})


@dataclass(frozen=True)
class CheckLine:
    """One reconciliation check's result, as ``funnelhouse sync`` prints it."""

    name: str
    passed: bool
    severity: str
    description: str

    def describe(self) -> str:
        if self.passed:
            verdict = "passed"
        elif self.severity != "WARN":
            verdict = "FAILED"
        elif self.description.startswith("nothing to compare"):
            verdict = "NOT CHECKED"
        else:
            verdict = "NOT REBUILDABLE"
        return f"{self.name}: {verdict} - {self.description}"


def run_models(first: date, last: date, path: str | os.PathLike,
               instance: dg.DagsterInstance | None = None) -> list[CheckLine]:
    """Run ``vemetric_models`` in-process over first..last (a single-run backfill) and return
    each reconciliation check's result. Raises :class:`models.ModelError` if the run failed."""
    definitions = dg.Definitions(assets=ASSETS, jobs=[vemetric_models],
                                 resources={"warehouse": Warehouse(path=str(Path(path)))})
    job = definitions.resolve_job_def("vemetric_models")
    tags = {"dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}
    from pipelines.sync import QUIET as quiet
    with _instance(instance) as dagster:
        result = job.execute_in_process(run_config=quiet, instance=dagster, tags=tags,
                                        raise_on_error=False)
    if not result.success:
        raise models.ModelError(f"building the models failed: {_first_error(result)}")
    return [_check_line(e.asset_check_evaluation_data) for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"]


def _check_line(data) -> CheckLine:
    return CheckLine(name=f"{data.asset_key.to_user_string()} {data.check_name}",
                     passed=data.passed, severity=data.severity.value,
                     description=data.description or "")


def _first_error(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            return f"{event.step_key}: {error.message.strip()}"
    return "the run failed"


class _instance:
    """The given instance, else a temporary one disposed afterwards."""

    def __init__(self, given: dg.DagsterInstance | None) -> None:
        self.given, self.owned = given, None

    def __enter__(self) -> dg.DagsterInstance:
        if self.given is not None:
            return self.given
        self.owned = dg.DagsterInstance.ephemeral()
        return self.owned

    def __exit__(self, *exc: object) -> None:
        if self.owned is not None:
            self.owned.dispose()
