"""One API filter object -> one polars row condition, with Vemetric's matching rules.

Sources: ``vemetric/vemetric: packages/clickhouse/src/utils/filters/*.ts`` as summarised in
``specs/vemetric-api.md`` §5.2. Every builder returns ``None`` when the filter resolves to no
condition (operator ``any``, an empty list, an event filter without a name): such a filter is
skipped, as Vemetric skips an empty SQL fragment.
"""

from __future__ import annotations

from functools import reduce
from operator import and_, or_
from typing import Any

import polars as pl

from pipelines.reference.vemetric.store import property_column

# Characters that mean something in a (Rust) regex and must be escaped to match literally.
_REGEX_SPECIAL = set("\\.+*?()|[]{}^$#&-~")

# The API's operator names as Vemetric maps them internally: `eq`/`notEq` become `is`/`isNot`.
_INTERNAL_OPERATOR = {"eq": "is", "notEq": "isNot"}

EVENT_COLUMN_TYPES = ("page", "event", "user", "browser", "device", "os")
SESSION_COLUMN_TYPES = ("location", "referrer", "referrerUrl", "referrerType", "utmTags")
UTM_FIELDS = ("utmCampaign", "utmContent", "utmMedium", "utmSource", "utmTerm")


def like_regex(pattern: str) -> str:
    """A ClickHouse ``ILIKE`` pattern as an anchored, case-insensitive regex.

    ``%`` is any run of characters, ``_`` any one character, ``\\`` makes the next one literal.
    Vemetric does not escape ``%`` and ``_`` in filter values, so they act as wildcards.
    """
    parts = ["(?is)^"]
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            ch = next(chars, "\\")
            parts.append(_literal(ch))
        elif ch == "%":
            parts.append(".*")
        elif ch == "_":
            parts.append(".")
        else:
            parts.append(_literal(ch))
    parts.append("$")
    return "".join(parts)


def _literal(ch: str) -> str:
    return "\\" + ch if ch in _REGEX_SPECIAL else ch


def string_condition(column: pl.Expr, condition: dict[str, Any] | None) -> pl.Expr | None:
    """``{"operator": StringOp, "value": str}`` applied to a string column."""
    if not condition or condition["operator"] == "any":
        return None
    operator, value = condition["operator"], condition.get("value", "")
    patterns = {"contains": f"%{value}%", "notContains": f"%{value}%"}
    patterns |= {"startsWith": f"{value}%", "endsWith": f"%{value}"}
    if operator == "eq":
        return column == value
    if operator == "notEq":
        return column != value
    if operator not in patterns:
        raise ValueError(f"unknown string operator {operator!r}")
    matched = column.str.contains(like_regex(patterns[operator]))
    return ~matched if operator == "notContains" else matched


def list_condition(column: pl.Expr, condition: dict[str, Any] | None) -> pl.Expr | None:
    """``{"operator": "oneOf"|"noneOf"|"any", "value": [str]}``; an empty list disables it."""
    if not condition or condition["operator"] == "any" or not condition.get("value"):
        return None
    values = pl.Series(condition["value"], dtype=pl.String).implode()
    if condition["operator"] == "oneOf":
        return column.is_in(values)
    if condition["operator"] == "noneOf":
        return ~column.is_in(values)
    raise ValueError(f"unknown list operator {condition['operator']!r}")


def all_of(conditions: list[pl.Expr | None]) -> pl.Expr | None:
    present = [c for c in conditions if c is not None]
    return reduce(and_, present) if present else None


def any_of(conditions: list[pl.Expr | None]) -> pl.Expr | None:
    present = [c for c in conditions if c is not None]
    return reduce(or_, present) if present else None


def page_condition(page: dict[str, Any]) -> pl.Expr | None:
    """origin AND path AND hash; the hash value gets its ``#`` prepended (Vemetric's quirk)."""
    hash_condition = page.get("hash")
    if hash_condition and hash_condition.get("value"):
        hash_condition = {**hash_condition, "value": "#" + hash_condition["value"]}
    return all_of(
        [
            string_condition(pl.col("pathname"), page.get("path")),
            string_condition(pl.col("origin"), page.get("origin")),
            string_condition(pl.col("urlHash"), hash_condition),
        ]
    )


def event_condition(event: dict[str, Any]) -> pl.Expr | None:
    """name AND every property; the whole filter is ignored without a name (or with ``any``)."""
    name = event.get("name")
    if not name or name["operator"] == "any":
        return None
    properties = [
        string_condition(pl.col(property_column(p["property"])), p)
        for p in event.get("properties") or []
    ]
    return all_of([string_condition(pl.col("name"), name), *properties])


def event_properties(filters: list[dict[str, Any]]) -> set[str]:
    """The customData properties the given filters read (only those of named event filters)."""
    names: set[str] = set()
    for item in filters:
        if item.get("type", "event") == "event" and event_condition(item) is not None:
            names.update(p["property"] for p in item.get("properties") or [])
    return names


def row_condition(item: dict[str, Any]) -> pl.Expr | None:
    """The condition one filter puts on an event row (event types) or a session row (others)."""
    kind = item["type"]
    if kind == "page":
        return page_condition(item)
    if kind == "event":
        return event_condition(item)
    if kind == "user":
        anonymous = pl.col("userIdentifier").fill_null("") == ""
        return anonymous if item["anonymous"] else ~anonymous
    if kind in ("browser", "device", "os"):
        column = {"browser": "clientName", "device": "deviceType", "os": "osName"}[kind]
        return list_condition(pl.col(column), item)
    if kind == "location":
        country = list_condition(pl.col("countryCode"), item.get("country"))
        return all_of([country, list_condition(pl.col("city"), item.get("city"))])
    if kind in ("referrer", "referrerUrl"):
        return string_condition(pl.col(kind), item)
    if kind == "referrerType":
        return list_condition(pl.col("referrerType"), item)
    if kind == "utmTags":
        return all_of([string_condition(pl.col(f), item.get(f)) for f in UTM_FIELDS])
    raise ValueError(f"unknown filter type {kind!r}")


def is_negative(item: dict[str, Any]) -> bool:
    """Vemetric calls a filter negative when an operator's internal name contains ``not``.

    In practice only ``notContains``: ``notEq`` becomes ``isNot`` (capital N) and stays positive.
    """
    if item["type"] == "event":
        conditions = [item.get("name")]
    else:
        conditions = [item.get("path"), item.get("origin"), item.get("hash")]
    operators = [_INTERNAL_OPERATOR.get(c["operator"], c["operator"]) for c in conditions if c]
    return any("not" in op for op in operators)


def grouped_condition(
    filters: list[dict[str, Any]], kind: str, operator: str
) -> pl.Expr | None:
    """Row-level filtering in analytics: the filters of one type (``event`` or ``page``) combined.

    Vemetric builds the SQL text ``P1 OR … OR Pn <op> N1 AND … AND Nm`` without brackets
    around the two groups, so SQL precedence applies: with ``and`` the last positive filter is
    ANDed with the negatives and the other positives stay alternatives. Kept as is, since that
    is what the real API answers.
    """
    build = page_condition if kind == "page" else event_condition
    same_kind = [f for f in filters if f["type"] == kind]
    positives = [c for f in same_kind if not is_negative(f) if (c := build(f)) is not None]
    negatives = [c for f in same_kind if is_negative(f) if (c := build(f)) is not None]
    if not negatives:
        return any_of(positives)
    if not positives:
        return all_of(negatives)
    if operator == "or":
        return any_of([*positives, all_of(negatives)])
    return any_of([*positives[:-1], all_of([positives[-1], *negatives])])
