"""The EngageTrack read API (``specs/peer-apis.md`` §2): endpoints, paginator, envelope, scopes.

Everything generic (retries, pacing on ``X-RateLimit-*`` with a Unix-timestamp reset, paging
loops, redaction, ``{"error": "..."}`` bodies) is in :mod:`pipelines.connectors._http`;
this module says what to call, that answers are ``{"success": true, "data": ...}``, that
lists page by number with a ``total``, and which scopes a sync needs.

Example::

    with EngageTrackConnector.connect(DEFAULT_BASE_URL, api_key_from_env(), "org_1") as et:
        report = et.preflight("site_1")          # every missing scope at once, or a warning
        for visitors in et.visitor_pages("site_1"):
            ...
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from pipelines.connectors._http import ApiClient, BearerAuth, ClientStats, RetryPolicy
from pipelines.connectors.errors import ApiError, AuthError, MissingCredentialsError, NotFoundError
from pipelines.connectors.pacing import RateBudget, budget_for
from pipelines.connectors.paging import PageNumberPaging, PageShapeError

__all__ = [
    "API_KEY_ENV", "DEFAULT_BASE_URL", "MAX_PAGE_SIZE", "NEEDED_SCOPES", "WRITE_SCOPES",
    "EngageTrackConnector", "MissingScopesError", "Preflight", "api_key_from_env",
]  # fmt: skip

API_KEY_ENV = "ENGAGETRACK_API_KEY"
DEFAULT_BASE_URL = "https://api.engagetrack.net/api/v1"
MAX_PAGE_SIZE = 100  # visitors and timelines: limit <= 100
BREAKDOWNS = {"pages": "path", "sources": "referrer_source", "channels": "channel",
              "devices": "device", "locations": "country"}
NEEDED_SCOPES = ("analytics:read", "sites:read", "funnels:read", "goals:read", "visitors:read",
                 "annotations:read")
WRITE_SCOPES = ("goals:write", "funnels:write", "annotations:write")
SCOPE_TEXT = "API key missing required scope: "

logger = logging.getLogger("pipelines.connectors.engagetrack")


class MissingScopesError(ApiError):
    """403: the key lacks scopes a sync needs; ``scopes`` lists every one of them."""

    scopes: tuple[str, ...] = ()


def api_key_from_env(environ: Mapping[str, str] | None = None) -> str:
    key = (os.environ if environ is None else environ).get(API_KEY_ENV, "").strip()
    if not key:
        raise MissingCredentialsError(f"{API_KEY_ENV} is not set: export an EngageTrack API key")
    return key


@dataclass(frozen=True)
class Preflight:
    """What the key may do: its organization's sites and the write scopes it needlessly holds."""

    sites: list[dict[str, Any]]
    unneeded_write_scopes: tuple[str, ...]


def _data(body: Any) -> Any:
    if body.get("success") is not True:
        raise PageShapeError(f"expected success: true, got {body.get('success')!r}")
    return body["data"]


class EngageTrackConnector:
    """Read one EngageTrack organization through the shared client core.

    Listings are generators of pages (lists of dicts as the API sends them).
    """

    def __init__(self, api: ApiClient, org_id: str, *, page_size: int = MAX_PAGE_SIZE,
                 owns_http: bool = False):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        self.api, self.org_id, self.page_size = api, org_id, page_size
        self._owns_http = owns_http

    @classmethod
    def connect(cls, base_url: str, api_key: str, org_id: str, *,
                http: httpx.Client | None = None, page_size: int = MAX_PAGE_SIZE,
                timeout: float = 30.0, budget: RateBudget | None = None,
                policy: RetryPolicy = RetryPolicy()) -> EngageTrackConnector:
        """A connector for ``base_url`` (the ``/api/v1`` root); builds its own client unless given."""
        owns = http is None
        client = http if http is not None else httpx.Client(timeout=timeout)
        api = ApiClient(client, base_url, auth=BearerAuth(api_key), policy=policy,
                        budget=budget if budget is not None else budget_for(base_url, api_key))
        return cls(api, org_id, page_size=page_size, owns_http=owns)

    def __repr__(self) -> str:
        return f"EngageTrackConnector({self.api!r}, org_id={self.org_id!r})"

    def __enter__(self) -> EngageTrackConnector:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self.api.http.close()

    @property
    def stats(self) -> ClientStats:
        return self.api.stats

    # --- paths -----------------------------------------------------------------------------

    def _org(self, rest: str = "") -> str:
        return f"/organizations/{quote(self.org_id, safe='')}{rest}"

    def _site(self, site_id: str, rest: str = "") -> str:
        return self._org(f"/sites/{quote(site_id, safe='')}{rest}")

    def _get(self, path: str, route: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.api.request("GET", path, params=params, expect=("success", "data"),
                                check=_data, route=route)

    def _pages(self, path: str, items: str, params: Mapping[str, Any] | None = None
               ) -> Iterator[tuple[dict[str, Any], list[Any]]]:
        paging = PageNumberPaging(items, page_size=self.page_size, total_path="total")
        yield from self.api.paginate("GET", path, paging, params=params, expect=("success",))

    # --- preflight -------------------------------------------------------------------------

    def preflight(self, site_id: str | None = None) -> Preflight:
        """Check the key can read everything a sync reads, naming every missing scope at once.

        One cheap read per scope (a 403 names the scope); then, with an invalid body that
        changes nothing, one probe per write scope: a key that may write gets 400 or 404 where
        one that may not gets 403. Write scopes the key holds are logged as a warning (a
        sync never writes: a leaked sync key should not be able to).
        """
        try:
            sites = self._probe(lambda: self.sites(), "sites:read")
        except AuthError as exc:
            raise exc.with_detail(f"{API_KEY_ENV} is unknown, revoked or expired; create a "
                                  "new key in Settings > API Keys") from None
        except NotFoundError as exc:
            # The first request of a run: a 404 here means the base URL, not a missing site.
            raise exc.with_detail(f"is {self.api.base_url} EngageTrack's API root? It ends in "
                                  f"/api/v1, e.g. {DEFAULT_BASE_URL}") from None
        site = site_id or (sites[0]["id"] if sites else None)
        missing = [] if sites is not None else ["sites:read"]
        if site is not None:
            for scope, probe in self._read_probes(site).items():
                if self._probe(probe, scope) is None:
                    missing.append(scope)
        if missing:
            raise _missing(self._org("/sites"), missing)
        unneeded = tuple(s for s, probe in self._write_probes(site).items() if self._allows(probe)) \
            if site else ()
        if unneeded:
            logger.warning("the EngageTrack key holds write scopes a sync does not need: %s; "
                           "create a read-only key", ", ".join(unneeded))
        return Preflight(sites or [], unneeded)

    def _read_probes(self, site: str) -> dict[str, Any]:
        return {
            "analytics:read": lambda: self.site_stats(site, period="day"),
            "funnels:read": lambda: self.funnels(site),
            "goals:read": lambda: self.goals(site),
            "visitors:read": lambda: next(self.api.paginate(
                "GET", self._site(site, "/visitors"),
                PageNumberPaging("data", page_size=1, max_pages=1), expect=("success",))),
            "annotations:read": lambda: self.annotations(site),
        }

    def _write_probes(self, site: str) -> dict[str, Any]:
        def send(method: str, path: str) -> Any:
            return lambda: self.api.request(method, self._site(site, path), json={},
                                            route=f"{method} probe {path}")
        return {"goals:write": send("PATCH", "/goals/__preflight__"),
                "funnels:write": send("POST", "/funnels"),
                "annotations:write": send("POST", "/annotations")}

    @staticmethod
    def _probe(call: Any, scope: str) -> Any:
        """The call's answer, or None when it was refused for lack of ``scope``."""
        try:
            return call()
        except ApiError as exc:
            if exc.status == 403 and exc.message == SCOPE_TEXT + scope:
                return None
            raise

    @staticmethod
    def _allows(call: Any) -> bool:
        try:
            call()
        except ApiError as exc:
            if exc.status == 403 and exc.message.startswith(SCOPE_TEXT):
                return False
            if exc.status in (400, 404):
                return True
            raise
        return True

    # --- reads -----------------------------------------------------------------------------

    def sites(self) -> list[dict[str, Any]]:
        return self._get(self._org("/sites"), "/organizations/{orgId}/sites")

    def site(self, site_id: str) -> dict[str, Any]:
        return self._get(self._site(site_id), "/organizations/{orgId}/sites/{siteId}")

    def site_stats(self, site_id: str, *, period: str = "custom", first: date | None = None,
              last: date | None = None, base: date | None = None) -> dict[str, Any]:
        """``analytics/stats`` for a period (``custom`` with ``first``..``last`` inclusive)."""
        return self._get(self._site(site_id, "/analytics/stats"),
                         "/organizations/{orgId}/sites/{siteId}/analytics/stats",
                         _period(period, first, last, base))

    def revenue(self, site_id: str, first: date, last: date) -> dict[str, Any]:
        return self._get(self._site(site_id, "/analytics/revenue"),
                         "/organizations/{orgId}/sites/{siteId}/analytics/revenue",
                         _period("custom", first, last))

    def breakdown_pages(self, site_id: str, name: str, first: date, last: date,
                        dimension: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of ``analytics/{name}`` (pages, sources, channels, devices, locations)."""
        if name not in BREAKDOWNS:
            raise ValueError(f"unknown breakdown {name!r}; expected one of {sorted(BREAKDOWNS)}")
        params = _period("custom", first, last) | ({"dimension": dimension} if dimension else {})
        for _, rows in self._pages(self._site(site_id, f"/analytics/{name}"), "data", params):
            yield rows

    def goals(self, site_id: str, include_archived: bool = False) -> list[dict[str, Any]]:
        params = {"include_archived": "true"} if include_archived else None
        return self._get(self._site(site_id, "/goals"), "/organizations/{orgId}/sites/{siteId}/goals",
                         params)

    def goal_stats(self, site_id: str, first: date, last: date) -> list[dict[str, Any]]:
        return self._get(self._site(site_id, "/goals/stats"),
                         "/organizations/{orgId}/sites/{siteId}/goals/stats",
                         _period("custom", first, last))

    def funnels(self, site_id: str) -> list[dict[str, Any]]:
        return self._get(self._site(site_id, "/funnels"),
                         "/organizations/{orgId}/sites/{siteId}/funnels")

    def analyze_funnel(self, site_id: str, funnel_id: str, first: date,
                       last: date) -> list[dict[str, Any]]:
        """One row per step: visitors, conversion and drop-off, revenue, top sources/countries."""
        path = self._site(site_id, f"/funnels/{quote(funnel_id, safe='')}/analyze")
        return self._get(path, "/organizations/{orgId}/sites/{siteId}/funnels/{funnelId}/analyze",
                         _period("custom", first, last))

    def annotations(self, site_id: str) -> list[dict[str, Any]]:
        return self._get(self._site(site_id, "/annotations"),
                         "/organizations/{orgId}/sites/{siteId}/annotations")

    def visitor_pages(self, site_id: str, search: str | None = None
                      ) -> Iterator[list[dict[str, Any]]]:
        """Pages of visitors, most recently seen first (stop early to read only recent ones)."""
        params = {"search": search} if search else None
        for _, visitors in self._pages(self._site(site_id, "/visitors"), "data", params):
            yield visitors

    def timeline_pages(self, site_id: str, visitor_id: str, first: date | None = None,
                       last: date | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of one visitor's events, newest first (within ``first``..``last`` if given)."""
        path = self._site(site_id, f"/visitors/{quote(visitor_id, safe='')}/timeline")
        params = {k: v.isoformat() for k, v in (("from", first), ("to", last)) if v is not None}
        for _, events in self._pages(path, "data.events", params or None):
            yield events


def _period(period: str, first: date | None = None, last: date | None = None,
            base: date | None = None) -> dict[str, str]:
    if period == "custom":
        if first is None or last is None:
            raise ValueError("a custom period needs first and last")
        if last < first:
            raise ValueError(f"period ends ({last}) before it starts ({first})")
        return {"period": "custom", "from": first.isoformat(), "to": last.isoformat()}
    return {"period": period, **({"date": base.isoformat()} if base else {})}


def _missing(endpoint: str, scopes: list[str]) -> MissingScopesError:
    error = MissingScopesError(
        endpoint, 403, "MISSING_SCOPES",
        f"API key missing required scope(s): {', '.join(scopes)}",
        detail="create a key with " + ", ".join(NEEDED_SCOPES))
    error.scopes = tuple(scopes)
    return error
