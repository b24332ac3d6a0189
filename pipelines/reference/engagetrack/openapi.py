"""The served OpenAPI document: FastAPI's, finished with EngageTrack's envelopes and errors.

FastAPI describes the routes and parameters; this adds what it cannot know: the success
envelope ``{"success": true, "data": ...}`` (with ``total``, ``page``, ``limit`` on paged
lists), the ``{"error": "<message>"}`` body on every error status a route can answer, the
rate-limit headers, and the bearer security scheme. Choices the public docs leave open are
stated in the operations' descriptions.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR = {"$ref": "#/components/schemas/Error"}
RATE_HEADERS = {
    name: {"description": text, "schema": {"type": "integer"}}
    for name, text in (
        ("X-RateLimit-Limit", "Requests allowed in the current window"),
        ("X-RateLimit-Remaining", "Requests left in the current window"),
        ("X-RateLimit-Reset", "Unix timestamp (seconds) when the window resets"),
    )
}
PAGED = ("/visitors", "/timeline", "/completions", "/analytics/pages", "/analytics/sources",
         "/analytics/channels", "/analytics/devices", "/analytics/locations")
ERRORS = {
    "400": "Invalid parameters or body",
    "401": "Missing, invalid, revoked or expired credentials",
    "402": "The organization is on the Maker plan (API keys need Startup or higher)",
    "403": "The key lacks the route's scope, or an API key on a session-only route",
    "404": "Unknown organization, site or object",
    "405": "Method not allowed",
    "429": "Rate limit exceeded; retry after X-RateLimit-Reset",
}
NOTES = (
    "Reference server choices where the public docs are silent: paged lists put `total`, "
    "`page` and `limit` beside `data`; `filters` is a JSON array of "
    '`{"field","operator","value"}`; `7d`/`30d` end on and include `date`; timeline '
    "events are newest first and may be bounded with `from`/`to`; key listings show "
    "`key_preview` (`****` + last 4 characters); event times (timeline and completion "
    "`timestamp`, a visitor's `first_seen_at`/`last_seen_at`) are UTC with milliseconds "
    "(`YYYY-MM-DDTHH:MM:SS.mmmZ`), the precision analytics, funnels (a step strictly after "
    "the previous one) and session durations are computed at; other times (`created_at`, "
    "`expires_at`, ...) are whole seconds (`YYYY-MM-DDTHH:MM:SSZ`)."
)


def finish_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, routes=app.routes,
                               description=NOTES)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = {"type": "object", "required": ["error"],
                            "properties": {"error": {"type": "string"}}}
        for name in ("ValidationError", "HTTPValidationError"):
            schemas.pop(name, None)
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An et_live_ API key, or a session token from login"}}
        for path, operations in document["paths"].items():
            for operation in operations.values():
                _finish(path, operation)
        app.openapi_schema = document
    return app.openapi_schema


def _finish(path: str, operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    responses.pop("422", None)
    success = next(code for code in responses if code.startswith("2"))
    responses[success] = {"description": "Success", "headers": {} if "/auth/" in path else RATE_HEADERS,
                          "content": {"application/json": {"schema": _envelope(path)}}}
    for code, text in ERRORS.items():
        if "/auth/" in path and code in ("402", "403", "404"):
            continue
        headers = {} if code == "401" or "/auth/" in path else RATE_HEADERS
        responses[code] = {"description": text, "headers": headers,
                           "content": {"application/json": {"schema": ERROR}}}
    if "/auth/" not in path:
        operation["security"] = [{"bearer": []}]


def _envelope(path: str) -> dict[str, Any]:
    properties: dict[str, Any] = {"success": {"type": "boolean", "enum": [True]}, "data": {}}
    required = ["success", "data"]
    if path.endswith(PAGED):
        for name in ("total", "page", "limit"):
            properties[name] = {"type": "integer", "minimum": 0}
        required += ["total", "page", "limit"]
    return {"type": "object", "required": required, "properties": properties}
