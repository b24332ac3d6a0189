"""The analysts' helpers behind ``warehouse.funnel`` and ``warehouse.breakdown``.

Each opens the latest read-only snapshot, computes a polars frame from the marts and returns
it with an Altair chart of it::

    from pipelines import warehouse
    result = warehouse.funnel("Signup", "2026-01-01", "2026-01-31", window=timedelta(days=1))
    result.frame          # one row per step (and breakdown value)
    result.chart          # an altair.Chart; the last expression of a cell displays it
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import altair as alt
import orjson
import polars as pl

from pipelines import warehouse
from pipelines.breakdowns import breakdown_frame
from pipelines.funnels import VEMETRIC_WINDOW, FunnelError, funnel_frame, load_funnel_file

__all__ = ["Analysis", "FUNNELS_ENV", "breakdown", "funnel", "resolve_steps"]

FUNNELS_ENV = "FUNNELHOUSE_FUNNELS"  # YAML of warehouse-only funnels (default ./funnels.yaml)
METRICS = ("users", "pageviews", "events", "bounce_rate", "visit_duration")


class Analysis(NamedTuple):
    """A computed frame and a chart of it."""

    frame: pl.DataFrame
    chart: alt.Chart


def funnel(steps: Any, first: date | str, last: date | str, *,
           window: timedelta = VEMETRIC_WINDOW, order: str = "ordered", by: str = "user",
           breakdown: str | None = None, path: str | os.PathLike | None = None) -> Analysis:
    """A funnel over days ``first``..``last``: ``steps`` is a Vemetric funnel's name or id, a
    funnel of the YAML file (``$FUNNELHOUSE_FUNNELS``, default ``funnels.yaml``), or a list of
    steps. Options as in :mod:`pipelines.funnels`; defaults are Vemetric's."""
    first, last = _day(first), _day(last)
    conn = warehouse.connect(path)
    try:
        resolved = resolve_steps(conn, steps)
        frame = funnel_frame(conn, resolved, first, last, window=window, order=order, by=by,
                             breakdown=breakdown)
    finally:
        conn.close()
    return Analysis(frame, funnel_chart(frame, by))


def breakdown(dimension: str | None, first: date | str, last: date | str, *,
              over: str | None = None, metric: str = "users",
              path: str | os.PathLike | None = None) -> Analysis:
    """Vemetric's metrics per value of ``dimension`` (see :mod:`pipelines.breakdowns`) over
    days ``first``..``last``, optionally per time bucket (``over``: hourly, daily, weekly,
    monthly); the chart shows ``metric``."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    first, last = _day(first), _day(last)
    conn = warehouse.connect(path)
    try:
        frame = breakdown_frame(conn, dimension, first, last, over=over)
    finally:
        conn.close()
    return Analysis(frame, breakdown_chart(frame, metric, over is not None))


def resolve_steps(conn, steps: Any) -> Any:
    """A funnel name or id -> its steps (Vemetric's funnels first, then the YAML file)."""
    if not isinstance(steps, str):
        return steps
    row = conn.execute("select steps from raw_vemetric.funnels where id = $s or name = $s "
                       "order by synced_at desc limit 1", {"s": steps}).fetchone()
    if row is not None:
        return orjson.loads(row[0])
    engagetrack = _engagetrack_steps(conn, steps)
    if engagetrack is not None:
        return engagetrack
    file = Path(os.environ.get(FUNNELS_ENV) or "funnels.yaml")
    local = load_funnel_file(file) if file.exists() else {}
    if steps in local:
        return list(local[steps].steps)
    raise FunnelError(f"no funnel named {steps!r} in Vemetric's or EngageTrack's funnels "
                      f"or in {file}")


# EngageTrack match types as the funnel template's string operators.
_ENGAGETRACK_OPERATORS = {"exact": "eq", "contains": "contains", "starts_with": "startsWith",
                          "ends_with": "endsWith"}


def _engagetrack_steps(conn, name: str) -> list[dict] | None:
    """An EngageTrack funnel's steps in the template's step format (a pageview step matches
    the path, a custom-event step the event's name), or None when there is no such funnel.
    The helper applies its own semantics (window, order) to them, not EngageTrack's."""
    exists = conn.execute("select count(*) from information_schema.tables where "
                          "table_schema = 'raw_engagetrack' and table_name = 'funnels'").fetchone()
    if not exists[0]:
        return None
    row = conn.execute("select steps from raw_engagetrack.funnels where id = $s or name = $s "
                       "order by synced_at desc limit 1", {"s": name}).fetchone()
    if row is None:
        return None
    converted = []
    for step in orjson.loads(row[0]):
        operator = _ENGAGETRACK_OPERATORS.get(step["match_type"])
        if operator is None:
            raise FunnelError(f"EngageTrack funnel {name!r}: step {step['name']!r} matches by "
                              f"{step['match_type']}, which the funnel helper cannot express")
        part, kind = ("path", "page") if step["type"] == "pageview" else ("name", "event")
        converted.append({"id": step["id"], "name": step["name"], "filter": {
            "type": kind, part: {"operator": operator, "value": step["pattern"]}}})
    return converted


def funnel_chart(frame: pl.DataFrame, by: str) -> alt.Chart:
    count = "users" if by == "user" else "sessions"
    broken_down = frame["breakdown"].n_unique() > 1
    chart = alt.Chart(frame).mark_bar().encode(
        x=alt.X("step_name:N", sort=alt.SortField("step_index"), title="step"),
        y=alt.Y(f"{count}:Q", title=count),
        tooltip=["step_name", count, "conversion_from_previous", "conversion_from_first"],
    )
    if broken_down:
        chart = chart.encode(color=alt.Color("breakdown:N"), xOffset="breakdown:N")
    return chart.properties(title="Funnel", width=420)


def breakdown_chart(frame: pl.DataFrame, metric: str, over_time: bool) -> alt.Chart:
    if over_time:
        return alt.Chart(frame).mark_line(point=True).encode(
            x=alt.X("bucket:T", title="time"), y=alt.Y(f"{metric}:Q"),
            color=alt.Color("value:N"), tooltip=["bucket", "value", metric],
        ).properties(width=480)
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X(f"{metric}:Q"), y=alt.Y("value:N", sort="-x", title=None),
        tooltip=["value", metric],
    ).properties(width=420)


def _day(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected a date or 'YYYY-MM-DD', got {value!r}") from exc
