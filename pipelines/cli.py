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
        int, typer.Option(help="Requests per 60 s window per project (the real API allows 100).")
    ] = 100,
) -> None:
    """Serve an offline reference API on a dataset: funnelhouse serve vemetric --data tiny.json"""
    from pipelines.reference.serving import run_server
    from pipelines.reference.vemetric.app import create_app
    from pipelines.reference.vemetric.dataset import DatasetError, load_dataset

    frozen = parse_now(now)
    try:
        dataset = load_dataset(data)
    except DatasetError as exc:
        raise fail(str(exc)) from exc
    run_server(create_app(dataset, now=frozen, rate_limit=rate_limit), host=host, port=port)


@app.command()
def generate(
    api: Annotated[ReferenceApi, typer.Argument(help="Which API's dataset format to write.")],
    out: Annotated[Path, typer.Option(help="Directory to write the dataset into.")],
    users: Annotated[int, typer.Option(min=1, help="Number of visitors (users and anonymous).")] = 1000,
    days: Annotated[int, typer.Option(min=1, help="Number of days of traffic.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same data.")] = 7,
    start: Annotated[
        Optional[str], typer.Option(help="First day, YYYY-MM-DD (default: DAYS days before today).")
    ] = None,
) -> None:
    """Generate a realistic, deterministic dataset in the reference format."""
    from pipelines.reference.vemetric.generate import generate as generate_vemetric

    first_day = None
    if start is not None:
        try:
            first_day = date.fromisoformat(start)
        except ValueError as exc:
            raise typer.BadParameter("expected YYYY-MM-DD", param_hint="--start") from exc
    summary = generate_vemetric(out, users=users, days=days, seed=seed, start=first_day)
    typer.echo(summary.describe())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
