"""``POST /v1/analytics/query``: metrics, groupings, merging and ordering (spec §5.2, §7.2).

Each metric is computed on its own, as Vemetric runs one ClickHouse query per metric, and the
rows are merged by raw group key. Where the grouping column comes from:

- users, pageviews, events and bounceRate read **event** columns: events carry country, city,
  referrer* and utm* themselves (``getMetricsGroupExpression(grouping, 'event')``);
- visitDuration reads **session** columns (``getMetricsGroupExpression(grouping, 'session')``):
  the session's country/city/referrer*/utm*, and the ``startedAt`` bucket for intervals.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl

from pipelines.reference.vemetric.collation import collation_key, locale_compare
from pipelines.reference.vemetric.conditions import event_properties, grouped_condition
from pipelines.reference.vemetric.dataset import Project
from pipelines.reference.vemetric.filters import cohort, restrict
from pipelines.reference.vemetric.store import (
    API_TIMESTAMP,
    SESSION_CODE,
    USER_CODE,
    Period,
    bucket,
    events_in,
    property_column,
    sessions_in,
)

EVENT_COLUMNS = {
    "country": "countryCode",
    "city": "city",
    "page:origin": "origin",
    "page:path": "pathname",
    "browser": "clientName",
    "deviceType": "deviceType",
    "os": "osName",
    "referrer": "referrer",
    "referrerType": "referrerType",
    "utmCampaign": "utmCampaign",
    "utmContent": "utmContent",
    "utmMedium": "utmMedium",
    "utmSource": "utmSource",
    "utmTerm": "utmTerm",
    "event:name": "name",
}
PROPERTY_PREFIX = "event:prop:"
COUNT_METRICS = ("users", "pageviews", "events")
EMPTY_LABELS = {"referrer": "Direct / None", "referrerType": "unknown", "deviceType": "unknown"}
# Row restrictions per grouping: page groups count non-empty pageviews, event groups custom events.
_GROUP_ROWS = {
    "page:origin": pl.col("isPageView") & (pl.col("origin") != ""),
    "page:path": pl.col("isPageView") & (pl.col("pathname") != ""),
    "event:name": ~pl.col("isPageView") & (pl.col("name") != ""),
}


@dataclass(frozen=True)
class Grouping:
    """A parsed ``groupBy`` token: kind is ``none``, ``interval``, ``field`` or ``property``."""

    kind: str
    token: str = ""

    @classmethod
    def parse(cls, token: str | None) -> Grouping:
        if not token:
            return cls("none")
        if token == "interval:auto":
            return cls("interval", token)
        if token.startswith(PROPERTY_PREFIX) and len(token) > len(PROPERTY_PREFIX):
            return cls("property", token)
        if token in EVENT_COLUMNS:
            return cls("field", token)
        raise ValueError(f"unknown groupBy token {token!r}")

    @property
    def property(self) -> str:
        return self.token[len(PROPERTY_PREFIX) :]

    def applies(self, metric: str) -> bool:
        """Vemetric's applicability table: a metric that does not apply is null on every row."""
        if metric in COUNT_METRICS or self.kind in ("none", "interval"):
            return True
        if self.kind == "property" or self.token in ("event:name", "page:origin", "page:path"):
            return False
        return not (metric == "visitDuration" and self.token in ("browser", "deviceType", "os"))


def analytics_rows(
    project: Project,
    period: Period,
    *,
    metrics: list[str],
    group_by: str | None,
    order_by: tuple[str, str] | None,
    limit: int,
    offset: int,
    filters: list[dict],
    filters_operator: str,
) -> list[dict]:
    """The response's ``data`` array: ``[{"group": {...}, "metrics": {...}}]``, sorted and sliced.

    Aggregates (no ``group_by``) always give exactly one row; limit and offset are then ignored.
    """
    grouping = Grouping.parse(group_by)
    users = cohort(project, period, filters, filters_operator)
    by_key: dict[str, dict[str, float]] = {}
    applicable = [m for m in dict.fromkeys(metrics) if grouping.applies(m)]
    for metric, values in _metric_values(project, period, applicable, grouping, users, filters,
                                         filters_operator):
        for key, value in values:
            by_key.setdefault(key, {})[metric] = value
    if grouping.kind == "none" and not by_key:
        by_key["__all__"] = {}
    rows = [_row(grouping, key, values, metrics) for key, values in by_key.items()]
    rows = _ordered(rows, grouping, order_by)
    return rows[:1] if grouping.kind == "none" else rows[offset : offset + limit]


def _metric_values(project, period, metrics, grouping, users, filters, operator):
    """``(metric, [(raw group key, value), ...])`` for each applicable metric, in order."""
    unknown = set(metrics) - {*COUNT_METRICS, "bounceRate", "visitDuration"}
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}")
    counted = _count_rows(project, period, [m for m in metrics if m in COUNT_METRICS], grouping,
                          users, filters, operator)
    for metric in metrics:
        if metric in COUNT_METRICS:
            yield metric, counted[metric]
        elif metric == "bounceRate":
            yield metric, _bounce_rows(project, period, grouping, users)
        else:
            yield metric, _duration_rows(project, period, grouping, users)


def _event_key(grouping: Grouping, period: Period) -> pl.Expr:
    """The group key on event rows; intervals stay datetimes until :func:`_keyed_rows`."""
    if grouping.kind == "none":
        return pl.lit("__all__")
    if grouping.kind == "interval":
        return bucket("createdAt", period.interval)
    if grouping.kind == "property":
        return pl.col(property_column(grouping.property))
    return pl.col(EVENT_COLUMNS[grouping.token])


def _keyed_rows(grouped: pl.DataFrame, value: str) -> list[tuple[str, Any]]:
    """``(key, value)`` pairs of an aggregated frame, interval keys as API timestamps."""
    if grouped.schema["key"] != pl.String:
        grouped = grouped.with_columns(pl.col("key").dt.strftime(API_TIMESTAMP))
    return list(zip(grouped["key"].to_list(), grouped[value].to_list()))


def _count_rows(project, period, metrics, grouping, users, filters, operator):
    """users / pageviews / events per group, each with the row-level filters it sees.

    Metrics that see the same row-level filters share one pass over the rows.
    """
    if not metrics:
        return {}
    properties = event_properties(filters)
    if grouping.kind == "property":
        properties.add(grouping.property)
    base = restrict(events_in(project, period, properties), users)
    if grouping.kind == "property":
        base = base.filter(~pl.col("isPageView") & (pl.col(property_column(grouping.property)) != ""))
    elif grouping.token in _GROUP_ROWS:
        base = base.filter(_GROUP_ROWS[grouping.token])
    passes: dict[tuple[bool, bool], list[str]] = {}
    for metric in metrics:
        event_rows = metric == "events" or grouping.token.startswith("event:")
        page_rows = metric == "pageviews" or grouping.token.startswith("page:")
        passes.setdefault((event_rows, page_rows), []).append(metric)
    counted = {}
    for (event_rows, page_rows), shared in passes.items():
        rows = base
        for kind, applies in (("event", event_rows), ("page", page_rows)):
            condition = grouped_condition(filters, kind, operator) if applies else None
            if condition is not None:
                rows = rows.filter(condition)
        values = {
            "users": pl.col(USER_CODE).n_unique(),
            "pageviews": pl.col("isPageView").sum(),
            "events": (~pl.col("isPageView")).sum(),
        }
        grouped = rows.group_by(_event_key(grouping, period).alias("key")).agg(
            values[m].alias(m) for m in shared
        )
        counted |= {m: [(k, int(v)) for k, v in _keyed_rows(grouped, m)] for m in shared}
    return counted


def _bounce_rows(project, period, grouping, users):
    """Per group: (sessionId, group) pageview buckets holding exactly one pageview, in percent."""
    properties = [grouping.property] if grouping.kind == "property" else []
    pageviews = restrict(events_in(project, period, properties), users).filter(pl.col("isPageView"))
    buckets = pageviews.group_by(SESSION_CODE, _event_key(grouping, period).alias("key")).len()
    totals = buckets.group_by("key").agg(
        ((pl.col("len") == 1).sum() / pl.len() * 100).alias("rate")
    )
    return [(key, _clickhouse_round2(rate)) for key, rate in _keyed_rows(totals, "rate")]


def _duration_rows(project, period, grouping, users):
    """Mean duration in seconds of sessions with duration > 0, grouped on session columns."""
    sessions = restrict(sessions_in(project, period), users).filter(pl.col("duration") > 0)
    if grouping.kind == "none":
        key = pl.lit("__all__")
    elif grouping.kind == "interval":
        key = bucket("startedAt", period.interval)
    else:
        key = pl.col(EVENT_COLUMNS[grouping.token])
    means = sessions.group_by(key.alias("key")).agg(
        (pl.col("duration").sum() / pl.len()).alias("mean")
    )
    return _keyed_rows(means, "mean")


def _row(grouping: Grouping, key: str, values: dict[str, float], metrics: list[str]) -> dict:
    if grouping.kind == "none":
        group = {}
    elif grouping.kind == "interval":
        group = {"date": key}
    else:
        group = {grouping.token: label(grouping.token, key)}
    shown = {m: _shown(m, values[m]) if m in values else (0 if grouping.applies(m) else None) for m in metrics}
    return {"group": group, "metrics": shown}


def label(token: str, value: str | None) -> str:
    """A group value after NUL removal and trimming; empty values get Vemetric's labels."""
    cleaned = (value or "").replace("\0", "").strip()
    return cleaned or EMPTY_LABELS.get(token, "Unknown")


def _shown(metric: str, value: float) -> int | float:
    """Counts as integers, rates as JavaScript ``Number(value.toFixed(2))``; non-finite -> 0."""
    if value != value or value in (float("inf"), float("-inf")):
        return 0
    if metric in COUNT_METRICS:
        return int(round(value))
    rounded = float(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return int(rounded) if rounded.is_integer() else rounded


def _clickhouse_round2(value: float) -> float:
    """ClickHouse ``round(x, 2)`` on a Float64: scale, round half to even, unscale."""
    return round(value * 100) / 100


def _ordered(rows: list[dict], grouping: Grouping, order_by: tuple[str, str] | None) -> list[dict]:
    """Deterministic base order (group value ascending), then Vemetric's stable one-key sort."""
    if grouping.kind != "none":
        rows = sorted(rows, key=lambda r: collation_key(next(iter(r["group"].values()))))
    if not order_by:
        return rows
    field, direction = order_by[0], order_by[1]
    factor = -1 if direction == "desc" else 1

    def compare(a: dict, b: dict) -> int:
        return _js_compare(_sort_value(a, field), _sort_value(b, field)) * factor

    return sorted(rows, key=functools.cmp_to_key(compare))


_MISSING = object()


def _sort_value(row: dict, field: str) -> Any:
    if field in row["group"]:
        return row["group"][field]
    return row["metrics"].get(field, _MISSING)


def _js_compare(a: Any, b: Any) -> int:
    """The comparator of Vemetric's ``applyOrdering`` (numbers numerically, else localeCompare)."""
    if a is b or (type(a) is type(b) and a == b):
        return 0
    if a is _MISSING:
        return 1
    if b is _MISSING:
        return -1
    if isinstance(a, int | float) and isinstance(b, int | float):
        return (a > b) - (a < b)
    return locale_compare(_js_string(a), _js_string(b))


def _js_string(value: Any) -> str:
    return "null" if value is None else str(value)
