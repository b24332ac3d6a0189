"""The Vemetric reference server: the public REST API of spec §6, over an in-memory dataset.

This module is the HTTP surface only: auth, rate limiting, request validation, the error
model and response envelopes. Every number comes from ``queries.py``.

    app = create_app(load_dataset(Path("tests/fixtures/vemetric/tiny.json")))
    with TestClient(app) as http:
        http.get("/v1/project", headers={"Authorization": "Bearer vem_..."}).json()

Order of checks for ``/v1/*`` (spec §1): auth (401) → rate limit (429, every authenticated
request counts) → validation (400: query, then path, then body) → handler checks (403/404).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from pipelines.reference import asgi
from pipelines.reference.vemetric import queries, store
from pipelines.reference.vemetric.auth import KeyStore
from pipelines.reference.vemetric.dataset import Dataset, Project
from pipelines.reference.vemetric.daterange import Resolved, plan_restricted, resolve
from pipelines.reference.vemetric.errors import (
    ApiError,
    funnel_not_found,
    http_error,
    internal_error,
    not_found,
    plan_limit_exceeded,
    rate_limit_exceeded,
    user_not_found,
    validation_error,
)
from pipelines.reference.vemetric.openapi import openapi_document
from pipelines.reference.vemetric.ratelimit import FixedWindowLimiter
from pipelines.reference.vemetric.render import funnel_json, project_json
from pipelines.reference.vemetric.schemas import (
    ANALYTICS_QUERY,
    DEFAULT_USERS_ORDER,
    FILTER_VALUES_QUERY,
    FUNNEL_RESULTS_QUERY,
    USER_EVENTS_QUERY,
    USER_LOOKUP,
    USERS_QUERY,
    resolved_metrics,
)
from pipelines.reference.vemetric.zod import Schema, parse

log = logging.getLogger(__name__)

DOCS_URL = "https://vemetric.com/docs/api/getting-started"
# Hono's JSON validator accepts exactly these Content-Types.
JSON_CONTENT_TYPE = re.compile(r"application/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*")
# Offsets have no upper bound in the API; past this every page is empty anyway, and the
# query engine's integer types stay safe.
MAX_OFFSET = 2**53
# The query string of a user-events request by id, as a sync sends it.
USER_ID_QUERY = re.compile(rb"id=([0-9]+)")


def create_app(
    dataset: Dataset,
    now: datetime | None = None,
    rate_limit: int = 100,
    rate_window: int = 60,
    clock: Callable[[], datetime] | None = None,
    *,
    hot_routes: bool = True,
) -> FastAPI:
    """A FastAPI app serving ``dataset``; all state lives in the returned app.

    ``now`` freezes the clock that presets and the plan gate resolve against (else the
    dataset's ``now``, else ``clock``, else real time). Rate-limit windows always follow
    ``clock`` (or real time), so a frozen server still refills its windows.
    ``hot_routes=False`` sends every request through FastAPI's middleware and router, the
    reference the hot routes' answers are tested against.
    """
    real_clock = clock or (lambda: datetime.now(UTC))
    # Build the query caches now, so that a large dataset's first request is as fast as the
    # rest and the server announces itself only once it can answer at full speed.
    for project in dataset.projects.values():
        store.prepare(project)
    frozen = now or dataset.now
    data_clock = (lambda: frozen) if frozen is not None else real_clock
    app = VemetricApp(
        title="Vemetric API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
    )
    keys = KeyStore(dataset)
    limiter = FixedWindowLimiter(rate_limit, rate_window, real_clock)
    app.add_middleware(Gate, keys=keys, limiter=limiter)
    app.add_exception_handler(ApiError, _api_error_response)
    app.add_exception_handler(StarletteHTTPException, _framework_error_response)
    _add_public_routes(app)
    _add_project_routes(app)
    _add_analytics_routes(app, data_clock)
    _add_funnel_routes(app, data_clock)
    hot = _add_user_routes(app, data_clock)
    if hot_routes:
        # The same Gate checks and counts, on the same key store and limiter.
        app.hot = HotRoutes(Gate(app.router, keys=keys, limiter=limiter), hot)
    return app


# --- middleware: auth, rate limit, last-resort 500 -------------------------------------------


class Gate(asgi.Gate):
    """Auth and rate limit for ``/v1``; rate headers on every authenticated answer; 500s."""

    api_error = ApiError
    log = log
    server = "Vemetric"

    def __init__(self, app: ASGIApp, keys: KeyStore, limiter: FixedWindowLimiter):
        super().__init__(app)
        self.keys, self.limiter = keys, limiter

    def admit(self, scope: Scope, extra: asgi.Headers) -> None:
        if _is_api_path(scope["path"]):
            project = self.keys.authenticate(asgi.header(scope, b"authorization"))
            state = self.limiter.hit(project.id)
            asgi.add_headers(extra, state.headers())
            if state.exceeded:
                raise rate_limit_exceeded()
            scope.setdefault("state", {})["project"] = project

    def error_response(self, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _json_response(exc.body(), exc.status)

    def internal_error_response(self) -> Response:
        error = internal_error()
        return _json_response(error.body(), error.status)


class VemetricApp(FastAPI):
    """FastAPI, except that the hot routes are answered before its middleware stack."""

    hot: HotRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot is not None and scope["type"] == "http":
            respond = self.hot.routes.get((scope["method"], scope["path"]))
            if respond is not None:
                scope["app"] = self
                await self.hot.gate.answer(scope, receive, send, respond)
                return
        await super().__call__(scope, receive, send)


class HotRoutes:
    """The endpoints a sync requests once per user (or per page of users), answered directly.

    FastAPI's middleware stack, router and dependency solving cost more per request than
    ``/v1/users/events`` itself. These routes go through the same Gate checks (auth, rate
    limit, then the same error bodies and headers) and give the same answers byte for byte:
    each responder either builds the answer from prepared data for the common request shape,
    or calls the very endpoint FastAPI routes to. The app serves at the root with
    ``redirect_slashes`` off, so Starlette too routes these paths only on exact equality.
    """

    Table = dict[tuple[str, str], asgi.Responder]

    def __init__(self, gate: Gate, routes: Table):
        self.gate, self.routes = gate, routes


def _is_api_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(_encode_json(body), status_code=status, media_type="application/json")


def _encode_json(body: Any) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # an integer past 64 bits, echoed from the request
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


async def _api_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _json_response(exc.body(), exc.status)


async def _framework_error_response(request: Request, exc: Exception) -> Response:
    """Starlette's 404 and 405 both become Vemetric's NOT_FOUND (Hono has no 405)."""
    assert isinstance(exc, StarletteHTTPException)
    error = not_found() if exc.status_code in (404, 405) else http_error(str(exc.detail))
    return _json_response(error.body(), error.status)


# --- request parsing ---------------------------------------------------------------------------


def _project(request: Request) -> Project:
    return request.scope["state"]["project"]


def _validated(schema: Schema, value: Any) -> dict[str, Any]:
    result = parse(schema, value)
    if not result.ok:
        raise validation_error(result.issues)
    return result.value


def _validated_query(request: Request, schema: Schema) -> dict[str, Any]:
    """Hono's query target: a repeated parameter arrives as an array of strings."""
    values: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        values.setdefault(key, []).append(value)
    return _validated(schema, {k: v[0] if len(v) == 1 else v for k, v in values.items()})


async def _validated_body(request: Request, schema: Schema) -> dict[str, Any]:
    content_type = request.headers.get("content-type")
    if content_type is None or not JSON_CONTENT_TYPE.fullmatch(content_type):
        shown = "undefined" if content_type is None else content_type
        raise http_error(f"Invalid HTTP header: Content-Type={shown}")
    return _validated(schema, _decode_json(await request.body()))


def _decode_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses integers beyond 64 bits, which JSON.parse accepts (as floats).
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise http_error("Malformed JSON in request body") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _period(project: Project, data: dict[str, Any], now: datetime
            ) -> tuple[Resolved, queries.Period]:
    """The request's ``dateRange`` resolved against ``now``; 403 if the plan does not allow it."""
    resolved = _resolved(data["dateRange"], now)
    if not project.subscription_active and plan_restricted(data["dateRange"], resolved.start, now):
        raise plan_limit_exceeded()
    return resolved, queries.Period(
        start=resolved.start, end=resolved.end, interval=resolved.interval
    )


def _resolved(date_range: str | list[str], now: datetime) -> Resolved:
    if isinstance(date_range, str):
        return resolve(date_range, now)
    return _custom_range(date_range[0], date_range[1])


@functools.lru_cache(maxsize=1024)
def _custom_range(start: str, end: str) -> Resolved:
    """A custom range does not depend on "now", and a sync asks for the same one each time."""
    return resolve([start, end], datetime(1970, 1, 1, tzinfo=UTC))


def _filter_echo(data: dict[str, Any]) -> dict[str, Any]:
    """``filters``/``filtersOperator`` are echoed only when filters were sent (even [])."""
    if "filters" not in data:
        return {}
    return {"filters": data["filters"], "filtersOperator": data["filtersOperator"]}


def _pagination(limit: int, offset: int, returned: int) -> dict[str, int]:
    return {"limit": limit, "offset": offset, "returned": returned}


# --- routes ------------------------------------------------------------------------------------


def _add_public_routes(app: FastAPI) -> None:
    document = openapi_document()

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> Response:
        return _json_response(document)

    @app.get("/", include_in_schema=False)
    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return RedirectResponse(DOCS_URL, status_code=302)


def _add_project_routes(app: FastAPI) -> None:
    @app.get("/v1/project")
    async def project(request: Request) -> Response:
        return _json_response({"project": project_json(_project(request))})


def _add_analytics_routes(app: FastAPI, clock: Callable[[], datetime]) -> None:
    @app.post("/v1/analytics/query")
    async def analytics(request: Request) -> Response:
        project, now = _project(request), clock()
        data = await _validated_body(request, ANALYTICS_QUERY)
        resolved, period = _period(project, data, now)
        metrics = resolved_metrics(data)
        group_by = data["groupBy"][0] if data["groupBy"] else None
        rows = await run_in_threadpool(
            queries.analytics_rows,
            project,
            period,
            metrics=metrics,
            group_by=group_by,
            order_by=tuple(data["orderBy"][0]) if data["orderBy"] else None,
            limit=data["limit"],
            offset=min(data["offset"], MAX_OFFSET),
            filters=data.get("filters", []),
            filters_operator=data["filtersOperator"],
        )
        query = {
            "dateRange": data["dateRange"],
            "groupBy": data["groupBy"],
            "metrics": metrics,
            "orderBy": data["orderBy"],
            "limit": data["limit"],
            "offset": data["offset"],
            **_filter_echo(data),
        }
        # An aggregate is always exactly one row, whatever limit/offset asked for.
        pagination = (
            _pagination(1, 0, 1)
            if group_by is None
            else _pagination(data["limit"], data["offset"], len(rows))
        )
        return _json_response(
            {"period": resolved.period, "query": query, "pagination": pagination, "data": rows}
        )

    @app.post("/v1/filters/values")
    async def filter_values(request: Request) -> Response:
        project, now = _project(request), clock()
        data = await _validated_body(request, FILTER_VALUES_QUERY)
        resolved, period = _period(project, data, now)
        values = await run_in_threadpool(
            queries.filter_values,
            project,
            period,
            fields=data["fields"],
            limit=data["limit"],
            offset=min(data["offset"], MAX_OFFSET),
        )
        query = {k: data[k] for k in ("dateRange", "fields", "limit", "offset")}
        return _json_response({"period": resolved.period, "query": query, "data": values})


def _add_funnel_routes(app: FastAPI, clock: Callable[[], datetime]) -> None:
    @app.get("/v1/funnels")
    async def funnels(request: Request) -> Response:
        return _json_response({"funnels": [funnel_json(f) for f in _project(request).funnels]})

    @app.post("/v1/funnels/{funnel_id}")
    async def funnel_results(request: Request, funnel_id: str) -> Response:
        project, now = _project(request), clock()
        data = await _validated_body(request, FUNNEL_RESULTS_QUERY)
        funnel = next((f for f in project.funnels if f["id"] == funnel_id), None)
        if funnel is None:  # 404 before the plan gate here (spec §4)
            raise funnel_not_found()
        resolved, period = _period(project, data, now)
        results = await run_in_threadpool(
            queries.funnel_results,
            project,
            period,
            funnel,
            filters=data.get("filters", []),
            filters_operator=data["filtersOperator"],
        )
        query = {"dateRange": data["dateRange"], **_filter_echo(data)}
        body = {
            "period": resolved.period,
            "query": query,
            "funnel": funnel_json(funnel),
            "results": results,
        }
        return _json_response(body)


def _add_user_routes(app: FastAPI, clock: Callable[[], datetime]) -> HotRoutes.Table:
    """The user routes; returns the responders of the two a sync calls per page."""
    @app.post("/v1/users")
    async def users(request: Request) -> Response:
        project, now = _project(request), clock()
        data = await _validated_body(request, USERS_QUERY)
        resolved, period = _period(project, data, now)
        rows = await run_in_threadpool(
            queries.list_users,
            project,
            period,
            filters=data.get("filters", []),
            filters_operator=data["filtersOperator"],
            order_by=(data.get("orderBy") or DEFAULT_USERS_ORDER)[0],
            limit=data["limit"],
            offset=min(data["offset"], MAX_OFFSET),
        )
        pagination = _pagination(data["limit"], data["offset"], len(rows))
        return _json_response({"period": resolved.period, "pagination": pagination, "users": rows})

    @app.get("/v1/users/single")
    async def single_user(request: Request) -> Response:
        project = _project(request)
        lookup = _validated_query(request, USER_LOOKUP)
        user_id = await run_in_threadpool(_resolve_user, project, lookup)
        return _json_response(
            {"user": await run_in_threadpool(queries.single_user, project, user_id)}
        )

    @app.post("/v1/users/events")
    async def user_events(request: Request) -> Response:
        project, now = _project(request), clock()
        lookup = _validated_query(request, USER_LOOKUP)
        data = await _validated_body(request, USER_EVENTS_QUERY)
        # 403 (plan) before the user lookup here (spec §4)
        resolved, period = _period(project, data, now)
        # By id the lookup and an unfiltered page are a few dict and array look-ups, cheaper
        # than the hop to a worker thread; an identifier or filters mean polars work.
        user_id = await _maybe_in_thread("id" in lookup, _resolve_user, project, lookup)
        events = await _maybe_in_thread(
            not data.get("filters"),
            queries.user_events,
            project,
            period,
            user_id,
            filters=data.get("filters", []),
            filters_operator=data["filtersOperator"],
            limit=data["limit"],
            offset=min(data["offset"], MAX_OFFSET),
        )
        pagination = _pagination(data["limit"], data["offset"], len(events))
        return _json_response(
            {"period": resolved.period, "pagination": pagination, "events": events}
        )

    validated_events_body = ValidatedBodies(USER_EVENTS_QUERY)

    async def users_hot(scope: Scope, receive: Receive) -> Response:
        return await users(Request(scope, receive))

    async def user_events_hot(scope: Scope, receive: Receive) -> Response:
        body = await asgi.read_body(receive)
        answer = _user_events_answer(scope, body, clock(), validated_events_body)
        if answer is None:  # not the common shape: the endpoint, on the same body
            answer = await user_events(Request(scope, asgi.replay(body, receive)))
        return answer

    return {("POST", "/v1/users"): users_hot, ("POST", "/v1/users/events"): user_events_hot}


class ValidatedBodies:
    """Request bodies that passed a schema, by their exact bytes (a bounded memo).

    Validation is a function of the body alone, and a sync sends the same body for every
    user's first page. Only valid bodies are kept; their values are never modified.
    """

    def __init__(self, schema: Schema, kept: int = 256):
        self.schema, self.kept = schema, kept
        self.found: dict[bytes, dict[str, Any]] = {}

    def __call__(self, raw: bytes) -> dict[str, Any]:
        """The validated body; the endpoint's 400 (malformed JSON, validation) if invalid."""
        data = self.found.get(raw)
        if data is None:
            data = _validated(self.schema, _decode_json(raw))
            if len(self.found) >= self.kept:
                self.found.clear()
            self.found[raw] = data
        return data


def _user_events_answer(scope: Scope, body: bytes, now: datetime, validated: ValidatedBodies
                        ) -> Response | None:
    """``POST /v1/users/events?id=N`` with a JSON body and no filters, answered from the
    prepared JSON of :func:`queries.user_events_json`; None for any other shape.

    The checks come in the endpoint's order (query, Content-Type, body, plan, user), so an
    error raised here is the one the endpoint would raise.
    """
    found = USER_ID_QUERY.fullmatch(scope["query_string"])
    content_type = asgi.header(scope, b"content-type")
    if found is None or content_type is None or not JSON_CONTENT_TYPE.fullmatch(content_type):
        return None
    data = validated(body)
    limit, offset = data["limit"], data["offset"]
    # A float limit ("1e3"), filters or an offset past MAX_OFFSET: the endpoint decides.
    if data.get("filters") or type(limit) is not int or type(offset) is not int or \
            offset > MAX_OFFSET:
        return None
    project = scope["state"]["project"]
    resolved, period = _period(project, data, now)
    user_id = _resolve_user(project, {"id": found[1].decode()})
    rows, returned = queries.user_events_json(project, period, user_id, limit=limit, offset=offset)
    head = b'{"period":%b,"pagination":{"limit":%d,"offset":%d,"returned":%d},"events":[' % (
        orjson.dumps(resolved.period), limit, offset, returned)
    return Response(head + rows + b"]}", media_type="application/json")


async def _maybe_in_thread(cheap: bool, func: Callable[..., Any], *args: Any, **kwargs: Any
                           ) -> Any:
    """``func(...)`` on the event loop when ``cheap``, else on a worker thread."""
    if cheap:
        return func(*args, **kwargs)
    return await run_in_threadpool(func, *args, **kwargs)


def _resolve_user(project: Project, lookup: dict[str, Any]) -> str:
    user_id = queries.resolve_user_id(
        project, id=lookup.get("id"), identifier=lookup.get("identifier")
    )
    if user_id is None:
        raise user_not_found()
    return user_id
