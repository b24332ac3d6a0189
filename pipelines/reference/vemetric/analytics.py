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
    for metric in metrics:
        if grouping.applies(metric):
            for key, value in _metric_values(project, period, metric, grouping, users, filters, filters_operator):
                by_key.setdefault(key, {})[metric] = value
    if grouping.kind == "none" and not by_key:
        by_key["__all__"] = {}
    rows = [_row(grouping, key, values, metrics) for key, values in by_key.items()]
    rows = _ordered(rows, grouping, order_by)
    return rows[:1] if grouping.kind == "none" else rows[offset : offset + limit]


def _metric_values(project, period, metric, grouping, users, filters, operator):
    if metric in COUNT_METRICS:
        return _count_rows(project, period, metric, grouping, users, filters, operator)
    if metric == "bounceRate":
        return _bounce_rows(project, period, grouping, users)
    if metric == "visitDuration":
        return _duration_rows(project, period, grouping, users)
    raise ValueError(f"unknown metric {metric!r}")


def _event_key(grouping: Grouping, period: Period) -> pl.Expr:
    if grouping.kind == "none":
        return pl.lit("__all__")
    if grouping.kind == "interval":
        return bucket("createdAt", period.interval).dt.strftime(API_TIMESTAMP)
    if grouping.kind == "property":
        return pl.col(property_column(grouping.property))
    return pl.col(EVENT_COLUMNS[grouping.token])


def _count_rows(project, period, metric, grouping, users, filters, operator):
    """users / pageviews / events per group, with the row-level filters that metric sees."""
    properties = event_properties(filters)
    if grouping.kind == "property":
        properties.add(grouping.property)
    rows = restrict(events_in(project, period, properties), users)
    conditions = []
    if grouping.kind == "property":
        conditions.append(~pl.col("isPageView") & (pl.col(property_column(grouping.property)) != ""))
    elif grouping.token in _GROUP_ROWS:
        conditions.append(_GROUP_ROWS[grouping.token])
    if metric == "events" or grouping.token.startswith("event:"):
        conditions.append(grouped_condition(filters, "event", operator))
    if metric == "pageviews" or grouping.token.startswith("page:"):
        conditions.append(grouped_condition(filters, "page", operator))
    for condition in conditions:
        if condition is not None:
            rows = rows.filter(condition)
    value = {
        "users": pl.col("userId").n_unique(),
        "pageviews": pl.col("isPageView").sum(),
        "events": (~pl.col("isPageView")).sum(),
    }[metric]
    grouped = rows.group_by(_event_key(grouping, period).alias("key")).agg(value.alias("value"))
    return [(key, int(count)) for key, count in grouped.iter_rows()]


def _bounce_rows(project, period, grouping, users):
    """Per group: (sessionId, group) pageview buckets holding exactly one pageview, in percent."""
    properties = [grouping.property] if grouping.kind == "property" else []
    pageviews = restrict(events_in(project, period, properties), users).filter(pl.col("isPageView"))
    buckets = pageviews.group_by("sessionId", _event_key(grouping, period).alias("key")).len()
    totals = buckets.group_by("key").agg(
        (pl.col("len") == 1).sum().alias("bounced"), pl.len().alias("all")
    )
    return [(key, _clickhouse_round2(bounced / total * 100)) for key, bounced, total in totals.iter_rows()]


def _duration_rows(project, period, grouping, users):
    """Mean duration in seconds of sessions with duration > 0, grouped on session columns."""
    sessions = restrict(sessions_in(project, period), users).filter(pl.col("duration") > 0)
    if grouping.kind == "none":
        key = pl.lit("__all__")
    elif grouping.kind == "interval":
        key = bucket("startedAt", period.interval).dt.strftime(API_TIMESTAMP)
    else:
        key = pl.col(EVENT_COLUMNS[grouping.token])
    means = sessions.group_by(key.alias("key")).agg(
        pl.col("duration").sum().alias("total"), pl.len().alias("count")
    )
    return [(key, total / count) for key, total, count in means.iter_rows()]


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
