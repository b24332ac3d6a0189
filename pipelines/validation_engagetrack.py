"""pandera (polars) models for every ``raw_engagetrack`` table.

The same contract as :mod:`pipelines.validation` for Vemetric (and validated through its
:func:`~pipelines.validation.split_valid` with ``models=MODELS, windowed=WINDOWED``): a page
without the API's shape fails the run before this; these models check the values of
well-formed rows, and every failing row is quarantined in ``raw_engagetrack._quarantine``.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from pipelines.validation import UTC_MS, StrictModel

__all__ = ["MODELS", "WINDOWED"]

_ID = {"str_length": {"min_value": 1}}
_PERCENT = {"in_range": {"min_value": 0, "max_value": 100}}
STEP_TYPES = ("pageview", "custom_event")
MATCH_TYPES = ("exact", "contains", "starts_with", "ends_with", "regex")
# The column each breakdown's rows are named by (GET analytics/{breakdown}[?dimension=]).
BREAKDOWN_DIMENSIONS = {"pages": ("path",), "sources": ("source",), "channels": ("channel",),
                        "devices": ("device", "browser", "os"), "locations": ("country", "city")}


class Sites(StrictModel):
    id: str = pa.Field(unique=True, **_ID)
    name: str
    domain: str
    timezone: str = pa.Field(str_length={"min_value": 1})
    public_id: str
    created_at: UTC_MS


class Goals(StrictModel):
    site_id: str = pa.Field(**_ID)
    id: str = pa.Field(unique=True, **_ID)
    name: str
    type: str = pa.Field(isin=list(STEP_TYPES))
    pattern: str = pa.Field(str_length={"min_value": 1})
    match_type: str = pa.Field(isin=list(MATCH_TYPES))
    archived: bool
    created_at: UTC_MS


class Funnels(StrictModel):
    site_id: str = pa.Field(**_ID)
    id: str = pa.Field(unique=True, **_ID)
    name: str
    description: str
    steps: str = pa.Field(str_matches=r"^\[\{.*\}\]$")  # at least one step object
    created_at: UTC_MS
    updated_at: UTC_MS


class Annotations(StrictModel):
    site_id: str = pa.Field(**_ID)
    id: str = pa.Field(unique=True, **_ID)
    date: str = pa.Field(str_matches=r"^\d{4}-\d{2}-\d{2}$")
    text: str
    created_at: UTC_MS


class Visitors(StrictModel):
    site_id: str = pa.Field(**_ID)
    id: str = pa.Field(unique=True, **_ID)
    uid: str
    email: str = pa.Field(nullable=True)
    name: str = pa.Field(nullable=True)
    avatar_url: str = pa.Field(nullable=True)
    external_id: str = pa.Field(nullable=True)
    first_seen_at: UTC_MS
    last_seen_at: UTC_MS
    total_sessions: int = pa.Field(ge=0)
    total_pageviews: int = pa.Field(ge=0)
    total_goals: int = pa.Field(ge=0)
    total_revenue: float = pa.Field(ge=0)
    last_country: str = pa.Field(nullable=True)
    last_browser: str = pa.Field(nullable=True)
    last_os: str = pa.Field(nullable=True)
    last_device: str = pa.Field(nullable=True)
    last_referrer_source: str = pa.Field(nullable=True)


class TimelineEvents(StrictModel):
    site_id: str = pa.Field(**_ID)
    visitor_id: str = pa.Field(**_ID)
    event_id: str = pa.Field(**_ID)
    session_id: str = pa.Field(**_ID)
    type: str = pa.Field(str_length={"min_value": 1})  # pageview, or a custom type (purchase, click, ...)
    name: str
    timestamp: UTC_MS
    path: str
    title: str
    referrer: str
    referrer_source: str
    channel: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    country: str
    city: str
    browser: str
    os: str
    device: str
    revenue: float = pa.Field(ge=0)
    currency: str
    properties: str = pa.Field(str_matches=r"^\{.*\}$")
    partition_date: pl.Date


class Stats(StrictModel):
    visitors: int = pa.Field(ge=0)
    sessions: int = pa.Field(ge=0)
    pageviews: int = pa.Field(ge=0)
    events: int = pa.Field(ge=0)
    bounce_rate: float = pa.Field(**_PERCENT)
    avg_session_duration: float = pa.Field(ge=0)
    views_per_session: float = pa.Field(ge=0)


class Breakdowns(StrictModel):
    breakdown: str = pa.Field(isin=list(BREAKDOWN_DIMENSIONS))
    dimension: str = pa.Field(isin=sorted({d for ds in BREAKDOWN_DIMENSIONS.values() for d in ds}))
    position: int = pa.Field(ge=0)
    value: str
    visitors: int = pa.Field(ge=0)
    sessions: int = pa.Field(ge=0)
    pageviews: int = pa.Field(ge=0)


class Revenue(StrictModel):
    total_revenue: float = pa.Field(ge=0)
    orders: int = pa.Field(ge=0)
    paying_visitors: int = pa.Field(ge=0)
    average_order_value: float = pa.Field(ge=0)
    currency: str


class GoalStats(StrictModel):
    goal_id: str = pa.Field(**_ID)
    name: str
    completions: int = pa.Field(ge=0)
    visitors: int = pa.Field(ge=0)
    conversion_rate: float = pa.Field(**_PERCENT)
    revenue: float = pa.Field(ge=0)


class FunnelAnalyses(StrictModel):
    funnel_id: str = pa.Field(**_ID)
    step_id: str = pa.Field(**_ID)
    name: str
    order: int = pa.Field(ge=1)
    visitors: int = pa.Field(ge=0)
    conversion_rate: float = pa.Field(**_PERCENT)
    dropoff_rate: float = pa.Field(**_PERCENT)
    revenue: float = pa.Field(ge=0)
    top_sources: str = pa.Field(str_matches=r"^\[.*\]$")
    top_countries: str = pa.Field(str_matches=r"^\[.*\]$")


MODELS: dict[str, type[pa.DataFrameModel]] = {
    "sites": Sites,
    "goals": Goals,
    "funnels": Funnels,
    "annotations": Annotations,
    "visitors": Visitors,
    "timeline_events": TimelineEvents,
    "stats": Stats,
    "breakdowns": Breakdowns,
    "revenue": Revenue,
    "goal_stats": GoalStats,
    "funnel_analyses": FunnelAnalyses,
}

# Per table, the timestamp columns that must fall inside the run's window [start, end).
WINDOWED = {"timeline_events": ("timestamp",)}
