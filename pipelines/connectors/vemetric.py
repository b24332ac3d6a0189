"""The Vemetric read API (``specs/vemetric-api.md``): its endpoints, paginators and auth.

Everything generic (retries, pacing, paging loops, redaction) is in
:mod:`pipelines.connectors._http`; this module only says what to call and how it pages.

Example::

    with VemetricConnector.connect("https://api.vemetric.com", api_key_from_env()) as vemetric:
        vemetric.preflight(date_range(date(2026, 1, 1), date(2026, 1, 31)))
        for users in vemetric.user_pages(date_range(date(2026, 1, 1), date(2026, 1, 31))):
            ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from pipelines.connectors._http import (
    DEFAULT_POLICY,
    ApiClient,
    BearerAuth,
    ClientStats,
    RetryPolicy,
)
from pipelines.connectors.errors import AuthError, MissingCredentialsError, PlanGateError
from pipelines.connectors.pacing import RateBudget, budget_for
from pipelines.connectors.paging import FieldOffsetPaging, OffsetPaging, PageShapeError

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONCURRENCY",
    "FIELD_TOKENS",
    "MAX_PAGE_SIZE",
    "RANGE_TOTAL_METRICS",
    "VemetricConnector",
    "api_key_from_env",
    "date_range",
]

API_KEY_ENV = "VEMETRIC_API_KEY"
DEFAULT_BASE_URL = "https://api.vemetric.com"
MAX_PAGE_SIZE = 1000  # every Vemetric `limit` is 1..1000
MAX_FIELDS = 25  # per /v1/filters/values request
# Users whose events are paged at once (each user's own pages stay one after another): enough
# to keep the server busy while the client parses and lands, few enough to buffer.
DEFAULT_CONCURRENCY = 3

# The 15 field tokens: every analytics grouping except `interval:auto` and `event:prop:*`,
# and the `fields` enum of /v1/filters/values (§7.2, §7.3).
FIELD_TOKENS = (
    "country", "city", "page:origin", "page:path", "browser", "deviceType", "os",
    "referrer", "referrerType", "utmCampaign", "utmContent", "utmMedium", "utmSource",
    "utmTerm", "event:name",
)  # fmt: skip

# What the range aggregate asks for: distinct users, pageviews and custom events.
RANGE_TOTAL_METRICS = ("users", "pageviews", "events")

# The four 401 messages (§2), each with what the operator should do about it.
AUTH_HINTS = {
    "Missing API key. Use Authorization: Bearer <key>": f"no key was sent; set {API_KEY_ENV}",
    "Malformed Authorization header. Use Bearer <key>": "the Authorization header is not "
    "'Bearer <key>'",
    "Invalid API key format": f"{API_KEY_ENV} is not a Vemetric API key (36 characters "
    "starting with vem_)",
    "Invalid or revoked API key": f"{API_KEY_ENV} is unknown to Vemetric or was revoked; "
    "create a new key in the project's settings",
}
PLAN_HINT = (
    "the project has no active subscription, so only the last 32 days can be read; "
    "choose a later start date"
)


def api_key_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The key from ``VEMETRIC_API_KEY``; called by the Dagster resource and the CLI only."""
    key = (os.environ if environ is None else environ).get(API_KEY_ENV, "").strip()
    if not key:
        raise MissingCredentialsError(f"{API_KEY_ENV} is not set: export a Vemetric API key")
    return key


def date_range(first: date, last: date) -> list[str]:
    """The API ``dateRange`` covering whole days ``first`` through ``last`` (UTC).

    The end is the next midnight: a date-only end would mean 23:59:59 *exclusive* and lose
    each range's final second (§5.1).
    """
    if last < first:
        raise ValueError(f"date range ends ({last}) before it starts ({first})")
    end = last + timedelta(days=1)
    return [f"{first.isoformat()}T00:00:00Z", f"{end.isoformat()}T00:00:00Z"]


class VemetricConnector:
    """Read one Vemetric project (the key's) through the shared client core.

    Listings are generators of pages (lists of dicts as the API sends them), so a sync can
    land each page before asking for the next. ``stats`` counts requests, retries and waits.
    ``concurrency`` is how many users' events a sync pages at once
    (:func:`pipelines.connectors.prefetch.read_ahead`); 1 pages one user at a time.
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        page_size: int = MAX_PAGE_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        owns_http: bool = False,
    ):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
        self.api = api
        self.page_size = page_size
        self.concurrency = concurrency
        self._owns_http = owns_http

    @classmethod
    def connect(
        cls,
        base_url: str,
        api_key: str,
        *,
        http: httpx.Client | None = None,
        page_size: int = MAX_PAGE_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = 30.0,
        budget: RateBudget | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
    ) -> VemetricConnector:
        """A connector for ``base_url``; builds its own ``httpx.Client`` unless given one.

        ``budget`` defaults to the process-wide one for this URL and key, so every asset
        and thread of a run shares the project's rate limit (the ``concurrency`` threads
        of one sync included).
        """
        owns = http is None
        client = http if http is not None else httpx.Client(timeout=timeout)
        api = ApiClient(
            client,
            base_url,
            auth=BearerAuth(api_key),
            budget=budget if budget is not None else budget_for(base_url, api_key),
            policy=policy,
        )
        return cls(api, page_size=page_size, concurrency=concurrency, owns_http=owns)

    def __repr__(self) -> str:
        return (
            f"VemetricConnector({self.api!r}, page_size={self.page_size}, "
            f"concurrency={self.concurrency})"
        )

    def __enter__(self) -> VemetricConnector:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client if the connector built it."""
        if self._owns_http:
            self.api.http.close()

    @property
    def stats(self) -> ClientStats:
        return self.api.stats

    def preflight(self, date_range: Sequence[str] | None = None) -> dict[str, Any]:
        """Check the key (``GET /v1/project``) and, given a range, that the plan allows it.

        Returns the project. A bad key raises :class:`AuthError` naming which of the four
        401s it is; a range beyond the plan's retention raises :class:`PlanGateError` (one
        aggregate analytics call, the cheapest request the plan gate applies to).
        """
        try:
            project = self.project()
        except AuthError as exc:
            raise exc.with_detail(AUTH_HINTS.get(exc.message, "check the API key")) from None
        if date_range is not None:
            try:
                self.range_totals(date_range)
            except PlanGateError as exc:
                raise exc.with_detail(PLAN_HINT) from None
        return project

    def project(self) -> dict[str, Any]:
        """The key's project (``GET /v1/project``)."""
        return self.api.request("GET", "/v1/project", expect=("project",))["project"]

    def funnels(self) -> list[dict[str, Any]]:
        """All of the project's funnels, oldest first (``GET /v1/funnels``, not paged)."""
        return self.api.request("GET", "/v1/funnels", expect=("funnels",))["funnels"]

    def range_totals(self, date_range: Sequence[str]) -> dict[str, int]:
        """Distinct users, pageviews and custom events in the range (one aggregate call)."""
        period, rows = next(self.analytics_pages(date_range, metrics=list(RANGE_TOTAL_METRICS)))
        return {name: int(rows[0]["metrics"][name]) for name in RANGE_TOTAL_METRICS}

    def user_pages(self, date_range: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
        """Pages of the users active in the range (``POST /v1/users``, default order)."""
        body = {"dateRange": list(date_range)}
        for _, users in self.api.paginate("POST", "/v1/users", self._offset("users"), json=body):
            yield users

    def user_event_pages(
        self, user_id: str, date_range: Sequence[str]
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of one user's events in the range, newest first (``POST /v1/users/events``)."""
        body = {"dateRange": list(date_range)}
        pages = self.api.paginate(
            "POST", "/v1/users/events", self._offset("events"), params={"id": user_id}, json=body
        )
        for _, events in pages:
            yield events

    def analytics_pages(
        self,
        date_range: Sequence[str],
        *,
        metrics: Sequence[str],
        group_by: str | None = None,
        order_by: Sequence[str] | None = None,
        filters: Sequence[Mapping[str, Any]] | None = None,
    ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """``(period, rows)`` pages of ``POST /v1/analytics/query``.

        Without ``group_by`` the answer is one aggregate row and one page; grouped queries
        are paged. ``order_by`` is one ``(field, "asc"|"desc")`` pair.
        """
        body: dict[str, Any] = {"dateRange": list(date_range), "metrics": list(metrics)}
        if group_by is not None:
            body["groupBy"] = [group_by]
        if order_by is not None:
            body["orderBy"] = [list(order_by)]
        if filters is not None:
            body["filters"] = [dict(f) for f in filters]
        if group_by is None:
            yield self._aggregate(body)
            return
        paging = self._offset("data")
        for page, rows in self.api.paginate(
            "POST", "/v1/analytics/query", paging, json=body, expect=("period",)
        ):
            yield page["period"], rows

    def funnel_results(
        self,
        funnel_id: str,
        date_range: Sequence[str],
        filters: Sequence[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The whole answer of ``POST /v1/funnels/{id}``: period, funnel and results."""
        body: dict[str, Any] = {"dateRange": list(date_range)}
        if filters is not None:
            body["filters"] = [dict(f) for f in filters]
        path = f"/v1/funnels/{quote(funnel_id, safe='')}"
        return self.api.request(
            "POST",
            path,
            json=body,
            expect=("period", "funnel", "results"),
            route="/v1/funnels/{id}",
        )

    def filter_value_pages(
        self, date_range: Sequence[str], fields: Sequence[str]
    ) -> Iterator[dict[str, list[str]]]:
        """Rounds of ``POST /v1/filters/values``: ``{field: values}`` for the fields still open.

        Each field pages on its own; a round asks again only for the fields whose previous
        page was full.
        """
        _check_fields(fields)
        body = {"dateRange": list(date_range), "fields": list(fields)}
        paging = FieldOffsetPaging(limit=self.page_size)
        for _, values in self.api.paginate("POST", "/v1/filters/values", paging, json=body):
            yield values

    def _offset(self, items_key: str) -> OffsetPaging:
        return OffsetPaging(
            items_key, limit=self.page_size, in_body=True, returned_path="pagination.returned"
        )

    def _aggregate(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        metrics = body["metrics"]
        return self.api.request(
            "POST",
            "/v1/analytics/query",
            json=body,
            expect=("period", "data"),
            check=lambda answer: _one_row(answer, metrics),
        )


def _one_row(
    answer: dict[str, Any], metrics: Sequence[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An aggregate answer holds exactly one row, with a number for every metric (§7.2)."""
    rows = answer["data"]
    if not (isinstance(rows, list) and len(rows) == 1 and isinstance(rows[0], dict)):
        raise PageShapeError(f"expected one aggregate row in 'data', got {str(rows)[:200]}")
    values = rows[0].get("metrics")
    numbers = isinstance(values, dict) and all(
        isinstance(values.get(m), (int, float)) and not isinstance(values.get(m), bool)
        for m in metrics
    )
    if not numbers:
        raise PageShapeError(f"expected numbers for {list(metrics)} in the aggregate row")
    return answer["period"], rows


def _check_fields(fields: Sequence[str]) -> None:
    unknown = [f for f in fields if f not in FIELD_TOKENS]
    if unknown:
        raise ValueError(f"unknown filter-value fields {unknown}; expected some of {FIELD_TOKENS}")
    if not fields or len(fields) > MAX_FIELDS or len(set(fields)) != len(fields):
        raise ValueError(f"fields must be 1..{MAX_FIELDS} distinct tokens, got {list(fields)}")
