"""Small in-memory Vemetric projects for the query-engine tests, built from a few dict rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from pipelines.reference.clock import parse_utc
from pipelines.reference.vemetric.dataset import (
    EVENT_SCHEMA,
    SESSION_SCHEMA,
    USER_SCHEMA,
    Project,
    canonical_json,
    derive_sessions,
)
from pipelines.reference.vemetric.queries import Period

_JSON_COLUMNS = {"customData", "data"}


def at(text: str) -> datetime:
    """``"2026-01-19T09:00:00Z"`` (or with milliseconds) as an aware UTC datetime."""
    return parse_utc(text)


def period(start: str, end: str | None = None, interval: str = "daily") -> Period:
    return Period(start=at(start), end=at(end) if end else None, interval=interval)


def event(user: str, when: str, name: str = "$$pageView", **fields: Any) -> dict[str, Any]:
    """An event row; ``isPageView`` follows the name unless given, sessions default per user."""
    row = {"userId": user, "createdAt": when, "name": name, "sessionId": f"s-{user}"}
    row["isPageView"] = name == "$$pageView"
    return row | fields


def _frame(rows: list[dict[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    filled = []
    for row in rows:
        full: dict[str, Any] = {}
        for column, dtype in schema.items():
            value = row.get(column)
            if column in _JSON_COLUMNS:
                value = canonical_json(value if value is not None else {})
            elif dtype == pl.Datetime("ms", "UTC") and isinstance(value, str):
                value = at(value)
            elif value is None and dtype == pl.String() and column != "avatarUrl":
                value = ""
            elif value is None and dtype == pl.Boolean():
                value = False
            full[column] = value
        filled.append(full)
    return pl.DataFrame(filled, schema=schema, orient="row") if filled else pl.DataFrame(schema=schema)


def make_project(
    events: list[dict[str, Any]],
    sessions: list[dict[str, Any]] | None = None,
    users: list[dict[str, Any]] | None = None,
    funnels: list[dict[str, Any]] | None = None,
) -> Project:
    """A project holding these rows; sessions are derived from events when not given."""
    event_frame = _frame(events, EVENT_SCHEMA).sort("createdAt", maintain_order=True)
    session_frame = (
        derive_sessions(event_frame) if sessions is None else _frame(sessions, SESSION_SCHEMA)
    )
    return Project(
        id="1",
        name="Test",
        domain="example.com",
        token="token",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        first_event_at=None,
        public_dashboard=False,
        excluded_ips=[],
        excluded_countries=[],
        subscription_active=True,
        api_keys=[],
        funnels=funnels or [],
        events=event_frame,
        sessions=session_frame,
        users=_frame(users or [], USER_SCHEMA),
    )


def page_step(step_id: str, path: str | None = None, name: str = "") -> dict[str, Any]:
    step_filter: dict[str, Any] = {"type": "page"}
    if path is not None:
        step_filter["path"] = {"operator": "eq", "value": path}
    return {"id": step_id, "name": name, "filter": step_filter}


def event_step(step_id: str, event_name: str | None = None, name: str = "", **extra: Any) -> dict:
    step_filter: dict[str, Any] = {"type": "event", **extra}
    if event_name is not None:
        step_filter["name"] = {"operator": "eq", "value": event_name}
    return {"id": step_id, "name": name, "filter": step_filter}


# The shared sample: four visitors on 2026-01-19 (SAMPLE_PERIOD), one event just after it.
SAMPLE_PERIOD = period("2026-01-19T00:00:00Z", "2026-01-20T00:00:00Z", "hourly")

_U1 = dict(
    clientName="Chrome", deviceType="desktop", osName="macOS", countryCode="US", city="New York",
    userIdentifier="user-1", userDisplayName="Alice A.", referrer="Google", referrerType="search",
    utmSource="google", utmMedium="cpc", origin="https://example.com", sessionId="s1",
)
_U2 = dict(
    clientName="Firefox", deviceType="mobile", osName="Windows", countryCode="DE", city="",
    referrer="", referrerType="direct", origin="https://example.com", sessionId="s2",
)
_U3 = dict(
    clientName="Safari", deviceType="tablet", osName="iOS", countryCode="US", city="San Francisco",
    userIdentifier="user-3", userDisplayName="Charlie", referrer="Bing", referrerType="search",
    utmSource="bing", origin="https://shop.example.com", sessionId="s3",
)
_U10 = dict(
    clientName="Chrome", deviceType="desktop", osName="Windows", countryCode="DE", city="Berlin",
    userIdentifier="user-4", userDisplayName="Dora", referrer="Newsletter", referrerType="email",
    utmSource="newsletter", utmMedium="email", origin="https://example.com", sessionId="s4",
)


def sample_events() -> list[dict[str, Any]]:
    return [
        event("1", "2026-01-19T09:00:00Z", pathname="/", **_U1),
        event("1", "2026-01-19T09:05:00Z", pathname="/pricing", urlHash="#plans", **_U1),
        event("1", "2026-01-19T09:06:00Z", "signup", pathname="/pricing", customData={"plan": "pro"}, **_U1),
        event("1", "2026-01-19T09:07:00.900Z", "click", pathname="/pricing", **_U1),
        event("2", "2026-01-19T10:00:00Z", pathname="/features", **_U2),
        event("2", "2026-01-19T10:02:00Z", "click", pathname="/features", customData={"plan": 5}, **_U2),
        event("3", "2026-01-19T11:00:00Z", pathname="/", **_U3),
        event("3", "2026-01-19T11:20:00Z", "purchase", pathname="/", customData={"plan": "starter"}, **_U3),
        event("10", "2026-01-19T12:00:00Z", pathname="/", **_U10),
        event("10", "2026-01-20T00:00:00Z", pathname="/features", **(_U10 | {"sessionId": "s5"})),
    ]


SAMPLE_USERS = [
    {"id": "1", "identifier": "user-1", "displayName": "Alice", "avatarUrl": "https://a.example/1.png",
     "data": {"plan": "pro"}, "countryCode": "", "city": "New York"},
    {"id": "3", "identifier": "user-3", "displayName": "", "avatarUrl": "", "data": {}},
    {"id": "9", "identifier": "user-9", "displayName": "Nine", "avatarUrl": None,
     "countryCode": "FR", "city": "Paris"},
]

SAMPLE_FUNNEL = {
    "id": "f1",
    "name": "Signup",
    "icon": None,
    "steps": [page_step("home", "/"), event_step("signed", "signup", name="Signed up")],
}


def sample_project() -> Project:
    """Sessions derived: s1 420 s, s2 120 s, s3 1200 s, s4 0 s (one event), s5 next day."""
    return make_project(sample_events(), users=SAMPLE_USERS, funnels=[SAMPLE_FUNNEL])
