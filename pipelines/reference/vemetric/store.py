"""Fast access to a project's frames for the query engine: date ranges, properties, per-user index.

Everything derived is built lazily, once per project, and kept in ``project.cache`` (keys start
with ``"queries:"``), so a request slices prepared frames instead of scanning a million rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import polars as pl

from pipelines.reference.vemetric.dataset import TIMESTAMP, Project

INTERVALS = ("thirty_seconds", "ten_minutes", "hourly", "daily", "weekly", "monthly")
API_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"
# Row position in the loaded file; breaks ties between events of the same millisecond.
ROW = "_row"
# Epoch seconds: Vemetric's funnels compare `toDateTime(createdAt)`, i.e. whole seconds.
SECOND = "_second"
# Dense integer codes of userId / sessionId: counting and grouping integers is much faster.
USER_CODE = "_user"
SESSION_CODE = "_session"


@dataclass(frozen=True)
class Period:
    """A resolved date range: ``start <= createdAt < end`` (no upper bound when ``end`` is None).

    >>> Period(start=datetime(2026, 1, 19, tzinfo=UTC), end=None, interval="daily")
    """

    start: datetime  # inclusive, UTC-aware
    end: datetime | None  # exclusive, UTC-aware; None for presets (no upper bound)
    interval: str  # one of INTERVALS, used by the interval:auto grouping


def in_range(column: str, start: datetime, end: datetime | None) -> pl.Expr:
    """``column >= start AND column < end`` (the end only when given)."""
    expr = pl.col(column) >= pl.lit(start).cast(TIMESTAMP)
    if end is not None:
        expr = expr & (pl.col(column) < pl.lit(end).cast(TIMESTAMP))
    return expr


def all_events(project: Project) -> pl.DataFrame:
    """The project's events sorted by createdAt, with the row and whole-second columns."""
    cached = project.cache.get("queries:events")
    if cached is None:
        events = project.events.with_row_index(ROW)
        if not events["createdAt"].is_sorted():
            events = events.sort("createdAt", maintain_order=True)
        cached = events.with_columns(
            (pl.col("createdAt").dt.epoch("ms") // 1000).alias(SECOND),
            pl.col("userId").rank("dense").cast(pl.UInt32).alias(USER_CODE),
            pl.col("sessionId").rank("dense").cast(pl.UInt32).alias(SESSION_CODE),
        )
        project.cache["queries:events"] = cached
    return cached


def prepare(project: Project) -> None:
    """Build the caches a first request would otherwise build (call once at server start)."""
    all_events(project)
    user_index(project)
    user_event_json(project)


def events_between(
    project: Project, start: datetime, end: datetime | None, properties: Iterable[str] = ()
) -> pl.DataFrame:
    """Events with ``start <= createdAt < end``, plus a column per requested property.

    The frame is sorted by createdAt, so the range is two binary searches and a slice.
    """
    events = all_events(project)
    wanted = sorted(set(properties))
    if wanted:
        events = events.with_columns([property_values(project, name) for name in wanted])
    created = events["createdAt"]
    low = created.search_sorted(start, side="left")
    high = len(created) if end is None else created.search_sorted(end, side="left")
    return events.slice(low, max(high - low, 0))


def events_in(project: Project, period: Period, properties: Iterable[str] = ()) -> pl.DataFrame:
    return events_between(project, period.start, period.end, properties)


def sessions_in(project: Project, period: Period) -> pl.DataFrame:
    """Non-deleted sessions whose ``startedAt`` lies in the period."""
    return project.sessions.filter(
        in_range("startedAt", period.start, period.end) & ~pl.col("deleted")
    )


def property_column(name: str) -> str:
    """Column name under which a customData property's string value is held."""
    return f"_property:{name}"


def property_values(project: Project, name: str) -> pl.Series:
    """``JSONExtractString(customData, name)`` for every event, aligned with :func:`all_events`."""
    key = f"queries:property:{name}"
    cached = project.cache.get(key)
    if cached is None:
        cached = extract_property(all_events(project)["customData"], name)
        project.cache[key] = cached
    return cached


def extract_property(custom_data: pl.Series, name: str) -> pl.Series:
    """Read one property like ClickHouse ``JSONExtractString``: strings only, else ``""``.

    Parsed once per distinct customData text, so a million events cost only their distinct values.
    """
    distinct = custom_data.unique().to_list()
    mapping = {text: _json_string(text, name) for text in distinct if text is not None}
    return custom_data.replace_strict(mapping, default="", return_dtype=pl.String).alias(
        property_column(name)
    )


def _json_string(text: str, name: str) -> str:
    if text == "{}":
        return ""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return ""
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


def user_index(project: Project) -> tuple[pl.DataFrame, dict[str, tuple[int, int]]]:
    """Events ordered by (userId, createdAt desc) and userId -> (offset, length) into that frame.

    Ties on createdAt put the later file row first, so "the latest event" is the same row
    everywhere (users list, single user, user events).
    """
    cached = project.cache.get("queries:by_user")
    if cached is None:
        ordered = all_events(project).sort(
            ["userId", "createdAt", ROW], descending=[False, True, True]
        )
        counts = ordered.group_by("userId", maintain_order=True).len()
        offsets = counts["len"].cum_sum() - counts["len"]
        spans = dict(zip(counts["userId"], zip(offsets.to_list(), counts["len"].to_list())))
        cached = (ordered, spans)
        project.cache["queries:by_user"] = cached
    return cached


def user_events_frame(project: Project, user_id: str) -> pl.DataFrame:
    """All events of one user, latest first (a slice of :func:`user_index`)."""
    ordered, spans = user_index(project)
    offset, length = spans.get(user_id, (0, 0))
    return ordered.slice(offset, length)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def epoch_ms(moment: datetime) -> int:
    """``moment`` in TIMESTAMP's unit, as ``pl.lit(moment).cast(TIMESTAMP)`` (floors, too)."""
    return (moment - EPOCH) // MILLISECOND


EVENT_FIELDS = ("sessionId", "name", "isPageView", "createdAt", "origin", "path", "hash", "data")


def event_row(row: dict[str, Any]) -> dict[str, Any]:
    """One ``/v1/users/events`` item from a row of :func:`rendered_events`: ``customData``
    text becomes the ``data`` object (``{}`` when empty)."""
    text = row.pop("customData")
    row["data"] = orjson.loads(text) if text else {}
    return row


def rendered_events(events: pl.DataFrame) -> pl.DataFrame:
    """``events`` as the API shows them: timestamp text, ``""`` -> null, ``customData`` last."""
    return events.select(
        "sessionId",
        "name",
        "isPageView",
        pl.col("createdAt").dt.strftime(API_TIMESTAMP),
        pl.col("origin").replace("", None),
        pl.col("pathname").replace("", None).alias("path"),
        pl.col("urlHash").replace("", None).alias("hash"),
        "customData",
    )


@dataclass(frozen=True)
class EventJson:
    """Every event of a project serialised once, in :func:`user_index`'s order.

    Row ``i`` is ``text[bounds[i]:bounds[i + 1] - 1]`` (each row is followed by a comma),
    the bytes ``orjson.dumps`` gives for its :func:`event_row`; consecutive rows of one user
    are therefore one slice. ``negated_ms`` is ``-createdAt`` in epoch ms: ascending within
    each user's span, whose events are latest first.
    """

    negated_ms: np.ndarray
    bounds: np.ndarray
    text: bytes

    def rows(self, first: int, count: int) -> bytes:
        """Rows ``first .. first + count - 1`` as the inside of a JSON array."""
        if count <= 0:
            return b""
        return self.text[self.bounds[first] : self.bounds[first + count] - 1]


def user_event_json(project: Project) -> EventJson:
    """:func:`user_index`'s order, ready to answer an unfiltered ``/v1/users/events`` page.

    ``/v1/users/events`` is the one request a sync makes per user, so everything a page
    needs is done once for every event at start: the rendering (timestamp text, ``""`` ->
    null) and the JSON encoding. A request only locates its rows (binary searches in
    ``negated_ms``) and copies one slice of bytes.
    """
    cached = project.cache.get("queries:user_event_json")
    if cached is None:
        ordered, _ = user_index(project)
        negated = -ordered["createdAt"].dt.epoch("ms").to_numpy()
        parts: list[bytes] = []
        bounds = np.zeros(ordered.height + 1, dtype=np.int64)
        at = 0
        for chunk in rendered_events(ordered).iter_slices(50_000):
            # orjson output for one row, comma appended; sizes are the row's byte bounds.
            encoded = [orjson.dumps(event_row(row)) + b"," for row in chunk.iter_rows(named=True)]
            bounds[at + 1 : at + 1 + len(encoded)] = [len(row) for row in encoded]
            at += len(encoded)
            parts.append(b"".join(encoded))
        np.cumsum(bounds, out=bounds)
        cached = EventJson(negated, bounds, b"".join(parts))
        project.cache["queries:user_event_json"] = cached
    return cached


def bucket(column: str, interval: str) -> pl.Expr:
    """Start of the interval bucket holding ``column``, as Vemetric's ``toStartOf…`` functions."""
    col = pl.col(column)
    if interval == "weekly":
        # ClickHouse toStartOfWeek default mode starts weeks on Sunday; polars on Monday.
        day = timedelta(days=1)
        return (col + day).dt.truncate("1w") - day
    every = {
        "thirty_seconds": "30s",
        "ten_minutes": "10m",
        "hourly": "1h",
        "daily": "1d",
        "monthly": "1mo",
    }
    if interval not in every:
        raise ValueError(f"unknown interval {interval!r}; expected one of {', '.join(INTERVALS)}")
    return col.dt.truncate(every[interval])
