"""The Vemetric reference server's query engine: every answer, computed in polars.

The HTTP layer (``app.py``) validates requests and resolves date ranges; these functions take
well-formed inputs and implement Vemetric's semantics (``specs/vemetric-api.md`` §5.2, §7, §8),
independently of the warehouse's SQL models.

>>> rows = analytics_rows(project, period, metrics=["users"], group_by="country",
...                       order_by=("users", "desc"), limit=10, offset=0,
...                       filters=[], filters_operator="and")
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pipelines.reference.vemetric.analytics import analytics_rows
from pipelines.reference.vemetric.dataset import Project
from pipelines.reference.vemetric.filter_values import filter_values
from pipelines.reference.vemetric.filters import cohort, restrict
from pipelines.reference.vemetric.funnels import funnel_levels, step_properties
from pipelines.reference.vemetric.store import Period, events_in
from pipelines.reference.vemetric.users import (
    list_users,
    resolve_user_id,
    single_user,
    user_events,
    user_events_json,
)

__all__ = [
    "Period",
    "analytics_rows",
    "filter_values",
    "funnel_results",
    "list_users",
    "resolve_user_id",
    "single_user",
    "user_events",
    "user_events_json",
]


def funnel_results(
    project: Project, period: Period, funnel: dict, *, filters: list[dict], filters_operator: str
) -> dict:
    """The ``results`` object of ``POST /v1/funnels/{id}`` (spec §7.5, §8).

    Steps are matched per user across sessions in the period, in order, within 168 hours of
    the first step; cohort filters narrow both the funnel and ``activeUsers``.
    """
    steps = funnel["steps"]
    users = cohort(project, period, filters, filters_operator)
    events = restrict(events_in(project, period, step_properties(steps)), users)
    levels = funnel_levels(events, steps)["level"]
    counts = [int((levels >= index + 1).sum()) for index in range(len(steps))]
    active = events["userId"].n_unique()
    first, last = (counts[0], counts[-1]) if counts else (0, 0)
    return {
        "activeUsers": active,
        "steps": [
            {
                "id": step["id"],
                "name": step_name(step, index),
                "users": count,
                "conversionRate": _percent(count, counts[index - 1] if index else count),
            }
            for index, (step, count) in enumerate(zip(steps, counts))
        ],
        "conversionRate": _percent(last, first),
        "activeUserConversionRate": _percent(last, active),
    }


def step_name(step: dict, index: int) -> str:
    """A blank stored step name is shown as ``Step N`` (1-based)."""
    name = step.get("name") or ""
    return name if name.strip() else f"Step {index + 1}"


def _percent(part: int, whole: int) -> int | float:
    """``Number((part / whole * 100).toFixed(2))``, 0 when ``whole`` is 0."""
    if whole <= 0:
        return 0
    rounded = float(Decimal(part / whole * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return int(rounded) if rounded.is_integer() else rounded
