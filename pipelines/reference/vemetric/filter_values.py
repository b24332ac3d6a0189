"""``POST /v1/filters/values``: the distinct values a filter field can take (spec §7.3).

Value sources, as in Vemetric's ``getFilterableData``:

- ``event:name``: custom events with ``createdAt`` in the period;
- page, browser, device and OS fields: pageviews with ``createdAt >= start`` and **no end bound**
  (a quirk of the source query);
- referrer*, utm*, country and city: non-deleted sessions with ``startedAt`` in the period.

Empty values are dropped; values sort like ``localeCompare``, event names by display name and
countries by English name (unknown codes dropped). Limit and offset apply to each field.
"""

from __future__ import annotations

import polars as pl

from pipelines.reference.vemetric.collation import collation_key
from pipelines.reference.vemetric.countries import COUNTRY_NAMES
from pipelines.reference.vemetric.dataset import Project
from pipelines.reference.vemetric.store import Period, events_between, events_in, sessions_in

PAGEVIEW_FIELDS = {
    "page:path": "pathname",
    "page:origin": "origin",
    "browser": "clientName",
    "deviceType": "deviceType",
    "os": "osName",
}
SESSION_FIELDS = {
    "referrer": "referrer",
    "referrerType": "referrerType",
    "utmCampaign": "utmCampaign",
    "utmContent": "utmContent",
    "utmMedium": "utmMedium",
    "utmSource": "utmSource",
    "utmTerm": "utmTerm",
    "country": "countryCode",
    "city": "city",
}
# Vemetric's display names for its system events (getEventName).
EVENT_DISPLAY_NAMES = {"$$outboundLink": "Outbound Link", "$$pageView": "Page View"}


def filter_values(
    project: Project, period: Period, *, fields: list[str], limit: int, offset: int
) -> list[dict]:
    """``[{"field", "pagination": {"limit", "offset", "returned"}, "values"}]`` in field order."""
    data = []
    for field in fields:
        values = sorted_values(project, period, field)[offset : offset + limit]
        pagination = {"limit": limit, "offset": offset, "returned": len(values)}
        data.append({"field": field, "pagination": pagination, "values": values})
    return data


def sorted_values(project: Project, period: Period, field: str) -> list[str]:
    """Every value of one field, sorted as Vemetric returns them."""
    if field == "event:name":
        names = _distinct(events_in(project, period).filter(~pl.col("isPageView")), "name")
        return sorted(names, key=lambda n: collation_key(EVENT_DISPLAY_NAMES.get(n, n)))
    if field in PAGEVIEW_FIELDS:
        pageviews = events_between(project, period.start, None).filter(pl.col("isPageView"))
        return sorted(_distinct(pageviews, PAGEVIEW_FIELDS[field]), key=collation_key)
    if field not in SESSION_FIELDS:
        raise ValueError(f"unknown filter-values field {field!r}")
    values = _distinct(sessions_in(project, period), SESSION_FIELDS[field])
    if field == "country":
        known = [code for code in values if code in COUNTRY_NAMES]
        return sorted(known, key=lambda code: collation_key(COUNTRY_NAMES[code]))
    return sorted(values, key=collation_key)


def _distinct(frame: pl.DataFrame, column: str) -> list[str]:
    values = frame.select(pl.col(column).unique())[column]
    return [v for v in values.to_list() if v]
