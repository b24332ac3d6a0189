"""Dagster: one asset per report declared in ``reports/reports.yaml``, each with its schedule.

``reports/<name>`` sits downstream of the tables it reads, which follow its template and source
(:data:`pipelines.reports.data.READS`: an EngageTrack funnel report reads EngageTrack's own
analysis, ``stg_engagetrack/funnel_analyses``, not the events), and of the snapshot it reads
them from. A run renders the report for the
period before the run's scheduled time (so a re-run of Monday's run reports the same week),
writes the HTML file and emails it to the declared recipients through the ``smtp`` resource.
A send that is not accepted fails the run with the server's reply; nothing is reported as
delivered that the server did not accept.
"""

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from pipelines.defs.resources import Warehouse
from pipelines.reports.config import ReportConfig, load_reports
from pipelines.reports.data import READS
from pipelines.reports.runner import default_out_dir, make_report
from pipelines.reports.smtp import DEFAULT_PORTS, SmtpSettings

SCHEDULED_AT = "dagster/scheduled_execution_time"
SNAPSHOT = dg.AssetKey("marts_snapshot")   # reports open the snapshot published after the models


class SmtpResource(dg.ConfigurableResource):
    """The mail server reports go out through; the password arrives as ``dg.EnvVar``.

    >>> SmtpResource(host=dg.EnvVar("FUNNELHOUSE_SMTP_HOST"), sender="r@example.com",
    ...              password=dg.EnvVar("FUNNELHOUSE_SMTP_PASSWORD"))
    """

    host: str = Field(description="Mail server host name")
    port: int = Field(default=0, description="0 means the security mode's port (587, 465, 25)")
    security: str = Field(default="starttls", description="starttls | ssl | none")
    user: str = Field(default="", description="Login; empty for none")
    password: str = Field(default="", description="Set with dg.EnvVar('FUNNELHOUSE_SMTP_PASSWORD')")
    sender: str = Field(description='From address, e.g. "funnelhouse <reports@example.com>"')
    attempts: int = Field(default=5, description="Tries per email, the first included")
    ca_file: str = Field(default="", description="CA bundle for a relay with a private "
                                                "certificate; empty for the system's")

    def settings(self) -> SmtpSettings:
        if self.security not in DEFAULT_PORTS:
            raise ValueError(f"SMTP security must be one of {', '.join(DEFAULT_PORTS)}, "
                             f"not {self.security!r}")
        return SmtpSettings(host=self.host, port=self.port or None, security=self.security,
                            user=self.user or None, password=self.password or None,
                            sender=self.sender, attempts=self.attempts,
                            ca_file=self.ca_file or None)


def as_of(context: dg.AssetExecutionContext) -> datetime:
    """The run's scheduled time when a schedule launched it, else now."""
    stamp = context.run.tags.get(SCHEDULED_AT)
    return datetime.fromisoformat(stamp) if stamp else datetime.now(UTC)


def report_deps(config: ReportConfig) -> list[dg.AssetKey]:
    """The assets whose tables the report reads (schema.table -> schema/table), then the
    snapshot it reads them from."""
    tables = READS[(config.template, config.source)]
    return [*(dg.AssetKey(table.split(".")) for table in tables), SNAPSHOT]


def report_asset(config: ReportConfig) -> dg.AssetsDefinition:
    @dg.asset(key=dg.AssetKey(["reports", config.name]), group_name="reports",
              deps=report_deps(config),
              kinds={"html", "email"}, description=f"{config.title} ({config.range}), "
              f"emailed to {len(config.recipients)} recipient(s)")
    def report(context: dg.AssetExecutionContext, smtp: SmtpResource,
               warehouse: Warehouse) -> dg.MaterializeResult:
        result = make_report(config, as_of=as_of(context), warehouse_path=warehouse.resolved(),
                             out_dir=default_out_dir(), deliver=bool(config.recipients),
                             smtp=smtp.settings())
        for notice in result.notices:
            context.log.warning(notice)
        return dg.MaterializeResult(metadata={
            "period": f"{result.period.first}..{result.period.last}",
            "file": dg.MetadataValue.path(str(result.path)),
            "subject": result.subject,
            "accepted_for": ", ".join(result.receipt.accepted) if result.receipt else "",
            "send_attempts": result.receipt.attempts if result.receipt else 0,
            "complete_data": not result.notices,
        })

    return report


def report_schedule(config: ReportConfig, asset: dg.AssetsDefinition) -> dg.ScheduleDefinition:
    job = dg.define_asset_job(f"report_{config.name}", selection=[asset.key],
                              description=f"Render and send the report {config.name!r}.")
    return dg.ScheduleDefinition(name=f"report_{config.name}_schedule", job=job,
                                 cron_schedule=config.schedule.cron,
                                 execution_timezone=config.schedule.timezone,
                                 description=f"{config.title}: {config.schedule.cron} "
                                             f"({config.schedule.timezone})")


def report_definitions(configs: dict[str, ReportConfig]) -> dg.Definitions:
    """An asset, a job and a schedule per declared report."""
    assets, schedules = [], []
    for config in configs.values():
        asset = report_asset(config)
        assets.append(asset)
        schedules.append(report_schedule(config, asset))
    return dg.Definitions(assets=assets, schedules=schedules)


@dg.definitions
def reports() -> dg.Definitions:
    smtp = SmtpResource(
        host=dg.EnvVar("FUNNELHOUSE_SMTP_HOST"), port=dg.EnvVar.int("FUNNELHOUSE_SMTP_PORT"),
        security=dg.EnvVar("FUNNELHOUSE_SMTP_SECURITY"), user=dg.EnvVar("FUNNELHOUSE_SMTP_USER"),
        password=dg.EnvVar("FUNNELHOUSE_SMTP_PASSWORD"),
        sender=dg.EnvVar("FUNNELHOUSE_SMTP_SENDER"),
    )
    return dg.Definitions.merge(report_definitions(load_reports()),
                                dg.Definitions(resources={"smtp": smtp}))
