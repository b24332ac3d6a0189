"""Each declared report is a Dagster asset with a schedule; a run renders, writes and sends,
and a send that is not accepted fails the run with the server's reply."""

from __future__ import annotations

import dagster as dg
import pytest

from pipelines.defs.reports import SCHEDULED_AT, SmtpResource, report_definitions
from pipelines.defs.resources import Warehouse
from pipelines.reports.config import ReportConfig, Schedule, load_reports

WEEKLY = ReportConfig(name="weekly", title="Wöchentlicher Überblick", template="weekly",
                      source="vemetric", range="last_week",
                      recipients=("Zoë Müller <zoe@example.com>", "ops@example.org"),
                      schedule=Schedule(cron="0 7 * * 1", timezone="Europe/Berlin"))


def test_every_declared_report_is_an_asset_downstream_of_the_marts_with_its_schedule():
    resources = {"smtp": SmtpResource(host="mail", sender="r@example.com"),
                 "warehouse": Warehouse()}
    defs = dg.Definitions.merge(report_definitions(load_reports()),
                                dg.Definitions(resources=resources))
    graph = defs.resolve_asset_graph()
    weekly = dg.AssetKey(["reports", "weekly"])

    assert {k.to_user_string() for k in graph.get_all_asset_keys()
            if k.path[0] == "reports"} == {"reports/weekly", "reports/signup_funnel"}
    assert {p.to_user_string() for p in graph.get(weekly).parent_keys} == {
        "marts/events", "marts/users", "marts/daily_metrics", "stg_vemetric/synced_days",
        "raw_vemetric/project", "raw_vemetric/analytics", "marts_snapshot"}
    schedule = defs.resolve_schedule_def("report_weekly_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 7 * * 1",
                                                                      "Europe/Berlin")
    assert defs.resolve_schedule_def("report_signup_funnel_schedule").cron_schedule == \
        "30 7 * * 1"


def lineage(configs: dict[str, ReportConfig]) -> dict[str, set[str]]:
    """Each report's upstream assets in the whole code location (sync, models, reports)."""
    from pipelines.definitions import defs

    merged = dg.Definitions.merge(defs(), dg.Definitions(assets=report_definitions(configs).assets))
    graph = merged.resolve_asset_graph()
    return {name: {k.to_user_string() for k in graph.get(dg.AssetKey(["reports", name]))
                   .parent_keys} for name in configs}


def test_each_report_depends_on_what_its_template_reads_from_its_source():
    def report(template: str, source: str) -> ReportConfig:
        return ReportConfig(name=f"{source}_{template}", title="T", template=template,
                            source=source, range="last_7_days",
                            funnel="Signup" if template == "funnel" else None,
                            schedule=Schedule(cron="0 7 * * 1"))

    configs = {c.name: c for c in (report(t, s) for t in ("weekly", "funnel")
                                   for s in ("vemetric", "engagetrack"))}
    deps = lineage(configs)
    assert deps["engagetrack_funnel"] == {
        "stg_engagetrack/funnel_analyses", "stg_engagetrack/synced_days", "raw_engagetrack/sites",
        "raw_engagetrack/stats", "raw_engagetrack/funnels", "marts_snapshot"}
    assert deps["vemetric_funnel"] == {"marts/events", "stg_vemetric/synced_days",
                                       "raw_vemetric/project", "raw_vemetric/funnels",
                                       "marts_snapshot"}
    assert deps["engagetrack_weekly"] == {
        "marts/events", "marts/users", "marts/daily_metrics", "stg_engagetrack/synced_days",
        "raw_engagetrack/sites", "raw_engagetrack/stats", "raw_engagetrack/breakdowns",
        "marts_snapshot"}
    # every dependency is an asset the code location materialises, none a dangling key
    from pipelines.definitions import defs
    graph = defs().resolve_asset_graph()
    built = {k.to_user_string() for k in graph.get_all_asset_keys()
             if graph.get(k).is_materializable}
    assert set().union(*deps.values()) <= built


def materialize(report_warehouse, port: int, tmp_path, monkeypatch):
    monkeypatch.setenv("FUNNELHOUSE_REPORTS_DIR", str(tmp_path / "out"))
    [asset] = report_definitions({"weekly": WEEKLY}).assets
    smtp = SmtpResource(host="127.0.0.1", port=port, security="none",
                        sender="funnelhouse <reports@example.com>", attempts=3)
    return dg.materialize([asset], resources={"smtp": smtp,
                                              "warehouse": Warehouse(path=str(report_warehouse))},
                          tags={SCHEDULED_AT: "2026-02-16T07:00:00+01:00"},
                          raise_on_error=False)


def test_a_run_writes_the_file_and_emails_the_recipients(report_warehouse, smtp_server,
                                                          tmp_path, monkeypatch):
    recorder, port = smtp_server
    result = materialize(report_warehouse, port, tmp_path, monkeypatch)

    assert result.success
    [got] = recorder.received
    assert got.rcpt_tos == ["zoe@example.com", "ops@example.org"]
    assert got.message["Subject"] == "Wöchentlicher Überblick \u2014 9\u201315 Feb 2026"
    [materialization] = result.asset_materializations_for_node("reports__weekly")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["period"] == "2026-02-09..2026-02-15"
    assert metadata["accepted_for"] == "zoe@example.com, ops@example.org"
    assert metadata["file"] == str(tmp_path / "out" / "weekly-2026-02-09_2026-02-15.html")
    assert (tmp_path / "out" / "weekly-2026-02-09_2026-02-15.html").read_text().count(
        "data:image/png;base64,") == 3


def test_a_refused_send_fails_the_run_with_the_servers_reply(report_warehouse, smtp_server,
                                                              tmp_path, monkeypatch):
    recorder, port = smtp_server
    recorder.fail_data(["452 4.3.1 Insufficient system storage"] * 5)

    result = materialize(report_warehouse, port, tmp_path, monkeypatch)

    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    assert error.message.strip().endswith(
        f"SMTP 127.0.0.1:{port} did not accept the email after 3 attempt(s): 452 4.3.1 "
        "Insufficient system storage")
    assert recorder.data_commands == 3 and recorder.received == []
    assert not result.asset_materializations_for_node("reports__weekly")


def test_the_smtp_resource_refuses_an_unknown_security_mode():
    with pytest.raises(ValueError, match="SMTP security must be one of starttls, ssl, none, "
                                         "not 'tls'"):
        SmtpResource(host="mail", sender="r@example.com", security="tls").settings()
