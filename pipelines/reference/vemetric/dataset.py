"""The dataset a Vemetric reference server serves, held in memory as polars frames.

The on-disk format (a JSON file, or a directory with parquet files) is fixed by
``specs/fixture-format.md``; :func:`load_dataset` reads either layout, validates every
field and refuses a bad file with a message naming the project and the field.

Frames are per project, with camelCase column names as in the fixture format:

``events``   one row per event (:data:`EVENT_SCHEMA`), sorted by ``createdAt``
``sessions`` one row per session (:data:`SESSION_SCHEMA`), given or derived from events
``users``    one row per user record (:data:`USER_SCHEMA`); anonymous visitors have none
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

TIMESTAMP = pl.Datetime("ms", "UTC")

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "userId": pl.String(),
    "sessionId": pl.String(),
    "name": pl.String(),
    "isPageView": pl.Boolean(),
    "createdAt": TIMESTAMP,
    "origin": pl.String(),
    "pathname": pl.String(),
    "urlHash": pl.String(),
    "countryCode": pl.String(),
    "city": pl.String(),
    "osName": pl.String(),
    "clientName": pl.String(),
    "deviceType": pl.String(),
    "userIdentifier": pl.String(),
    "userDisplayName": pl.String(),
    "referrer": pl.String(),
    "referrerUrl": pl.String(),
    "referrerType": pl.String(),
    "utmSource": pl.String(),
    "utmMedium": pl.String(),
    "utmCampaign": pl.String(),
    "utmContent": pl.String(),
    "utmTerm": pl.String(),
    # The event's properties as canonical JSON text (sorted keys, no spaces); "{}" when none.
    "customData": pl.String(),
}

SESSION_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "userId": pl.String(),
    "startedAt": TIMESTAMP,
    "endedAt": TIMESTAMP,
    "duration": pl.Int64(),
    "countryCode": pl.String(),
    "city": pl.String(),
    "referrer": pl.String(),
    "referrerUrl": pl.String(),
    "referrerType": pl.String(),
    "utmSource": pl.String(),
    "utmMedium": pl.String(),
    "utmCampaign": pl.String(),
    "utmContent": pl.String(),
    "utmTerm": pl.String(),
    "origin": pl.String(),
    "pathname": pl.String(),
    "urlHash": pl.String(),
    "deleted": pl.Boolean(),
}

USER_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "identifier": pl.String(),
    "displayName": pl.String(),
    # None or "" as given in the fixture.
    "avatarUrl": pl.String(),
    # The user's properties as canonical JSON text; "{}" when none.
    "data": pl.String(),
    "countryCode": pl.String(),
    "city": pl.String(),
    "createdAt": TIMESTAMP,
    "firstSeenAt": TIMESTAMP,
}


class DatasetError(ValueError):
    """A dataset file that cannot be served; the message names the project and the field."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    key_hash: str  # SHA-256 hex of the raw key; the raw key is never kept
    created_at: datetime
    revoked_at: datetime | None


@dataclass
class Project:
    id: str
    name: str
    domain: str
    token: str
    created_at: datetime
    first_event_at: datetime | None
    public_dashboard: bool
    excluded_ips: list[str]
    excluded_countries: list[str]
    subscription_active: bool
    api_keys: list[ApiKey]
    # Funnels as in the fixture (camelCase dicts: id, name, icon, steps, createdAt, updatedAt),
    # ordered by createdAt ascending.
    funnels: list[dict[str, Any]]
    events: pl.DataFrame
    sessions: pl.DataFrame
    users: pl.DataFrame
    # Lazily built indexes (e.g. events partitioned by user) live here, owned by the query code.
    cache: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Dataset:
    api: str
    now: datetime | None
    projects: dict[str, Project]

    def key_lookup(self) -> dict[str, tuple[Project, ApiKey]]:
        """Map each key's SHA-256 hex digest to its project and key record."""
        return {k.key_hash: (p, k) for p in self.projects.values() for k in p.api_keys}
