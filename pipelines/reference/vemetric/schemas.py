"""The Vemetric request schemas (spec §5, §7), written with the zod re-creation in ``zod.py``.

Field order inside each object and the order of the object-level refinements follow
Vemetric's zod definitions, because that order is the order of ``details`` in a 400.
"""

from __future__ import annotations

from typing import Any

from pipelines.reference.vemetric.daterange import (
    DATE_INPUT_MESSAGE,
    PRESETS,
    parse_date_input,
    start_after_end,
)
from pipelines.reference.vemetric.zod import (
    AddIssue,
    Arr,
    Bool,
    Default,
    Enum,
    Literal,
    Num,
    Obj,
    Optional,
    Refine,
    Schema,
    Str,
    Tagged,
    Tuple,
    Union,
)

METRICS = ("users", "pageviews", "events", "bounceRate", "visitDuration")
DEFAULT_METRICS = ["users", "pageviews", "events"]
# The 15 field tokens: groupBy tokens besides interval:auto / event:prop:*, and the
# `fields` of /v1/filters/values.
FIELD_TOKENS = (
    "country", "city", "page:origin", "page:path", "browser", "deviceType", "os", "referrer",
    "referrerType", "utmCampaign", "utmContent", "utmMedium", "utmSource", "utmTerm", "event:name",
)  # fmt: skip
EVENT_PROPERTY_TOKEN = r"event:prop:[^\r\n]+"
STRING_OPS = ("any", "eq", "notEq", "contains", "notContains", "startsWith", "endsWith")
LIST_OPS = ("any", "oneOf", "noneOf")
DIRECTION = Enum(("asc", "desc"))
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

# --- filters (§5.2) ---------------------------------------------------------------------

STRING_COND = Obj({"value": Str(), "operator": Enum(STRING_OPS)})
LIST_COND = Obj({"value": Arr(Str()), "operator": Enum(LIST_OPS)})


def _flat(kind: str, condition: Obj) -> Obj:
    return Obj({"type": Literal(kind), **condition.shape})


PAGE_FILTER = Obj(
    {
        "type": Literal("page"),
        "origin": Optional(STRING_COND),
        "path": Optional(STRING_COND),
        "hash": Optional(STRING_COND),
    }
)
EVENT_PROPERTY = Obj({"property": Str(), "value": Str(), "operator": Enum(STRING_OPS)})
EVENT_FILTER = Obj(
    {
        "type": Literal("event"),
        "name": Optional(STRING_COND),
        "properties": Optional(Arr(EVENT_PROPERTY)),
    }
)
FILTER_TYPES: dict[str, Schema] = {
    "page": PAGE_FILTER,
    "event": EVENT_FILTER,
    "user": Obj({"type": Literal("user"), "anonymous": Bool()}),
    "location": Obj(
        {"type": Literal("location"), "country": Optional(LIST_COND), "city": Optional(LIST_COND)}
    ),
    "referrer": _flat("referrer", STRING_COND),
    "referrerUrl": _flat("referrerUrl", STRING_COND),
    "referrerType": _flat("referrerType", LIST_COND),
    "utmTags": Obj(
        {
            "type": Literal("utmTags"),
            **{
                name: Optional(STRING_COND)
                for name in ("utmCampaign", "utmContent", "utmMedium", "utmSource", "utmTerm")
            },
        }
    ),
    "browser": _flat("browser", LIST_COND),
    "device": _flat("device", LIST_COND),
    "os": _flat("os", LIST_COND),
    "funnel": Obj(
        {
            "type": Literal("funnel"),
            "id": Str(pattern=UUID, pattern_message="Invalid uuid"),
            "step": Num(integer=True, minimum=0),
            "operator": Enum(("completed", "notCompleted")),
        }
    ),
}
FILTER = Tagged("type", FILTER_TYPES)
# /v1/users/events applies filters to event rows, so only event-level types are allowed.
ROW_FILTER = Tagged(
    "type", {k: FILTER_TYPES[k] for k in ("event", "page", "browser", "device", "os")}
)
# A funnel step is a page or an event condition (§7.4, §8).
FUNNEL_STEP_FILTER = Tagged("type", {"page": PAGE_FILTER, "event": EVENT_FILTER})
FILTERS_OPERATOR = Default(Enum(("and", "or")), "and")

# --- shared fields ----------------------------------------------------------------------

DATE_INPUT = Refine(
    Str(),
    lambda value, add: None if parse_date_input(value) else add((), DATE_INPUT_MESSAGE),
)
DATE_RANGE = Union((Enum(tuple(PRESETS)), Tuple((DATE_INPUT, DATE_INPUT))))
LIMIT = Default(Num(integer=True, minimum=1, maximum=1000), 100)
OFFSET = Default(Num(integer=True, minimum=0), 0)


def _check_date_order(data: dict[str, Any], add: AddIssue) -> None:
    if start_after_end(data.get("dateRange")):
        add(("dateRange",), "Start date must be before or equal to end date")


# --- POST /v1/analytics/query (§7.2) ----------------------------------------------------

GROUP_TOKEN = Union(
    (
        Enum(FIELD_TOKENS),
        Literal("interval:auto"),
        Str(pattern=EVENT_PROPERTY_TOKEN, pattern_message="Invalid grouping token"),
    )
)
ORDER_FIELD = Union(
    (
        Enum(METRICS),
        Enum(FIELD_TOKENS),
        Literal("date"),
        Str(pattern=EVENT_PROPERTY_TOKEN, pattern_message="Invalid sort field"),
    )
)


def resolved_metrics(data: dict[str, Any]) -> list[str]:
    """An omitted or empty ``metrics`` means the default three."""
    return list(data.get("metrics") or DEFAULT_METRICS)


def _is_sorting_group_field(name: str, group_by: list[str]) -> bool:
    token = group_by[0] if group_by else None
    if token == "interval:auto":
        return name == "date"
    return token is not None and name == token


def _check_analytics(data: dict[str, Any], add: AddIssue) -> None:
    if len(data["groupBy"]) > 1:
        add(("groupBy",), "groupBy can include max one item")
    _check_date_order(data, add)
    metrics = resolved_metrics(data)
    for index, item in enumerate(data["orderBy"]):
        name = item[0]
        if name in METRICS and name not in metrics:
            add(("orderBy", index, 0), "Sort metric must be included in metrics")
        if name not in METRICS and not _is_sorting_group_field(name, data["groupBy"]):
            add(("orderBy", index, 0), "Invalid sort field")


ANALYTICS_QUERY = Refine(
    Obj(
        {
            "dateRange": DATE_RANGE,
            "metrics": Optional(Arr(Enum(METRICS))),
            "groupBy": Default(Arr(GROUP_TOKEN), []),
            "orderBy": Default(
                Arr(
                    Tuple((ORDER_FIELD, DIRECTION)),
                    max_items=(1, "orderBy can include max one item"),
                ),
                [],
            ),
            "limit": LIMIT,
            "offset": OFFSET,
            "filters": Optional(Arr(FILTER)),
            "filtersOperator": FILTERS_OPERATOR,
        }
    ),
    _check_analytics,
)

# --- POST /v1/filters/values (§7.3) -----------------------------------------------------


def _check_filter_values(data: dict[str, Any], add: AddIssue) -> None:
    if len(set(data["fields"])) != len(data["fields"]):
        add(("fields",), "fields must not contain duplicates")
    _check_date_order(data, add)


FILTER_VALUES_QUERY = Refine(
    Obj(
        {
            "dateRange": DATE_RANGE,
            "fields": Arr(
                Enum(FIELD_TOKENS),
                min_items=(1, "fields must include at least one item"),
                max_items=(25, "fields can include max 25 items"),
            ),
            "limit": LIMIT,
            "offset": OFFSET,
        }
    ),
    _check_filter_values,
)

# --- POST /v1/funnels/{id} (§7.5) -------------------------------------------------------

FUNNEL_RESULTS_QUERY = Refine(
    Obj(
        {
            "dateRange": DATE_RANGE,
            "filters": Optional(Arr(FILTER)),
            "filtersOperator": FILTERS_OPERATOR,
        }
    ),
    _check_date_order,
)

# --- users (§7.6–§7.8) ------------------------------------------------------------------

USERS_SORT_FIELDS = ("lastSeenAt", "displayName", "identifier", "country")
DEFAULT_USERS_ORDER = [["lastSeenAt", "desc"]]
USERS_ORDER_ITEM = Union(
    (
        Tuple((Enum(USERS_SORT_FIELDS), DIRECTION)),
        Tuple((Literal("lastEventFired"), DIRECTION, EVENT_FILTER.omit("type"))),
    )
)
USERS_QUERY = Refine(
    Obj(
        {
            "dateRange": DATE_RANGE,
            "filters": Optional(Arr(FILTER)),
            "filtersOperator": FILTERS_OPERATOR,
            "orderBy": Optional(
                Arr(USERS_ORDER_ITEM, max_items=(1, "orderBy can include max one item"))
            ),
            "limit": LIMIT,
            "offset": OFFSET,
        }
    ),
    _check_date_order,
)


def _check_one_user_key(data: dict[str, Any], add: AddIssue) -> None:
    if ("id" in data) == ("identifier" in data):
        add(("id",), "Provide exactly one of id or identifier")
        add(("identifier",), "Provide exactly one of id or identifier")


USER_LOOKUP = Refine(
    Obj(
        {
            "id": Optional(Str(pattern="[0-9]+", pattern_message="id must be a numeric user id")),
            "identifier": Optional(Str(min_length=1)),
        }
    ),
    _check_one_user_key,
)
USER_EVENTS_QUERY = Refine(
    Obj(
        {
            "dateRange": DATE_RANGE,
            "filters": Optional(Arr(ROW_FILTER)),
            "filtersOperator": FILTERS_OPERATOR,
            "limit": LIMIT,
            "offset": OFFSET,
        }
    ),
    _check_date_order,
)
