"""Cohort filters: which users a request's ``filters`` keep (``specs/vemetric-api.md`` §5.2).

Each filter selects the users with at least one matching row in the period: event-level types
on events (``createdAt`` in range), location/referrer*/utmTags on non-deleted sessions
(``startedAt`` in range), a funnel filter through :func:`funnel_levels`. The sets are
intersected (``and``) or unioned (``or``); metrics are then computed over *all* rows of the
remaining users. Filters that resolve to no condition are skipped; with nothing left, no
restriction applies (``None``).
"""

from __future__ import annotations

from functools import reduce
from typing import Any

import polars as pl

from pipelines.reference.vemetric.conditions import (
    SESSION_COLUMN_TYPES,
    event_properties,
    row_condition,
)
from pipelines.reference.vemetric.dataset import Project
from pipelines.reference.vemetric.funnels import funnel_levels, step_properties
from pipelines.reference.vemetric.store import Period, events_in, sessions_in

# Event-level filter types that only look at pageviews / only at custom events.
_ROW_KIND = {"page": pl.col("isPageView"), "event": ~pl.col("isPageView")}


def cohort(
    project: Project, period: Period, filters: list[dict[str, Any]], operator: str
) -> pl.Series | None:
    """Distinct userIds the filters keep, or ``None`` when no filter applies."""
    selections = [
        users for item in filters if (users := filter_users(project, period, item)) is not None
    ]
    if not selections:
        return None
    if operator == "and":
        return reduce(lambda kept, users: kept.filter(kept.is_in(users.implode())), selections)
    return pl.concat(selections).unique(maintain_order=True)


def restrict(frame: pl.DataFrame, users: pl.Series | None) -> pl.DataFrame:
    """Rows of the cohort's users (all rows when there is no cohort)."""
    return frame if users is None else frame.filter(pl.col("userId").is_in(users.implode()))


def filter_users(project: Project, period: Period, item: dict[str, Any]) -> pl.Series | None:
    """Users with a matching row in the period, or ``None`` when the filter is skipped."""
    if item["type"] == "funnel":
        return _funnel_users(project, period, item)
    condition = row_condition(item)
    if condition is None:
        return None
    if item["type"] in SESSION_COLUMN_TYPES:
        rows = sessions_in(project, period)
    else:
        rows = events_in(project, period, event_properties([item]))
        if item["type"] in _ROW_KIND:
            condition = _ROW_KIND[item["type"]] & condition
    return rows.filter(condition)["userId"].unique(maintain_order=True)


def _funnel_users(project: Project, period: Period, item: dict[str, Any]) -> pl.Series | None:
    """``completed``: users reaching step ``step`` (0-based) in the period; ``notCompleted``:
    the other users with events in the period. Unknown funnel or step -> skipped."""
    funnel = next((f for f in project.funnels if f["id"] == item["id"]), None)
    step = item["step"]
    if funnel is None or not 0 <= step < len(funnel["steps"]):
        return None
    steps = funnel["steps"][: step + 1]
    events = events_in(project, period, step_properties(steps))
    levels = funnel_levels(events, steps)
    completed = levels.filter(pl.col("level") >= step + 1)["userId"]
    if item["operator"] == "completed":
        return completed
    active = events["userId"].unique(maintain_order=True)
    return active.filter(~active.is_in(completed.implode()))
