"""A real warehouse for report tests: generated traffic with hostile strings, served by the
reference API, synced over HTTP on 127.0.0.1, models built, snapshot published.

One sync of 2–15 Feb 2026 (one Dagster run): the API's breakdowns exist for the whole range
and for each day, so a week's breakdown is added up from its days.
Some events carry HTML and script in their path, name, properties and referrer, as a
hostile visitor could send them.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import orjson
import polars as pl

SCRIPT_PATH = "/<script>alert('path')</script>"
IMG_EVENT = '<img src=x onerror="alert(1)">signup'
PROPERTY = 'pro"><b>bold</b>&amp;'
REFERRER = "<iframe src=//evil.example>"
FIRST_WEEK = (date(2026, 2, 2), date(2026, 2, 8))
SECOND_WEEK = (date(2026, 2, 9), date(2026, 2, 15))


def make_hostile(dataset: Path) -> None:
    """Rewrite a few events of the second week with hostile text (same users and sessions)."""
    events = pl.read_parquet(dataset / "events.parquet")
    week = pl.col("createdAt").dt.date().is_between(*SECOND_WEEK)
    pageviews = events.with_row_index().filter(week & pl.col("isPageView"))["index"].head(7)
    custom = events.with_row_index().filter(week & ~pl.col("isPageView"))["index"].head(3)
    index = pl.int_range(pl.len())
    events = events.with_columns(
        pathname=pl.when(index.is_in(pageviews.implode())).then(pl.lit(SCRIPT_PATH))
        .otherwise("pathname"),
        referrer=pl.when(index.is_in(pageviews.implode())).then(pl.lit(REFERRER))
        .otherwise("referrer"),
        name=pl.when(index.is_in(custom.implode())).then(pl.lit(IMG_EVENT)).otherwise("name"),
        customData=pl.when(index.is_in(custom.implode()))
        .then(pl.lit(orjson.dumps({"plan": PROPERTY}).decode())).otherwise("customData"),
    )
    events.write_parquet(dataset / "events.parquet")


def build_warehouse(root: Path) -> Path:
    """Generate, serve, sync both weeks at once, build the models, publish; the file."""
    from pipelines import models, sync, warehouse
    from pipelines.reference.serving import ServerThread
    from pipelines.reference.vemetric.app import create_app
    from pipelines.reference.vemetric.dataset import load_dataset
    from pipelines.reference.vemetric.generate import generate

    dataset_dir, path = root / "dataset", root / "warehouse.duckdb"
    generate(dataset_dir, users=150, days=14, seed=3, start=FIRST_WEEK[0])
    make_hostile(dataset_dir)
    key = json.loads((dataset_dir / "fixture.json").read_text())["projects"][0]["apiKeys"][0]["key"]
    saved = {name: os.environ.get(name) for name in ("VEMETRIC_API_KEY", "DAGSTER_HOME")}
    os.environ["VEMETRIC_API_KEY"] = key
    os.environ.pop("DAGSTER_HOME", None)
    try:
        with ServerThread(create_app(load_dataset(dataset_dir), rate_limit=1_000_000)) as server:
            sync.run_sync(FIRST_WEEK[0], SECOND_WEEK[1], base_url=server.url, warehouse_path=path)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    models.build(path, full=True)
    warehouse.publish_snapshot(path)
    return path
