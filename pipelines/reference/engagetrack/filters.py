"""The analytics ``filters`` parameter and the pattern matching of goals and funnel steps.

``filters`` is a JSON-encoded array (its grammar is not in the public docs; this is the
reference server's choice, documented in its OpenAPI spec)::

    [{"field": "country", "operator": "is", "value": "US"},
     {"field": "path", "operator": "contains", "value": "/blog"}]

All filters must hold (AND) for an event to count. Operators: ``is``, ``is_not``,
``contains``, ``not_contains``. Fields are event fields (:data:`FILTER_FIELDS`).
"""

from __future__ import annotations

from typing import Any

import orjson
import polars as pl

from pipelines.reference.engagetrack.errors import bad_request

FILTER_FIELDS = (
    "path", "title", "type", "name", "referrer_source", "channel", "utm_source", "utm_medium",
    "utm_campaign", "country", "city", "browser", "os", "device",
)  # fmt: skip
OPERATORS = ("is", "is_not", "contains", "not_contains")


def parse_filters(text: str | None) -> list[dict[str, str]]:
    """The filters, or a 400 naming what is wrong."""
    if not text:
        return []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise bad_request("Invalid filters: expected a JSON array") from None
    if not isinstance(value, list):
        raise bad_request("Invalid filters: expected a JSON array")
    return [_filter(item, index) for index, item in enumerate(value)]


def _filter(item: Any, index: int) -> dict[str, str]:
    where = f"Invalid filters[{index}]"
    if not isinstance(item, dict) or set(item) != {"field", "operator", "value"}:
        raise bad_request(f"{where}: expected an object with field, operator and value")
    if item["field"] not in FILTER_FIELDS:
        raise bad_request(f"{where}.field: expected one of {', '.join(FILTER_FIELDS)}")
    if item["operator"] not in OPERATORS:
        raise bad_request(f"{where}.operator: expected one of {', '.join(OPERATORS)}")
    if not isinstance(item["value"], str):
        raise bad_request(f"{where}.value: expected a string")
    return item


def filter_expr(filters: list[dict[str, str]]) -> pl.Expr:
    """One boolean expression: every filter holds."""
    expr = pl.lit(True)
    for f in filters:
        column, value = pl.col(f["field"]), f["value"]
        condition = {
            "is": column == value,
            "is_not": column != value,
            "contains": column.str.contains(value, literal=True),
            "not_contains": ~column.str.contains(value, literal=True),
        }[f["operator"]]
        expr = expr & condition
    return expr


def match_expr(kind: str, pattern: str, match_type: str) -> pl.Expr:
    """Events a goal or funnel step matches: a pageview's path, or a custom event's name.

    ``custom_event`` patterns match the ``name`` of events of any non-pageview type
    (a purchase is named ``purchase``), since the tracker names them all.
    """
    if kind == "pageview":
        target, of_kind = pl.col("path"), pl.col("type") == "pageview"
    else:
        target, of_kind = pl.col("name"), pl.col("type") != "pageview"
    if match_type == "exact":
        hit = target == pattern
    elif match_type == "contains":
        hit = target.str.contains(pattern, literal=True)
    else:
        hit = target.str.contains(pattern)
    return of_kind & hit
