"""The EngageTrack reference server: ``/api/v1`` over an in-memory dataset.

This module is the HTTP surface: routes, envelopes, request models and the gate (auth and
rate limit). Every number comes from ``queries.py``; the served OpenAPI document
(``/openapi.json``, see ``openapi.py``) records every shape the public docs leave open.

    app = create_app(load_dataset(Path("tests/fixtures/engagetrack/tiny.json")))
    with TestClient(app) as http:
        http.get("/api/v1/organizations/org_acme/sites",
                 headers={"Authorization": "Bearer et_live_..."}).json()

Order of checks: credentials (401; 402 for a Maker-plan key) → rate limit (429, counted
per key, or per user for sessions) → organization (404) → scope (403) → parameters (400)
→ site and objects (404). Every answer to an authenticated request carries
``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (a Unix timestamp).
"""

# No ``from __future__ import annotations``: FastAPI reads the route signatures at runtime,
# and some parameter types are built inside the route factories.
import copy
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
import polars as pl
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Scope

from pipelines.reference import asgi
from pipelines.reference.clock import format_seconds
from pipelines.reference.engagetrack import queries
from pipelines.reference.engagetrack.auth import AuthStore, Caller
from pipelines.reference.engagetrack.dataset import (
    MATCH_TYPES,
    SCOPES,
    ApiKey,
    Dataset,
    Organization,
    Site,
)
from pipelines.reference.engagetrack.errors import (
    INTERNAL,
    TOO_MANY_LOGINS,
    ApiError,
    bad_request,
    not_found,
    rate_limited,
)
from pipelines.reference.engagetrack.filters import parse_filters
from pipelines.reference.engagetrack.openapi import finish_openapi
from pipelines.reference.engagetrack.periods import PERIODS, Period, resolve
from pipelines.reference.vemetric.ratelimit import FixedWindowLimiter

log = logging.getLogger(__name__)

BASE = "/api/v1"
ORG = BASE + "/organizations/{orgId}"
SITE = ORG + "/sites/{siteId}"

OrgId = Annotated[str, Path(alias="orgId")]
SiteId = Annotated[str, Path(alias="siteId")]
PeriodName = Literal["day", "7d", "30d", "month", "12mo", "custom"]
assert set(PeriodName.__args__) == set(PERIODS)  # type: ignore[attr-defined]


def create_app(
    dataset: Dataset,
    now: datetime | None = None,
    *,
    rate_limit: int = 600,
    rate_window: int = 60,
    login_rate_limit: int = 10,
    plan_gate_on_data: bool = True,
    funnel_window: timedelta | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """A FastAPI app serving a private copy of ``dataset`` (writes never leak between apps).

    ``now`` freezes the clock that periods, expiry and sessions use (else the dataset's
    ``now``, else ``clock``, else real time); rate-limit windows always follow ``clock`` or
    real time. Server options for what the docs leave open: ``plan_gate_on_data`` (a key of
    an organization on the Maker plan gets 402 on data endpoints too), ``funnel_window``
    (a conversion window from step 1; ``None``: the whole period), ``login_rate_limit``
    (login attempts per window per client address).
    """
    real_clock = clock or (lambda: datetime.now(UTC))
    frozen = now or dataset.now
    data_clock = (lambda: frozen) if frozen is not None else real_clock
    state = _private_copy(dataset)
    auth = AuthStore(state, data_clock, plan_gate_on_data=plan_gate_on_data)
    app = FastAPI(title="EngageTrack API", version="1.0", docs_url=None, redoc_url=None,
                  redirect_slashes=False)
    app.add_middleware(Gate, auth=auth,
                       limiter=FixedWindowLimiter(rate_limit, rate_window, real_clock),
                       login_limiter=FixedWindowLimiter(login_rate_limit, rate_window, real_clock))
    app.add_exception_handler(ApiError, _api_error_response)
    app.add_exception_handler(RequestValidationError, _validation_error_response)
    app.add_exception_handler(StarletteHTTPException, _framework_error_response)
    context = _Context(state, auth, data_clock, funnel_window)
    for add in (_auth_routes, _key_routes, _site_routes, _analytics_routes, _goal_routes,
                _funnel_routes, _annotation_routes, _visitor_routes):
        add(app, context)
    app.openapi = lambda: finish_openapi(app)  # type: ignore[method-assign]
    return app


def serve_app(data: Any, *, now: datetime | None = None, rate_limit: int | None = None,
              faults: Any = None) -> ASGIApp:
    """What ``funnelhouse serve engagetrack`` runs: the dataset at ``data`` (file or
    directory), the shared fault injector in front when ``faults`` asks for any."""
    from pipelines.reference.engagetrack.dataset import load_dataset
    from pipelines.reference.engagetrack.errors import FAULT_PATHS, fault_body
    from pipelines.reference.faults import with_faults

    app = create_app(load_dataset(data), now=now, rate_limit=rate_limit or 600)
    if faults:
        return with_faults(app, faults, paths=FAULT_PATHS, error_body=fault_body)
    return app


def _private_copy(dataset: Dataset) -> Dataset:
    """Copies of everything a request can change (keys, goals, funnels, annotations)."""
    organizations = {}
    for org in dataset.organizations.values():
        sites = {s.id: replace(s, goals=copy.deepcopy(s.goals), funnels=copy.deepcopy(s.funnels),
                               annotations=copy.deepcopy(s.annotations), cache={})
                 for s in org.sites.values()}
        organizations[org.id] = replace(org, api_keys=[replace(k) for k in org.api_keys],
                                        members=list(org.members), sites=sites)
    return replace(dataset, organizations=organizations)


class _Context:
    def __init__(self, dataset: Dataset, auth: AuthStore, clock: Callable[[], datetime],
                 funnel_window: timedelta | None):
        self.dataset, self.auth, self.clock, self.funnel_window = dataset, auth, clock, funnel_window

    def org(self, request: Request, org_id: str, scope: str | None) -> Organization:
        caller: Caller = request.scope["state"]["caller"]
        caller.require(org_id, scope)
        return self.dataset.organizations[org_id]

    def site(self, request: Request, org_id: str, site_id: str, scope: str | None) -> Site:
        site = self.org(request, org_id, scope).sites.get(site_id)
        if site is None:
            raise not_found("Site")
        return site

    def today(self) -> Any:
        return self.clock().date()


# --- the gate: credentials and rate limits -----------------------------------------------------


_KEY_ROUTES = re.compile(r"^/api/v1/organizations/[^/]+/api-keys(/[^/]*)?$")
# The scope each data route needs, checked in the gate so that a missing scope answers 403
# before any parameter or body is validated. (method or "*", path after /sites/{siteId})
_SCOPES = (
    ("GET", re.compile(r"^$"), "sites:read"),
    ("GET", re.compile(r"^/analytics/[^/]+$"), "analytics:read"),
    ("GET", re.compile(r"^/goals(/stats|/[^/]+/completions)?$"), "goals:read"),
    ("*", re.compile(r"^/goals/[^/]+(/archive|/unarchive)?$"), "goals:write"),
    ("GET", re.compile(r"^/funnels(/[^/]+/analyze)?$"), "funnels:read"),
    ("*", re.compile(r"^/funnels(/[^/]+)?$"), "funnels:write"),
    ("GET", re.compile(r"^/annotations$"), "annotations:read"),
    ("*", re.compile(r"^/annotations(/[^/]+)?$"), "annotations:write"),
    ("GET", re.compile(r"^/visitors(/[^/]+/timeline)?$"), "visitors:read"),
)
_DATA_PATH = re.compile(r"^/api/v1/organizations/([^/]+)(/sites(/[^/]+(.*))?)?$")


def required_scope(method: str, path: str) -> tuple[str, str | None] | None:
    """``(orgId, scope)`` a data route needs, or None for a path no route serves."""
    found = _DATA_PATH.match(path)
    if found is None:
        return None
    org_id, sites, site, rest = found.groups()
    if sites is None:
        return None
    if site is None:
        return org_id, "sites:read" if method == "GET" else None
    for verb, pattern, scope in _SCOPES:
        if verb in (method, "*") and pattern.match(rest):
            return org_id, scope
    return None


class Gate(asgi.Gate):
    """Auth and rate limit before any route runs; rate headers on every answer it let in;
    an unhandled exception becomes EngageTrack's 500 body."""

    api_error = ApiError
    log = log
    server = "EngageTrack"

    def __init__(self, app: ASGIApp, auth: AuthStore, limiter: FixedWindowLimiter,
                 login_limiter: FixedWindowLimiter):
        super().__init__(app)
        self.auth, self.limiter, self.login_limiter = auth, limiter, login_limiter

    def error_response(self, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _json(exc.body(), exc.status)

    def internal_error_response(self) -> Response:
        return _json({"error": INTERNAL}, 500)

    def admit(self, scope: Scope, extra: asgi.Headers) -> None:
        path = scope["path"]
        if path == BASE + "/auth/login":
            client = (scope.get("client") or ("unknown",))[0]
            self._count(self.login_limiter, f"login:{client}", extra, TOO_MANY_LOGINS)
        elif path.startswith(BASE + "/organizations/"):
            header = asgi.header(scope, b"authorization")
            if _KEY_ROUTES.match(path):
                user = self.auth.session_user(header)
                caller = self.auth._session_caller(user)
            else:
                caller = self.auth.caller(header)
            self._count(self.limiter, caller.rate_key, extra)
            needed = required_scope(scope["method"], path)
            if needed is not None:
                caller.require(*needed)
            scope.setdefault("state", {})["caller"] = caller

    @staticmethod
    def _count(limiter: FixedWindowLimiter, key: str, extra: asgi.Headers,
               template: str | None = None) -> None:
        state = limiter.hit(key)
        asgi.add_headers(extra, state.headers())
        if state.exceeded:
            raise rate_limited(state.reset, template) if template else rate_limited(state.reset)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def ok(data: Any, status: int = 200, **paging: int) -> Response:
    """The success envelope; lists that page add ``total``, ``page`` and ``limit``."""
    return _json({"success": True, "data": data, **paging}, status)


async def _api_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _json(exc.body(), exc.status)


async def _validation_error_response(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 becomes EngageTrack's 400 with one readable line."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"] if part != "body") or "body"
    return _json({"error": f"Invalid {where}: {first['msg']}"}, 400)


async def _framework_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return _json({"error": "Method not allowed"}, 405)
    if exc.status_code == 404:
        return _json({"error": "Route not found"}, 404)
    return _json({"error": str(exc.detail)}, exc.status_code)


# --- shared parameters -------------------------------------------------------------------------

PeriodQuery = Annotated[PeriodName, Query(description="Time period (default 30d)")]
DateQuery = Annotated[str | None, Query(description="Base date YYYY-MM-DD (default today, UTC)")]
FromQuery = Annotated[str | None, Query(alias="from", description="custom: first day YYYY-MM-DD")]
ToQuery = Annotated[str | None, Query(alias="to", description="custom: last day YYYY-MM-DD")]
FiltersQuery = Annotated[str | None, Query(
    description='JSON array of {"field", "operator", "value"} (operators: is, is_not, '
                'contains, not_contains); every filter must hold')]
Page = Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")]


def _page(frame: pl.DataFrame, page: int, limit: int) -> pl.DataFrame:
    return frame.slice((page - 1) * limit, limit)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_seconds(moment)


# --- routes: auth and keys ---------------------------------------------------------------------


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal[SCOPES]] = Field(min_length=1)  # type: ignore[valid-type]
    expires_at: AwareDatetime | None = None


def key_json(key: ApiKey) -> dict[str, Any]:
    """A key as listings show it: never the key itself, only a masked preview."""
    return {"id": key.id, "name": key.name, "scopes": list(key.scopes),
            "created_at": _time(key.created_at), "expires_at": _time(key.expires_at),
            "key_preview": "****" + key.last4}


def _auth_routes(app: FastAPI, ctx: _Context) -> None:
    @app.post(BASE + "/auth/login", tags=["auth"])
    def login(body: Login) -> Response:
        token, session = ctx.auth.login(body.email, body.password)
        user = session.user
        return ok({"token": token, "expires_at": _time(session.expires_at),
                   "user": {"id": user.id, "email": user.email, "name": user.name}})


def _key_routes(app: FastAPI, ctx: _Context) -> None:
    def member_org(request: Request, org_id: str) -> Organization:
        return ctx.auth.member_org(request.scope["state"]["caller"].user, org_id)

    @app.get(ORG + "/api-keys", tags=["api-keys"])
    def list_keys(request: Request, org_id: OrgId) -> Response:
        return ok([key_json(k) for k in ctx.auth.active_keys(member_org(request, org_id))])

    @app.post(ORG + "/api-keys", tags=["api-keys"], status_code=201)
    def create_key(request: Request, org_id: OrgId, body: NewKey) -> Response:
        org = member_org(request, org_id)
        if body.expires_at is not None and body.expires_at <= ctx.clock():
            raise bad_request("Invalid expires_at: must be in the future")
        raw, key = ctx.auth.create_key(org, body.name, tuple(dict.fromkeys(body.scopes)),
                                       body.expires_at)
        return ok({**key_json(key), "key": raw}, 201)

    @app.delete(ORG + "/api-keys/{keyId}", tags=["api-keys"])
    def revoke_key(request: Request, org_id: OrgId,
                   key_id: Annotated[str, Path(alias="keyId")]) -> Response:
        key = ctx.auth.revoke(member_org(request, org_id), key_id)
        return ok({"id": key.id, "revoked_at": _time(key.revoked_at)})


# --- routes: sites and analytics ---------------------------------------------------------------


def site_json(site: Site) -> dict[str, Any]:
    return {"id": site.id, "name": site.name, "domain": site.domain, "timezone": site.timezone,
            "public_id": site.public_id, "created_at": _time(site.created_at)}


def _site_routes(app: FastAPI, ctx: _Context) -> None:
    @app.get(ORG + "/sites", tags=["sites"])
    def list_sites(request: Request, org_id: OrgId) -> Response:
        org = ctx.org(request, org_id, "sites:read")
        return ok([site_json(s) for s in org.sites.values()])

    @app.get(SITE, tags=["sites"])
    def get_site(request: Request, org_id: OrgId, site_id: SiteId) -> Response:
        return ok(site_json(ctx.site(request, org_id, site_id, "sites:read")))


def _analytics_routes(app: FastAPI, ctx: _Context) -> None:
    def query(request: Request, org_id: str, site_id: str, period: str, base: str | None,
              start: str | None, end: str | None, filters: str | None
              ) -> tuple[Site, Period, list[dict[str, str]]]:
        site = ctx.site(request, org_id, site_id, "analytics:read")
        return site, resolve(period, base, start, end, ctx.today()), parse_filters(filters)

    @app.get(SITE + "/analytics/stats", tags=["analytics"])
    def stats(request: Request, org_id: OrgId, site_id: SiteId, period: PeriodQuery = "30d",
              date: DateQuery = None, start: FromQuery = None, end: ToQuery = None,
              filters: FiltersQuery = None) -> Response:
        site, span, chosen = query(request, org_id, site_id, period, date, start, end, filters)
        return ok(queries.stats(site, span, chosen))

    @app.get(SITE + "/analytics/revenue", tags=["analytics"])
    def revenue(request: Request, org_id: OrgId, site_id: SiteId, period: PeriodQuery = "30d",
                date: DateQuery = None, start: FromQuery = None, end: ToQuery = None,
                filters: FiltersQuery = None) -> Response:
        site, span, chosen = query(request, org_id, site_id, period, date, start, end, filters)
        return ok(queries.revenue(site, span, chosen))

    for name, dimensions in queries.BREAKDOWNS.items():
        _breakdown_route(app, name, dimensions, query)


def _breakdown_route(app: FastAPI, name: str, dimensions: tuple[str, ...], query: Callable) -> None:
    Dimension = Literal[dimensions]  # type: ignore[valid-type]

    @app.get(SITE + f"/analytics/{name}", tags=["analytics"], name=f"analytics_{name}")
    def breakdown(request: Request, org_id: OrgId, site_id: SiteId, period: PeriodQuery = "30d",
                  date: DateQuery = None, start: FromQuery = None, end: ToQuery = None,
                  filters: FiltersQuery = None, page: Page = 1,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 10,
                  dimension: Annotated[Dimension, Query(  # type: ignore[valid-type]
                      description=f"Grouping: {', '.join(dimensions)}")] = dimensions[0]
                  ) -> Response:
        site, span, chosen = query(request, org_id, site_id, period, date, start, end, filters)
        rows = queries.breakdown(site, span, chosen, dimension)
        return ok(rows[(page - 1) * limit: page * limit], total=len(rows), page=page, limit=limit)


# --- routes: goals -----------------------------------------------------------------------------


class GoalUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    pattern: str | None = Field(default=None, min_length=1, max_length=500)
    match_type: Literal[MATCH_TYPES] | None = None  # type: ignore[valid-type]


def goal_json(goal: dict[str, Any]) -> dict[str, Any]:
    return {**goal, "created_at": _time(goal["created_at"])}


def _checked_pattern(pattern: str, match_type: str, where: str) -> None:
    if match_type == "regex":
        try:
            re.compile(pattern)
        except re.error as exc:
            raise bad_request(f"Invalid {where}: not a valid regular expression ({exc})") from None


def _goal_routes(app: FastAPI, ctx: _Context) -> None:
    def goal_of(site: Site, goal_id: str) -> dict[str, Any]:
        goal = next((g for g in site.goals if g["id"] == goal_id), None)
        if goal is None:
            raise not_found("Goal")
        return goal

    GoalId = Annotated[str, Path(alias="goalId")]

    @app.get(SITE + "/goals", tags=["goals"])
    def list_goals(request: Request, org_id: OrgId, site_id: SiteId,
                   include_archived: bool = False) -> Response:
        site = ctx.site(request, org_id, site_id, "goals:read")
        return ok([goal_json(g) for g in site.goals if include_archived or not g["archived"]])

    @app.get(SITE + "/goals/stats", tags=["goals"])
    def goal_stats(request: Request, org_id: OrgId, site_id: SiteId, period: PeriodQuery = "30d",
                   date: DateQuery = None, start: FromQuery = None, end: ToQuery = None,
                   filters: FiltersQuery = None) -> Response:
        site = ctx.site(request, org_id, site_id, "goals:read")
        span, chosen = resolve(period, date, start, end, ctx.today()), parse_filters(filters)
        active = [g for g in site.goals if not g["archived"]]
        return ok(queries.goal_stats(site, span, chosen, active))

    @app.get(SITE + "/goals/{goalId}/completions", tags=["goals"])
    def completions(request: Request, org_id: OrgId, site_id: SiteId, goal_id: GoalId,
                    period: PeriodQuery = "30d", date: DateQuery = None, start: FromQuery = None,
                    end: ToQuery = None, page: Page = 1,
                    limit: Annotated[int, Query(ge=1, le=100)] = 50) -> Response:
        site = ctx.site(request, org_id, site_id, "goals:read")
        span = resolve(period, date, start, end, ctx.today())
        rows = queries.goal_completions(site, span, goal_of(site, goal_id))
        return ok(queries.completions_json(_page(rows, page, limit)), total=rows.height,
                  page=page, limit=limit)

    @app.patch(SITE + "/goals/{goalId}", tags=["goals"])
    def update_goal(request: Request, org_id: OrgId, site_id: SiteId, goal_id: GoalId,
                    body: GoalUpdate) -> Response:
        site = ctx.site(request, org_id, site_id, "goals:write")
        goal = goal_of(site, goal_id)
        changes = body.model_dump(exclude_none=True)
        _checked_pattern(changes.get("pattern", goal["pattern"]),
                         changes.get("match_type", goal["match_type"]), "pattern")
        goal.update(changes)
        return ok(goal_json(goal))

    for action, archived in (("archive", True), ("unarchive", False)):
        _archive_route(app, ctx, action, archived, goal_of)


def _archive_route(app: FastAPI, ctx: _Context, action: str, archived: bool,
                   goal_of: Callable) -> None:
    @app.post(SITE + "/goals/{goalId}/" + action, tags=["goals"], name=f"{action}_goal")
    def archive(request: Request, org_id: OrgId, site_id: SiteId,
                goal_id: Annotated[str, Path(alias="goalId")]) -> Response:
        goal = goal_of(ctx.site(request, org_id, site_id, "goals:write"), goal_id)
        goal["archived"] = archived
        return ok(goal_json(goal))


# --- routes: funnels ---------------------------------------------------------------------------


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=100)
    order: int | None = Field(default=None, ge=1, le=100)
    type: Literal["pageview", "custom_event"] = "pageview"
    pattern: str = Field(min_length=1, max_length=500)
    match_type: Literal[MATCH_TYPES] = "contains"  # type: ignore[valid-type]


class FunnelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)
    steps: list[StepIn] = Field(min_length=2, max_length=20)


class FunnelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    steps: list[StepIn] | None = Field(default=None, min_length=2, max_length=20)


def funnel_json(funnel: dict[str, Any]) -> dict[str, Any]:
    return {**funnel, "created_at": _time(funnel["created_at"]),
            "updated_at": _time(funnel["updated_at"])}


def _steps(steps: list[StepIn]) -> list[dict[str, Any]]:
    """Steps in the order given; an explicit ``order`` must say the same (1-based)."""
    out = []
    for index, step in enumerate(steps):
        if step.order is not None and step.order != index + 1:
            raise bad_request(f"Invalid steps.{index}.order: expected {index + 1}, got {step.order}")
        _checked_pattern(step.pattern, step.match_type, f"steps.{index}.pattern")
        out.append({"id": "st_" + secrets.token_hex(6), "name": step.name, "order": index + 1,
                    "type": step.type, "pattern": step.pattern, "match_type": step.match_type})
    return out


def _funnel_routes(app: FastAPI, ctx: _Context) -> None:
    FunnelId = Annotated[str, Path(alias="funnelId")]

    def funnel_of(site: Site, funnel_id: str) -> dict[str, Any]:
        funnel = next((f for f in site.funnels if f["id"] == funnel_id), None)
        if funnel is None:
            raise not_found("Funnel")
        return funnel

    @app.get(SITE + "/funnels", tags=["funnels"])
    def list_funnels(request: Request, org_id: OrgId, site_id: SiteId) -> Response:
        site = ctx.site(request, org_id, site_id, "funnels:read")
        return ok([funnel_json(f) for f in site.funnels])

    @app.post(SITE + "/funnels", tags=["funnels"], status_code=201)
    def create_funnel(request: Request, org_id: OrgId, site_id: SiteId, body: FunnelIn) -> Response:
        site = ctx.site(request, org_id, site_id, "funnels:write")
        moment = ctx.clock()
        funnel = {"id": "fun_" + secrets.token_hex(6), "name": body.name,
                  "description": body.description, "steps": _steps(body.steps),
                  "created_at": moment, "updated_at": moment}
        site.funnels.append(funnel)
        return ok(funnel_json(funnel), 201)

    @app.patch(SITE + "/funnels/{funnelId}", tags=["funnels"])
    def update_funnel(request: Request, org_id: OrgId, site_id: SiteId, funnel_id: FunnelId,
                      body: FunnelUpdate) -> Response:
        site = ctx.site(request, org_id, site_id, "funnels:write")
        funnel = funnel_of(site, funnel_id)
        changes = body.model_dump(exclude_none=True, exclude={"steps"})
        if body.steps is not None:
            changes["steps"] = _steps(body.steps)
        funnel.update(changes, updated_at=ctx.clock())
        return ok(funnel_json(funnel))

    @app.delete(SITE + "/funnels/{funnelId}", tags=["funnels"])
    def delete_funnel(request: Request, org_id: OrgId, site_id: SiteId,
                      funnel_id: FunnelId) -> Response:
        site = ctx.site(request, org_id, site_id, "funnels:write")
        site.funnels.remove(funnel_of(site, funnel_id))
        return ok({"id": funnel_id, "deleted": True})

    @app.get(SITE + "/funnels/{funnelId}/analyze", tags=["funnels"])
    def analyze(request: Request, org_id: OrgId, site_id: SiteId, funnel_id: FunnelId,
                period: PeriodQuery = "30d", date: DateQuery = None, start: FromQuery = None,
                end: ToQuery = None, filters: FiltersQuery = None) -> Response:
        site = ctx.site(request, org_id, site_id, "funnels:read")
        span, chosen = resolve(period, date, start, end, ctx.today()), parse_filters(filters)
        funnel = funnel_of(site, funnel_id)
        return ok(queries.analyze_funnel(site, span, chosen, funnel, ctx.funnel_window))


# --- routes: annotations and visitors ----------------------------------------------------------


class AnnotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    text: str = Field(min_length=1, max_length=500)


def _annotation_routes(app: FastAPI, ctx: _Context) -> None:
    def note_json(note: dict[str, Any]) -> dict[str, Any]:
        return {**note, "created_at": _time(note["created_at"])}

    @app.get(SITE + "/annotations", tags=["annotations"])
    def list_annotations(request: Request, org_id: OrgId, site_id: SiteId) -> Response:
        site = ctx.site(request, org_id, site_id, "annotations:read")
        return ok([note_json(n) for n in sorted(site.annotations, key=lambda n: (n["date"], n["id"]))])

    @app.post(SITE + "/annotations", tags=["annotations"], status_code=201)
    def create_annotation(request: Request, org_id: OrgId, site_id: SiteId,
                          body: AnnotationIn) -> Response:
        site = ctx.site(request, org_id, site_id, "annotations:write")
        day = resolve("custom", None, body.date, body.date, ctx.today()).first
        note = {"id": "ann_" + secrets.token_hex(6), "date": day.isoformat(), "text": body.text,
                "created_at": ctx.clock()}
        site.annotations.append(note)
        return ok(note_json(note), 201)

    @app.delete(SITE + "/annotations/{annotationId}", tags=["annotations"])
    def delete_annotation(request: Request, org_id: OrgId, site_id: SiteId,
                          note_id: Annotated[str, Path(alias="annotationId")]) -> Response:
        site = ctx.site(request, org_id, site_id, "annotations:write")
        note = next((n for n in site.annotations if n["id"] == note_id), None)
        if note is None:
            raise not_found("Annotation")
        site.annotations.remove(note)
        return ok({"id": note_id, "deleted": True})


def _visitor_routes(app: FastAPI, ctx: _Context) -> None:
    Limit = Annotated[int, Query(ge=1, le=100, description="Page size (max 100)")]

    @app.get(SITE + "/visitors", tags=["visitors"])
    def list_visitors(request: Request, org_id: OrgId, site_id: SiteId, page: Page = 1,
                      limit: Limit = 50,
                      search: Annotated[str | None, Query(max_length=200)] = None) -> Response:
        site = ctx.site(request, org_id, site_id, "visitors:read")
        table = queries.search_visitors(queries.visitor_table(site, _active(site)), search)
        return ok(queries.visitor_json(_page(table, page, limit)), total=table.height, page=page,
                  limit=limit)

    @app.get(SITE + "/visitors/{visitorId}/timeline", tags=["visitors"])
    def visitor_timeline(request: Request, org_id: OrgId, site_id: SiteId,
                         visitor_id: Annotated[str, Path(alias="visitorId")], page: Page = 1,
                         limit: Limit = 50, start: FromQuery = None, end: ToQuery = None
                         ) -> Response:
        site = ctx.site(request, org_id, site_id, "visitors:read")
        table = queries.visitor_table(site, _active(site))
        profile = table.filter(pl.col("id") == visitor_id)
        if profile.height == 0:
            raise not_found("Visitor")
        span = resolve("custom", None, start, end, ctx.today()) if start or end else None
        events = queries.timeline(site, visitor_id, span)
        data = {"visitor": queries.visitor_json(profile)[0],
                "events": queries.timeline_json(_page(events, page, limit))}
        return ok(data, total=events.height, page=page, limit=limit)


def _active(site: Site) -> list[dict[str, Any]]:
    return [g for g in site.goals if not g["archived"]]


__all__ = ["Gate", "create_app", "ok", "serve_app"]
