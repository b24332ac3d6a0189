"""The served ``/openapi.json``: an OpenAPI 3.0.0 document, as Vemetric generates it (spec §10).

Request schemas are derived from the zod re-creations in ``schemas.py``, so the document
and the validator cannot drift apart; response schemas are written here to match what the
routes return, error bodies included. Two deliberate differences from the live document:
auth is a ``bearer`` security scheme rather than a header parameter (clients and test tools
then know where the key goes), and the 500 code is ``INTERNAL_ERROR``, the code the runtime
sends, not the ``INTERNAL_SERVER_ERROR`` the live document declares (spec §12).
"""

from __future__ import annotations

from typing import Any

from pipelines.reference.vemetric import schemas as s
from pipelines.reference.vemetric.daterange import DATE_ONLY, TIMESTAMP
from pipelines.reference.vemetric.zod import (
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

JSON = "application/json"


def json_schema(schema: Schema) -> dict[str, Any]:
    """OpenAPI 3.0 schema object for a zod re-creation (3.0 has no tuples: fixed-size arrays)."""
    if isinstance(schema, Str):
        out: dict[str, Any] = {"type": "string"}
        if schema.pattern is not None:
            out["pattern"] = f"^{schema.pattern}$"
        if schema.min_length is not None:
            out["minLength"] = schema.min_length
        return out
    if isinstance(schema, Num):
        out = {"type": "integer" if schema.integer else "number"}
        if schema.minimum is not None:
            out["minimum"] = schema.minimum
        if schema.maximum is not None:
            out["maximum"] = schema.maximum
        return out
    if isinstance(schema, Bool):
        return {"type": "boolean"}
    if isinstance(schema, Enum):
        return {"type": "string", "enum": list(schema.options)}
    if isinstance(schema, Literal):
        return {"type": "string", "enum": [schema.expected]}
    if isinstance(schema, Arr):
        out = {"type": "array", "items": json_schema(schema.item)}
        if schema.min_items is not None:
            out["minItems"] = schema.min_items[0]
        if schema.max_items is not None:
            out["maxItems"] = schema.max_items[0]
        return out
    return _composite_schema(schema)


def _composite_schema(schema: Schema) -> dict[str, Any]:
    if isinstance(schema, Tuple):
        items = _distinct([json_schema(item) for item in schema.items])
        count = len(schema.items)
        item_schema = items[0] if len(items) == 1 else {"anyOf": items}
        return {"type": "array", "items": item_schema, "minItems": count, "maxItems": count}
    if isinstance(schema, Obj):
        required = [k for k, v in schema.shape.items() if not isinstance(v, Optional | Default)]
        out: dict[str, Any] = {
            "type": "object",
            "properties": {k: json_schema(v) for k, v in schema.shape.items()},
        }
        if required:
            out["required"] = required
        return out
    if isinstance(schema, Optional):
        return json_schema(schema.inner)
    if isinstance(schema, Default):
        return {**json_schema(schema.inner), "default": schema.default}
    if isinstance(schema, Union):
        return {"anyOf": [json_schema(option) for option in schema.options]}
    if isinstance(schema, Tagged):
        options = [json_schema(option) for option in schema.options.values()]
        return {"oneOf": options, "discriminator": {"propertyName": schema.key}}
    if schema is s.DATE_INPUT:
        return {"type": "string", "pattern": f"^({DATE_ONLY}|{TIMESTAMP})$"}
    if isinstance(schema, Refine):
        return json_schema(schema.inner)
    raise TypeError(f"no OpenAPI form for {schema!r}")


def _distinct(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


# --- response schemas ----------------------------------------------------------------------

STRING = {"type": "string"}
NULLABLE_STRING = {"type": "string", "nullable": True}
INTEGER = {"type": "integer", "minimum": 0}
NUMBER = {"type": "number"}
ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}


def obj(properties: dict[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    required = [k for k in properties if k not in optional]
    return {"type": "object", "properties": properties, "required": required}


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


PERIOD = obj({"from": STRING, "to": STRING})
PAGINATION = obj({"limit": INTEGER, "offset": INTEGER, "returned": INTEGER})
FUNNEL = obj(
    {
        "id": STRING,
        "name": STRING,
        "icon": NULLABLE_STRING,
        "steps": array(
            obj({"id": STRING, "name": STRING, "filter": json_schema(s.FUNNEL_STEP_FILTER)})
        ),
        "createdAt": STRING,
        "updatedAt": STRING,
    }
)
USER_FIELDS = {
    "id": STRING,
    "identifier": NULLABLE_STRING,
    "displayName": NULLABLE_STRING,
    "country": NULLABLE_STRING,
    "city": NULLABLE_STRING,
    "lastSeenAt": NULLABLE_STRING,
    "lastEventFiredAt": NULLABLE_STRING,
    "avatarUrl": NULLABLE_STRING,
    "data": ANY_OBJECT,
    "anonymous": {"type": "boolean"},
}
USER = obj(USER_FIELDS)
SINGLE_USER = obj({k: v for k, v in USER_FIELDS.items() if k != "lastEventFiredAt"})
EVENT = obj(
    {
        "sessionId": STRING,
        "name": STRING,
        "isPageView": {"type": "boolean"},
        "createdAt": STRING,
        "origin": NULLABLE_STRING,
        "path": NULLABLE_STRING,
        "hash": NULLABLE_STRING,
        "data": ANY_OBJECT,
    }
)
FILTERS_ECHO = {
    "filters": json_schema(Arr(s.FILTER)),
    "filtersOperator": json_schema(Enum(("and", "or"))),
}
DATE_RANGE = json_schema(s.DATE_RANGE)

ANALYTICS_RESPONSE = obj(
    {
        "period": PERIOD,
        "query": obj(
            {
                "dateRange": DATE_RANGE,
                "groupBy": array(STRING),
                "metrics": array(json_schema(Enum(s.METRICS))),
                "orderBy": array(array(STRING)),
                "limit": INTEGER,
                "offset": INTEGER,
                **FILTERS_ECHO,
            },
            optional=("filters", "filtersOperator"),
        ),
        "pagination": PAGINATION,
        "data": array(
            obj(
                {
                    "group": {"type": "object", "additionalProperties": STRING},
                    "metrics": {
                        "type": "object",
                        "additionalProperties": {"type": "number", "nullable": True},
                    },
                }
            )
        ),
    }
)
FILTER_VALUES_RESPONSE = obj(
    {
        "period": PERIOD,
        "query": obj(
            {"dateRange": DATE_RANGE, "fields": array(STRING), "limit": INTEGER, "offset": INTEGER}
        ),
        "data": array(obj({"field": STRING, "pagination": PAGINATION, "values": array(STRING)})),
    }
)
FUNNEL_RESULTS_RESPONSE = obj(
    {
        "period": PERIOD,
        "query": obj(
            {"dateRange": DATE_RANGE, **FILTERS_ECHO}, optional=("filters", "filtersOperator")
        ),
        "funnel": FUNNEL,
        "results": obj(
            {
                "activeUsers": INTEGER,
                "steps": array(
                    obj({"id": STRING, "name": STRING, "users": INTEGER, "conversionRate": NUMBER})
                ),
                "conversionRate": NUMBER,
                "activeUserConversionRate": NUMBER,
            }
        ),
    }
)


def error_schema(*codes: str, details: bool = False) -> dict[str, Any]:
    error = {"code": {"type": "string", "enum": list(codes)}, "message": STRING}
    if details:
        error["details"] = array(obj({"field": STRING, "message": STRING}))
    return obj({"error": obj(error)})


def response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


COMMON_ERRORS = {
    "400": response(
        "Bad request - invalid request payload or parameters",
        {"anyOf": [error_schema("VALIDATION_ERROR", details=True), error_schema("HTTP_ERROR")]},
    ),
    "401": response("Unauthorized - invalid or revoked API key", error_schema("UNAUTHORIZED")),
    "429": response("Rate limit exceeded", error_schema("RATE_LIMIT_EXCEEDED")),
    "500": response("Unexpected internal error", error_schema("INTERNAL_ERROR")),
}
PLAN_ERROR = {
    "403": response(
        "Requested date range is not allowed for the current plan",
        error_schema("PLAN_LIMIT_EXCEEDED"),
    )
}


def operation(
    summary: str, ok: dict[str, Any], *, body: Schema | None = None, **extra: Any
) -> dict[str, Any]:
    errors = extra.pop("errors", {})
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearerAuth": []}],
        **extra,
        "responses": {"200": response("Success", ok), **errors, **COMMON_ERRORS},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": json_schema(body)}}}
    return op


USER_QUERY_PARAMETERS = [
    {
        "name": "id",
        "in": "query",
        "required": False,
        "schema": json_schema(s.USER_LOOKUP.inner.shape["id"]),
    },
    {
        "name": "identifier",
        "in": "query",
        "required": False,
        "schema": json_schema(s.USER_LOOKUP.inner.shape["identifier"]),
    },
]


def _not_found(code: str, what: str) -> dict[str, Any]:
    return {"404": response(f"{what} was not found", error_schema(code))}


def openapi_document() -> dict[str, Any]:
    paths = {
        "/v1/project": {"get": operation("Get project", obj({"project": _PROJECT}))},
        "/v1/analytics/query": {
            "post": operation(
                "Query analytics", ANALYTICS_RESPONSE, body=s.ANALYTICS_QUERY, errors=PLAN_ERROR
            )
        },
        "/v1/filters/values": {
            "post": operation(
                "Get filter values",
                FILTER_VALUES_RESPONSE,
                body=s.FILTER_VALUES_QUERY,
                errors=PLAN_ERROR,
            )
        },
        "/v1/funnels": {"get": operation("List funnels", obj({"funnels": array(FUNNEL)}))},
        "/v1/funnels/{id}": {
            "post": operation(
                "Get funnel results",
                FUNNEL_RESULTS_RESPONSE,
                body=s.FUNNEL_RESULTS_QUERY,
                parameters=[{"name": "id", "in": "path", "required": True, "schema": STRING}],
                errors={**PLAN_ERROR, **_not_found("FUNNEL_NOT_FOUND", "Funnel")},
            )
        },
        "/v1/users": {
            "post": operation(
                "List users",
                obj({"period": PERIOD, "pagination": PAGINATION, "users": array(USER)}),
                body=s.USERS_QUERY,
                errors=PLAN_ERROR,
            )
        },
        "/v1/users/single": {
            "get": operation(
                "Get user",
                obj({"user": SINGLE_USER}),
                parameters=USER_QUERY_PARAMETERS,
                errors=_not_found("USER_NOT_FOUND", "User"),
            )
        },
        "/v1/users/events": {
            "post": operation(
                "List user events",
                obj({"period": PERIOD, "pagination": PAGINATION, "events": array(EVENT)}),
                body=s.USER_EVENTS_QUERY,
                parameters=USER_QUERY_PARAMETERS,
                errors={**PLAN_ERROR, **_not_found("USER_NOT_FOUND", "User")},
            )
        },
    }
    return {
        "openapi": "3.0.0",
        "info": {
            "title": "Vemetric API",
            "version": "1.0.0",
            "description": "Privacy-first analytics API",
        },
        "paths": paths,
        "components": {
            "schemas": {},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


_PROJECT = obj(
    {
        "id": STRING,
        "name": STRING,
        "domain": STRING,
        "token": STRING,
        "createdAt": STRING,
        "firstEventAt": NULLABLE_STRING,
        "hasPublicDashboard": {"type": "boolean"},
        "excludedIps": array(STRING),
        "excludedCountries": array(STRING),
    }
)
