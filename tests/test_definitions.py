"""The Dagster code location loads, and says what the design promises: pool, partitions,
single-run backfills, blocking checks, a daily schedule, resources from the environment."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.defs import vemetric as defs_vemetric
from pipelines.defs.resources import POOL, VemetricApi, Warehouse
from pipelines.definitions import defs

ROOT = Path(__file__).parents[1]
RAW = ["project", "funnels", "users", "user_events", "analytics", "funnel_results", "filter_values"]


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


SYNC_KEYS = {f"raw_vemetric/{t}" for t in RAW} | {"warehouse_snapshot"}


def test_every_raw_table_and_the_snapshot_are_assets(definitions):
    keys = {k.to_user_string() for k in definitions.resolve_all_asset_keys()}
    assert SYNC_KEYS <= keys
    job = definitions.resolve_job_def("vemetric_sync")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == SYNC_KEYS


def test_every_writer_shares_the_pool_and_single_run_backfills(definitions):
    graph = definitions.resolve_asset_graph()
    for key in (dg.AssetKey.from_user_string(k) for k in SYNC_KEYS):
        node = graph.get(key)
        assert node.pools == {POOL}, key
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), key
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition), key


def test_each_raw_table_has_a_blocking_quarantine_check(definitions):
    checks = definitions.resolve_asset_graph().asset_check_keys
    assert {(c.asset_key.to_user_string(), c.name) for c in checks
            if c.asset_key.path[0] == "raw_vemetric"} == {
        (f"raw_vemetric/{t}", "no_quarantined_rows") for t in RAW}
    blocking = {s.blocking for a in defs_vemetric.ASSETS for s in a.check_specs}
    assert blocking == {True}


def test_the_job_and_its_daily_schedule(definitions):
    job = definitions.resolve_job_def("vemetric_sync")
    assert job.partitions_def == defs_vemetric.daily
    schedule = definitions.resolve_schedule_def("vemetric_sync_schedule")
    assert schedule.cron_schedule == "15 2 * * *"
    assert schedule.job_name == "vemetric_sync"


def sync_succeeded(job: str, tags: dict[str, str]) -> dg.RunStatusSensorContext:
    """The context Dagster hands the sensor when a run of ``job`` with ``tags`` succeeded."""
    from dagster._core.events import DagsterEventType

    run = dg.DagsterRun(job_name=job, run_id=f"{job}-run", tags=tags,
                        status=dg.DagsterRunStatus.SUCCESS)
    event = dg.DagsterEvent(event_type_value=DagsterEventType.RUN_SUCCESS.value, job_name=job)
    return dg.build_run_status_sensor_context(
        sensor_name="models_after_sync", dagster_event=event,
        dagster_instance=dg.DagsterInstance.ephemeral(), dagster_run=run)


def test_the_models_run_after_each_source_s_sync_not_at_a_fixed_time(definitions):
    sensor = definitions.resolve_sensor_def("models_after_sync")
    assert sensor.job_name == "vemetric_models"
    # Dagster keeps the monitored jobs privately; they are what makes the daemon call it.
    assert {job.name for job in sensor._monitored_jobs} == {"vemetric_sync", "engagetrack_sync"}
    schedules = definitions.get_repository_def().schedule_defs
    assert schedules and not [s.name for s in schedules if s.job_name == "vemetric_models"]


def test_the_models_rebuild_exactly_the_days_the_sync_landed():
    from pipelines.defs.models import models_after_sync

    daily = models_after_sync(sync_succeeded("engagetrack_sync",
                                             {"dagster/partition": "2026-02-16"}))
    assert (daily.partition_key, daily.run_key) == ("2026-02-16", "engagetrack_sync-run")
    backfill = models_after_sync(sync_succeeded("vemetric_sync", {
        "dagster/asset_partition_range_start": "2026-02-01",
        "dagster/asset_partition_range_end": "2026-02-16"}))
    assert backfill.partition_key is None
    assert {k: v for k, v in backfill.tags.items() if "range" in k} == {
        "dagster/asset_partition_range_start": "2026-02-01",
        "dagster/asset_partition_range_end": "2026-02-16"}
    skipped = models_after_sync(sync_succeeded("vemetric_sync", {}))
    assert isinstance(skipped, dg.SkipReason) and "no partition" in skipped.skip_message


def test_resources_come_from_the_environment(definitions, monkeypatch):
    monkeypatch.setenv("VEMETRIC_API_KEY", "vem_fromtheenvironment0000000000000")
    monkeypatch.setenv("VEMETRIC_BASE_URL", "http://127.0.0.1:9")
    api = definitions.resources["vemetric"]
    assert isinstance(api, VemetricApi)
    with api.process_config_and_initialize_cm() as resolved:
        assert resolved.api_key == "vem_fromtheenvironment0000000000000"
        assert resolved.base_url == "http://127.0.0.1:9"
    monkeypatch.setenv("FUNNELHOUSE_WAREHOUSE", "/srv/wh.duckdb")
    assert Warehouse().resolved() == Path("/srv/wh.duckdb")


def test_instance_settings_limit_the_pool_to_one():
    settings = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert settings["concurrency"]["pools"]["default_limit"] == 1
    assert settings["concurrency"]["runs"]["max_concurrent_runs"] == 1


def test_env_example_lists_every_variable():
    text = (ROOT / ".env.example").read_text()
    for name in ("VEMETRIC_API_KEY", "VEMETRIC_BASE_URL", "FUNNELHOUSE_WAREHOUSE"):
        assert f"{name}=" in text


@pytest.mark.slow
def test_dg_check_defs_loads_the_code_location(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "VIRTUAL_ENV": str(ROOT / ".venv")}
    dg_cli = Path(sys.executable).with_name("dg")
    done = subprocess.run([str(dg_cli), "check", "defs"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully." in done.stdout + done.stderr
