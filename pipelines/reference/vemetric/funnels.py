"""Funnel steps and ClickHouse's ``windowFunnel`` (default, non-strict mode), vectorised.

Vemetric computes funnels per user with ``windowFunnel(604800)(toDateTime(createdAt), step1, …)``
(``specs/vemetric-api.md`` §8). ClickHouse's algorithm, which this module reproduces:

- every (event, step it matches) pair becomes an entry ``(second, step)``; entries are sorted by
  second, then step, so one event matching steps 1 and 2 advances the chain by itself;
- walking the entries, a step-1 entry (re)starts level 1 with its own second as chain start; a
  step-k entry extends level k-1 when level k-1 is set and ``second <= its chain start + window``,
  and level k then takes that chain start;
- the result is the highest level ever set.

Level k only reads level k-1's state at the same position, so each level is one forward fill
over the sorted entries instead of a Python loop per event.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipelines.reference.vemetric.conditions import (
    all_of,
    event_condition,
    event_properties,
    page_condition,
)
from pipelines.reference.vemetric.store import SECOND

WINDOW_SECONDS = 168 * 60 * 60


def step_condition(step_filter: dict[str, Any]) -> pl.Expr:
    """A page step matches pageviews, an event step custom events; then the filter's conditions.

    An event step without a name condition (or with ``any``) matches every custom event.
    """
    if step_filter["type"] == "page":
        return all_of([pl.col("isPageView"), page_condition(step_filter)])
    return all_of([~pl.col("isPageView"), event_condition(step_filter)])


def step_properties(steps: list[dict[str, Any]]) -> set[str]:
    """customData properties the steps' event conditions read."""
    return event_properties([s["filter"] for s in steps if s["filter"]["type"] == "event"])


def funnel_levels(events: pl.DataFrame, steps: list[dict[str, Any]]) -> pl.DataFrame:
    """``userId`` and ``level`` (steps reached in order, 1..len(steps)) for users reaching step 1.

    ``events`` must already be limited to the date range (and cohort) and carry the property
    columns of :func:`step_properties`.
    """
    if not steps:
        return pl.DataFrame(schema={"userId": pl.String, "level": pl.Int64})
    entries = pl.concat(
        [
            events.filter(step_condition(step["filter"])).select(
                "userId", pl.col(SECOND).alias("second"), pl.lit(index, pl.Int64).alias("step")
            )
            for index, step in enumerate(steps)
        ]
    ).sort(["userId", "second", "step"])
    reached = []
    chain_start = None
    for level in range(len(steps)):
        if level == 0:
            started = pl.when(pl.col("step") == 0).then(pl.col("second"))
        else:
            fits = (pl.col("step") == level) & (pl.col("second") <= chain_start + WINDOW_SECONDS)
            started = pl.when(fits).then(chain_start)
        column = f"start_{level}"
        entries = entries.with_columns(started.forward_fill().over("userId").alias(column))
        chain_start = pl.col(column)
        reached.append(pl.col(column).is_not_null().any().cast(pl.Int64))
    return entries.group_by("userId").agg(pl.sum_horizontal(reached).alias("level")).filter(
        pl.col("level") > 0
    )
