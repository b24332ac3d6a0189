"""A fake Vemetric connector serving fabricated pages in the API's shapes (vemetric-api.md §7).

Landing tests use it to exercise the warehouse side without a server; end-to-end tests use
the real reference app instead.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

FIELDS = (
    "country", "city", "page:origin", "page:path", "browser", "deviceType", "os", "referrer",
    "referrerType", "utmCampaign", "utmContent", "utmMedium", "utmSource", "utmTerm", "event:name",
)

PROJECT = {
    "id": "4232882524803099", "name": "Vemetric", "domain": "vemetric.com",
    "token": "project_token_123", "createdAt": "2026-02-07T12:00:00.000Z",
    "firstEventAt": "2026-02-07T12:30:00.000Z", "hasPublicDashboard": False,
    "excludedIps": ["127.0.0.1"], "excludedCountries": ["DE", "AT"],
}
FUNNEL = {
    "id": "550e8400-e29b-41d4-a716-446655440000", "name": "Signup Funnel", "icon": "rocket",
    "steps": [{"id": "step_1", "name": "Step 1",
               "filter": {"type": "page", "path": {"operator": "eq", "value": "/"}}}],
    "createdAt": "2026-02-07T12:00:00.000Z", "updatedAt": "2026-02-07T12:00:00.000Z",
}


def user(uid: str, last_seen: str, **extra: Any) -> dict:
    return {"id": uid, "identifier": f"user-{uid}", "displayName": None, "country": "US",
            "city": None, "lastSeenAt": last_seen, "lastEventFiredAt": None, "avatarUrl": None,
            "data": {"plan": "pro"}, "anonymous": False, **extra}


def event(at: str, name: str = "$$pageView", session: str = "s" * 21, **extra: Any) -> dict:
    page = name == "$$pageView"
    return {"sessionId": session, "name": name, "isPageView": page, "createdAt": at,
            "origin": "https://example.com", "path": "/" if page else "/signup", "hash": None,
            "data": {} if page else {"plan": "pro"}, **extra}


def metrics(users: int = 1, pageviews: int = 2, events: int = 1,
            bounce: float | None = 50.0, duration: float | None = 30.0) -> dict:
    return {"users": users, "pageviews": pageviews, "events": events, "bounceRate": bounce,
            "visitDuration": duration}


METRICS = metrics()


@dataclass
class FakeConnector:
    """Pages per user; every analytics grouping answers one row; records each call."""

    users: list[dict]
    events: dict[str, list[dict]]
    page_size: int = 2
    calls: list[tuple] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)

    stats: Any = None

    def preflight(self, date_range=None) -> dict:
        self.calls.append(("preflight",))
        return self.project()

    def project(self) -> dict:
        self.calls.append(("project",))
        return copy.deepcopy(self.overrides.get("project", PROJECT))

    def funnels(self) -> list[dict]:
        self.calls.append(("funnels",))
        return copy.deepcopy(self.overrides.get("funnels", [FUNNEL]))

    def _pages(self, rows: list[dict]) -> Iterator[list[dict]]:
        for offset in range(0, len(rows) + 1, self.page_size):
            page = rows[offset:offset + self.page_size]
            yield copy.deepcopy(page)
            if len(page) < self.page_size:
                return

    def user_pages(self, date_range: list[str]) -> Iterator[list[dict]]:
        self.calls.append(("users", tuple(date_range)))
        return self._pages(self.users)

    def user_event_pages(self, user_id: str, date_range: list[str]) -> Iterator[list[dict]]:
        self.calls.append(("user_events", user_id, tuple(date_range)))
        return self._pages(self.events.get(user_id, []))

    def analytics_pages(self, date_range, *, metrics, group_by=None):
        self.calls.append(("analytics", tuple(date_range), group_by))
        period = {"from": date_range[0], "to": date_range[1]}
        key = "date" if group_by == "interval:auto" else group_by
        group = {} if key is None else {key: date_range[0] if key == "date" else "x"}
        row = self.overrides.get(("analytics", group_by), {"group": group, "metrics": METRICS})
        yield period, [copy.deepcopy(row)]

    def funnel_results(self, funnel_id, date_range, filters=None) -> dict:
        self.calls.append(("funnel_results", funnel_id, tuple(date_range)))
        return {"period": {"from": date_range[0], "to": date_range[1]}, "funnel": FUNNEL,
                "results": {"activeUsers": 3, "conversionRate": 50.0,
                            "activeUserConversionRate": 33.33,
                            "steps": [{"id": "step_1", "name": "Step 1", "users": 2,
                                       "conversionRate": 100}]}}

    def filter_value_pages(self, date_range, fields) -> Iterator[dict[str, list[str]]]:
        self.calls.append(("filter_values", tuple(date_range)))
        yield {f: ["a", "b"] for f in fields}
        yield {f: ["c"] for f in fields}


def raw_tables(path) -> dict[str, list[tuple]]:
    """Every raw_vemetric table's rows in a stable order, without the run's own timestamps."""
    from pipelines import raw_vemetric, warehouse

    with warehouse.writer(path) as conn:
        return {
            table: sorted(conn.execute(
                f"select * exclude ({'quarantined_at' if table == '_quarantine' else 'synced_at'}) "
                f"from raw_vemetric.{table}").fetchall(), key=repr)
            for table in raw_vemetric.TABLES
        }
