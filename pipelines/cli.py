"""The ``funnelhouse`` command.

Each command parses its options, calls one library function and turns the project's own
errors into a one-line ``Error: ...`` with exit code 1. Heavy imports happen inside the
commands so that ``funnelhouse --help`` stays fast.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="funnelhouse",
    help="Warehouse sync and reporting for product-analytics APIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ReferenceApi(str, Enum):
    vemetric = "vemetric"
    engagetrack = "engagetrack"


class SyncedApi(str, Enum):
    """APIs ``sync`` and ``plan`` can read."""

    vemetric = "vemetric"
    engagetrack = "engagetrack"


BASE_URL_HELP = "API root (default $VEMETRIC_BASE_URL or $ENGAGETRACK_BASE_URL, else the real API)."
FromOption = Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")]
ToOption = Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD, inclusive.")]
WarehouseOption = Annotated[
    Optional[Path],
    typer.Option(help="Warehouse file (default $FUNNELHOUSE_WAREHOUSE or .funnelhouse/)."),
]
OrgOption = Annotated[
    Optional[str],
    typer.Option("--org", help="EngageTrack organization id (default $ENGAGETRACK_ORG_ID)."),
]
SiteOption = Annotated[
    Optional[str],
    typer.Option("--site", help="EngageTrack site id (default $ENGAGETRACK_SITE_ID, else the "
                                "organization's only site)."),
]


def engagetrack_only(api: SyncedApi, org: str | None, site: str | None) -> None:
    if api is not SyncedApi.engagetrack and (org or site):
        raise fail("--org and --site apply to engagetrack only")


def fail(message: str) -> typer.Exit:
    """Print ``Error: message`` on stderr and return the exit to raise."""
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    from pipelines.reference.clock import parse_utc

    try:
        return parse_utc(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--now") from exc


@app.command()
def serve(
    api: Annotated[ReferenceApi, typer.Argument(help="Which reference API to serve.")],
    data: Annotated[
        Path, typer.Option(help="Dataset: a JSON fixture file or a generated directory.")
    ],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind (0 picks a free one).")] = 8000,
    now: Annotated[
        Optional[str],
        typer.Option(help="Freeze the server clock, e.g. 2026-02-17T23:59:59Z."),
    ] = None,
    rate_limit: Annotated[
        Optional[int],
        typer.Option(min=1, help="Requests per 60 s window (default: the real API's, Vemetric"
                     " 100 per project, EngageTrack 600 per key)."),
    ] = None,
    faults: Annotated[
        str,
        typer.Option(help="Inject faults per request, e.g. 429=0.1,500=0.05,timeout=0.02,truncate=0.01."),
    ] = "",
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault injector's RNG.")] = 0,
    fault_hang: Annotated[
        float, typer.Option(help="Seconds an injected 'timeout' fault hangs before answering.")
    ] = 30.0,
) -> None:
    """Serve an offline reference API on a dataset.

    Prints one line "listening on http://HOST:PORT" once it accepts requests, e.g.
    funnelhouse serve vemetric --data tiny.json
    """
    from pipelines.reference.faults import Faults, FaultSpecError, with_faults
    from pipelines.reference.serving import run_server
    from pipelines.reference.vemetric.app import create_app
    from pipelines.reference.vemetric.dataset import DatasetError, load_dataset

    frozen = parse_now(now)
    try:
        injected = Faults.parse(faults, seed=fault_seed, hang_seconds=fault_hang)
    except FaultSpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from exc
    if api is ReferenceApi.engagetrack:
        from pipelines.reference.engagetrack.app import serve_app
        from pipelines.reference.engagetrack.dataset import DatasetError as EngageTrackDataError

        try:
            served = serve_app(data, now=frozen, rate_limit=rate_limit, faults=injected)
        except EngageTrackDataError as exc:
            raise fail(str(exc)) from exc
        run_server(served, host=host, port=port)
        return
    try:
        dataset = load_dataset(data)
    except DatasetError as exc:
        raise fail(str(exc)) from exc
    served = create_app(dataset, now=frozen, rate_limit=rate_limit or 100)
    if injected:
        served = with_faults(served, injected)
    run_server(served, host=host, port=port)


@app.command()
def generate(
    api: Annotated[ReferenceApi, typer.Argument(help="Which API's dataset format to write.")],
    out: Annotated[Path, typer.Option(help="Directory to write the dataset into.")],
    users: Annotated[
        int,
        typer.Option(
            min=1,
            help="Number of visitors (users and anonymous). A visitor makes about 4.2 events"
            " plus 0.21 per day: ~5.7 over 7 days, ~10.5 over 30 (95,000 visitors x 30 days"
            " = 1M events).",
        ),
    ] = 1000,
    days: Annotated[int, typer.Option(min=1, help="Number of days of traffic.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same data.")] = 7,
    start: Annotated[
        Optional[str], typer.Option(help="First day, YYYY-MM-DD (default: DAYS days before today).")
    ] = None,
) -> None:
    """Generate a realistic, deterministic dataset in the reference format."""
    from pipelines.reference.vemetric.generate import GenerateError
    from pipelines.reference.vemetric.generate import generate as generate_vemetric

    first_day = None
    if start is not None:
        try:
            first_day = date.fromisoformat(start)
        except ValueError as exc:
            raise typer.BadParameter("expected YYYY-MM-DD", param_hint="--start") from exc
    write = generate_vemetric
    if api is ReferenceApi.engagetrack:
        from pipelines.reference.engagetrack.generate import generate as write
    try:
        summary = write(out, users=users, days=days, seed=seed, start=first_day)
    except GenerateError as exc:
        raise fail(str(exc)) from exc
    typer.echo(summary.describe())


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("expected YYYY-MM-DD", param_hint=option) from exc


@app.command()
def sync(
    api: Annotated[SyncedApi, typer.Argument(help="Which API to sync.")],
    date_from: FromOption,
    date_to: ToOption,
    base_url: Annotated[Optional[str], typer.Option(help=BASE_URL_HELP)] = None,
    warehouse: WarehouseOption = None,
    org: OrgOption = None,
    site: SiteOption = None,
) -> None:
    """Sync a date range into the warehouse, then publish a read-only snapshot.

    The key comes from $VEMETRIC_API_KEY or $ENGAGETRACK_API_KEY, e.g.
    funnelhouse sync vemetric --from 2026-01-01 --to 2026-01-31
    """
    from rich.console import Console

    from pipelines.sync import RichProgress, SyncError, run_sync

    engagetrack_only(api, org, site)
    first, last = parse_day(date_from, "--from"), parse_day(date_to, "--to")
    console = Console(stderr=True)
    try:
        with RichProgress(console) as display:
            result = run_sync(first, last, base_url=base_url, warehouse_path=warehouse,
                              observer=display, api=api.value, org_id=org, site_id=site)
    except SyncError as exc:
        raise fail(str(exc)) from exc
    print_sync_summary(result)


def print_sync_summary(result) -> None:
    """Rows per raw table for the synced window, requests made and the published snapshot."""
    from rich.console import Console
    from rich.table import Table

    typer.echo(f"Synced {result.api} {result.first} .. {result.last} into {result.schema}:")
    table = Table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in result.rows.items():
        table.add_row(name, f"{rows:,}")
    Console().print(table)
    typer.echo(f"{result.requests:,} requests; snapshot {result.snapshot}")
    for check in result.checks:  # the models' reconciliation checks (issue 5)
        typer.echo(check.describe())


@app.command()
def plan(
    api: Annotated[SyncedApi, typer.Argument(help="Which API's sync to plan.")],
    date_from: FromOption,
    date_to: ToOption,
    base_url: Annotated[Optional[str], typer.Option(help=BASE_URL_HELP)] = None,
    org: OrgOption = None,
    site: SiteOption = None,
    warehouse: Annotated[
        Optional[Path],
        typer.Option(help="Warehouse whose synced events tell which event properties a Vemetric "
                          "sync will break down by (default $FUNNELHOUSE_WAREHOUSE or "
                          ".funnelhouse/)."),
    ] = None,
) -> None:
    """Show the requests a sync would make, and the minutes the rate limit makes it take.

    A few cheap calls; the key comes from $VEMETRIC_API_KEY or $ENGAGETRACK_API_KEY.
    """
    from pipelines.connectors.errors import ConnectorError

    engagetrack_only(api, org, site)
    first, last = parse_day(date_from, "--from"), parse_day(date_to, "--to")
    if last < first:
        raise fail(f"--to {last} is before --from {first}")
    try:
        if api is SyncedApi.engagetrack:
            typer.echo(plan_engagetrack_text(first, last, base_url, org, site))
        else:
            typer.echo(plan_vemetric_text(first, last, base_url, warehouse))
    except ConnectorError as exc:
        raise fail(str(exc)) from exc


def plan_vemetric_text(first: date, last: date, base_url: str | None,
                       warehouse: Path | None) -> str:
    import os

    from pipelines.connectors.planning import plan_vemetric
    from pipelines.connectors.vemetric import (
        DEFAULT_BASE_URL,
        VemetricConnector,
        api_key_from_env,
    )
    from pipelines.raw_vemetric import known_event_properties

    url = base_url or os.environ.get("VEMETRIC_BASE_URL") or DEFAULT_BASE_URL
    # The API cannot list event property names; a sync breaks down by those its events carry.
    # The warehouse's earlier syncs are the best source before anything runs (exact when the
    # range was synced before); the plan says which it assumed.
    properties = known_event_properties(warehouse, first, last)
    with VemetricConnector.connect(url, api_key_from_env()) as connector:
        return plan_vemetric(connector, first, last, event_properties=properties).describe()


def plan_engagetrack_text(first: date, last: date, base_url: str | None, org: str | None,
                          site: str | None) -> str:
    import os

    from pipelines.connectors.engagetrack import (
        DEFAULT_BASE_URL,
        EngageTrackConnector,
        api_key_from_env,
    )
    from pipelines.connectors.planning_engagetrack import plan_engagetrack
    from pipelines.defs.resources import EngageTrackApi
    from pipelines.reports.config import ConfigError, load_reports

    url = base_url or os.environ.get("ENGAGETRACK_BASE_URL") or DEFAULT_BASE_URL
    org = org or os.environ.get("ENGAGETRACK_ORG_ID", "").strip()
    if not org:
        raise fail("no EngageTrack organization: pass --org or set ENGAGETRACK_ORG_ID")
    key = api_key_from_env()
    try:  # the sync asks for its funnel reports' periods too
        reports = load_reports().values()
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    chooser = EngageTrackApi(base_url=url, api_key=key, org_id=org,
                             site_id=site or os.environ.get("ENGAGETRACK_SITE_ID", "").strip())
    with EngageTrackConnector.connect(url, key, org) as connector:
        try:
            site_id = chooser.site(connector.sites())
        except ValueError as exc:
            raise fail(str(exc)) from exc
        return plan_engagetrack(connector, site_id, first, last, reports=reports).describe()


@app.command()
def demo(
    workdir: Annotated[
        Path, typer.Option(help="Where the dataset, warehouse and report are written.")
    ] = Path(".funnelhouse/demo"),
    users: Annotated[int, typer.Option(min=1, help="Visitors to generate.")] = 400,
    days: Annotated[int, typer.Option(min=1, max=365, help="Days of traffic, ending --end.")] = 14,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 7,
    end: Annotated[str, typer.Option(help="Last day of the dataset, YYYY-MM-DD.")] = "2026-02-15",
) -> None:
    """Run the main job end to end on embedded defaults.

    Generates data, serves the reference Vemetric API, syncs it into DuckDB through the Dagster
    job (models and reconciliation included), writes the weekly report and prints the summary.
    """
    from rich.console import Console

    from pipelines.demo import DemoSettings, run_demo
    from pipelines.reports.runner import REPORT_ERRORS
    from pipelines.sync import RichProgress, SyncError

    settings = DemoSettings(workdir=workdir, users=users, days=days, seed=seed,
                            end=parse_day(end, "--end"))
    console = Console(stderr=True)
    try:
        with RichProgress(console) as display:
            result = run_demo(settings, observer=display, say=console.print)
    except (SyncError, *REPORT_ERRORS) as exc:
        raise fail(str(exc)) from exc
    print_sync_summary(result.sync)
    for notice in result.report.notices:
        typer.echo(f"report notice: {notice}")
    typer.echo(f"Weekly report ({result.report.period.first} .. {result.report.period.last}): "
               f"{result.report.path.resolve()}")


@app.command()
def build(
    full: Annotated[bool, typer.Option("--full", help="Rebuild every model whole.")] = False,
    warehouse: WarehouseOption = None,
) -> None:
    """Rebuild the SQL models, then publish a read-only snapshot.

    Only the days synced since the last build, or everything with --full.
    """
    from pipelines import warehouse as warehouse_module
    from pipelines.models import ModelError
    from pipelines.models import build as build_models

    try:
        report = build_models(warehouse, full=full)
    except ModelError as exc:
        raise fail(str(exc)) from exc
    typer.echo(report.describe())
    typer.echo(f"snapshot {warehouse_module.publish_snapshot(warehouse)}")


@app.command()
def check(
    date_from: Annotated[
        Optional[str], typer.Option("--from", help="First day of the ranges to check.")
    ] = None,
    date_to: Annotated[
        Optional[str], typer.Option("--to", help="Last day of the ranges to check.")
    ] = None,
    warehouse: WarehouseOption = None,
) -> None:
    """Re-run the reconciliation checks on the warehouse as it stands.

    Compares the models with the API's own answers (Vemetric's and EngageTrack's); the exit
    code is 1 when a check fails, e.g. funnelhouse check --from 2026-01-01
    """
    import duckdb

    from pipelines import warehouse as warehouse_module
    from pipelines import reconcile_engagetrack
    from pipelines.reconcile import reconcile, summary_lines

    first = parse_day(date_from, "--from") if date_from else None
    last = parse_day(date_to, "--to") if date_to else None
    path = warehouse or warehouse_module.default_path()
    if not Path(path).exists():
        raise fail(f"no warehouse at {path}: run `funnelhouse sync` first")
    try:
        conn = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise fail(f"cannot open {path}: {exc}") from exc
    try:
        outcomes = [*reconcile(conn, first, last),
                    *reconcile_engagetrack.reconcile(conn, first, last)]
    except duckdb.CatalogException as exc:
        raise fail(f"{path} has no models: run `funnelhouse build` ({exc})") from exc
    finally:
        conn.close()
    if not outcomes:
        raise fail("nothing to check: no synced range lies inside --from/--to")
    for line in summary_lines(outcomes):
        typer.echo(line)
    failed = [o for o in outcomes if o.status == "failed"]
    for outcome in failed:
        typer.echo(f"\n{outcome.describe()}\n{outcome.differences}")
    if failed:
        raise typer.Exit(code=1)


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="A report declared in reports/reports.yaml.")],
    to: Annotated[
        Optional[list[str]],
        typer.Option("--to", help="Email it to this address (repeatable) instead of writing "
                                  "only the file; SMTP settings from $FUNNELHOUSE_SMTP_*."),
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(help="Directory for the HTML file (default $FUNNELHOUSE_REPORTS_DIR or "
                          ".funnelhouse/reports; written unless only --to is given)."),
    ] = None,
    as_of: Annotated[
        Optional[str],
        typer.Option(help="Report as if run at this time, e.g. 2026-02-16T07:00:00Z (default "
                          "now)."),
    ] = None,
    config: Annotated[
        Optional[Path], typer.Option(help="Reports file (default $FUNNELHOUSE_REPORTS_FILE or "
                                          "reports/reports.yaml).")
    ] = None,
    warehouse: WarehouseOption = None,
) -> None:
    """Render one report now from the latest snapshot, to an HTML file and/or by email.

    Prints the file's path, e.g. funnelhouse report weekly --out out --to ana@example.com
    """
    from pipelines.reference.clock import parse_utc
    from pipelines.reports.config import config_path, load_reports
    from pipelines.reports.runner import REPORT_ERRORS, default_out_dir, make_report

    try:
        moment = parse_utc(as_of) if as_of else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--as-of") from exc
    try:
        reports = load_reports(config or config_path())
        if name not in reports:
            raise fail(f"no report named {name!r} in {config or config_path()}; declared: "
                       f"{', '.join(reports) or 'none'}")
        result = make_report(reports[name], as_of=moment, warehouse_path=warehouse,
                             out_dir=out or (None if to else default_out_dir()), send_to=to or [])
    except REPORT_ERRORS as exc:
        raise fail(str(exc)) from exc
    for notice in result.notices:
        typer.secho(f"Warning: {notice}", err=True, fg=typer.colors.YELLOW)
    if result.receipt is not None:
        typer.echo(f"sent to {', '.join(result.receipt.accepted)} "
                   f"({result.receipt.attempts} attempt(s))", err=True)
    if result.path is not None:
        typer.echo(str(result.path))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
