"""The code location's EngageTrack part: every raw table an asset in the pool with single-run
backfills and a blocking quarantine check, the job and its daily schedule, the resource read
from the environment."""

import dagster as dg
import pytest

from pipelines import raw_engagetrack
from pipelines.defs import engagetrack as defs_engagetrack
from pipelines.defs.resources import POOL, EngageTrackApi
from pipelines.definitions import defs

RAW = [*raw_engagetrack.SNAPSHOTS, *raw_engagetrack.DAILY, *raw_engagetrack.RANGED]
SYNC_KEYS = {f"raw_engagetrack/{t}" for t in RAW} | {"engagetrack_snapshot"}


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()


def test_every_raw_table_and_the_snapshot_are_the_job_s_assets(definitions):
    job = definitions.resolve_job_def("engagetrack_sync")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == SYNC_KEYS


def test_every_writer_shares_the_pool_daily_partitions_and_single_run_backfills(definitions):
    graph = definitions.resolve_asset_graph()
    for key in (dg.AssetKey.from_user_string(k) for k in SYNC_KEYS):
        node = graph.get(key)
        assert node.pools == {POOL}, key
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), key
        assert node.partitions_def == defs_engagetrack.daily, key


def test_each_raw_table_has_a_blocking_quarantine_check(definitions):
    checks = definitions.resolve_asset_graph().asset_check_keys
    assert {(c.asset_key.to_user_string(), c.name) for c in checks
            if c.asset_key.path[0] == "raw_engagetrack"} == {
        (f"raw_engagetrack/{t}", "no_quarantined_rows") for t in RAW}
    assert {s.blocking for a in defs_engagetrack.ASSETS for s in a.check_specs} == {True}


def test_reconciliation_checks_sit_on_the_engagetrack_events_model(definitions):
    checks = definitions.resolve_asset_graph().asset_check_keys
    assert {c.name for c in checks if c.asset_key.to_user_string() == "stg_engagetrack/events"} \
        == {f"reconcile_engagetrack_{f}" for f in
            ("stats", "breakdowns", "revenue", "goals", "funnels")}


def test_the_job_runs_daily_after_vemetric_s(definitions):
    schedule = definitions.resolve_schedule_def("engagetrack_sync_schedule")
    assert schedule.cron_schedule == "30 2 * * *"
    assert schedule.job_name == "engagetrack_sync"


def test_the_resource_comes_from_the_environment(definitions, monkeypatch):
    monkeypatch.setenv("ENGAGETRACK_API_KEY", "et_live_" + "ab" * 16)
    monkeypatch.setenv("ENGAGETRACK_BASE_URL", "http://127.0.0.1:9/api/v1")
    monkeypatch.setenv("ENGAGETRACK_ORG_ID", "org_1")
    monkeypatch.setenv("ENGAGETRACK_SITE_ID", "site_1")
    api = definitions.resources["engagetrack"]
    assert isinstance(api, EngageTrackApi)
    with api.process_config_and_initialize_cm() as resolved:
        assert (resolved.api_key, resolved.base_url, resolved.org_id, resolved.site_id) == (
            "et_live_" + "ab" * 16, "http://127.0.0.1:9/api/v1", "org_1", "site_1")


def test_the_site_is_the_configured_one_or_the_only_one():
    def api(site: str) -> EngageTrackApi:
        return EngageTrackApi(api_key="k", org_id="org_1", site_id=site)

    assert api("").site([{"id": "site_1"}]) == "site_1"
    assert api("site_2").site([{"id": "site_1"}, {"id": "site_2"}]) == "site_2"
    with pytest.raises(ValueError, match="has 2 sites \\(site_1, site_2\\): set ENGAGETRACK_SITE_ID"):
        api("").site([{"id": "site_1"}, {"id": "site_2"}])
    with pytest.raises(ValueError, match="site 'site_9' is not in organization 'org_1'"):
        api("site_9").site([{"id": "site_1"}])
