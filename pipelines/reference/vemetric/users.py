"""Users list, single user and a user's events (spec §7.6–§7.8).

Field rules follow Vemetric's route code: strings come back ``null`` when empty (``avatarUrl``
too, whether the fixture holds ``null`` or ``""``), the country also loses NUL bytes and
surrounding spaces, ``data`` defaults to ``{}``, timestamps are truncated to the second.
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
import polars as pl

from pipelines.reference.vemetric.conditions import (
    all_of,
    any_of,
    event_condition,
    event_properties,
    row_condition,
)
from pipelines.reference.vemetric.dataset import Project
from pipelines.reference.vemetric.filters import cohort, restrict
from pipelines.reference.vemetric.store import (
    API_TIMESTAMP,
    Period,
    epoch_ms,
    event_row,
    events_in,
    extract_property,
    in_range,
    rendered_events,
    user_event_json,
    user_events_frame,
    user_index,
)

# users orderBy field -> column of the per-user frame (ClickHouse compares strings bytewise).
SORT_COLUMNS = {
    "lastSeenAt": "lastSeenAt",
    "displayName": "userDisplayName",
    "identifier": "userIdentifier",
    "country": "countryCode",
}
LATEST_FIELDS = ("userIdentifier", "userDisplayName", "countryCode", "city")
# project.cache key of the sorted users lists kept, and how many request shapes are kept.
SORTED_USERS = "queries:sorted_users"
SORTED_USERS_KEPT = 8
_SORTED_USERS_LOCK = threading.Lock()


def list_users(
    project: Project,
    period: Period,
    *,
    filters: list[dict],
    filters_operator: str,
    order_by: list,
    limit: int,
    offset: int,
) -> list[dict]:
    """The ``users`` array: users with events in the period (and in the cohort), one page."""
    ordered, by_event = _sorted_users(project, period, filters, filters_operator, order_by)
    page = ordered.slice(offset, limit)
    return [_list_row(project, row, by_event) for row in page.iter_rows(named=True)]


def _sorted_users(
    project: Project, period: Period, filters: list[dict], filters_operator: str, order_by: list
) -> tuple[pl.DataFrame, bool]:
    """Every listed user in list order, and whether ``lastEventFiredAt`` is filled.

    A sync pages through one list a thousand users at a time, and grouping and sorting every
    user again for each page cost 0.4 s a page at 1M events; the dataset never changes, so
    the sorted list of the last few request shapes is kept.
    """
    key = _list_key(period, filters, filters_operator, order_by)
    kept = project.cache.setdefault(SORTED_USERS, {})
    found = kept.get(key) if key is not None else None
    if found is not None:
        return found
    events = restrict(events_in(project, period), cohort(project, period, filters, filters_operator))
    latest = events.group_by("userId").agg(
        *(pl.col(f).last() for f in LATEST_FIELDS), pl.col("createdAt").max().alias("lastSeenAt")
    )
    by_event = _event_sort_filter(order_by)
    if by_event is not None:
        latest = latest.join(_last_fired(project, period, by_event), on="userId", how="left")
        primary = "lastEventFiredAt"
    else:
        primary = SORT_COLUMNS[order_by[0]] if order_by[0] in SORT_COLUMNS else "lastSeenAt"
    found = (_sorted_by(latest, primary, order_by[1] == "desc"), by_event is not None)
    if key is not None:
        with _SORTED_USERS_LOCK:  # list requests run on worker threads
            while len(kept) >= SORTED_USERS_KEPT:
                kept.pop(next(iter(kept)))
            kept[key] = found
    return found


def _list_key(
    period: Period, filters: list[dict], filters_operator: str, order_by: list
) -> tuple | None:
    """What a users list depends on besides the (immutable) dataset; None if not encodable."""
    try:
        return (period.start, period.end, orjson.dumps(filters), filters_operator,
                orjson.dumps(order_by))
    except TypeError:  # an integer past 64 bits in a filter: not worth keeping
        return None


def _event_sort_filter(order_by: list) -> dict[str, Any] | None:
    """The event filter of ``["lastEventFired", dir, {...}]``; without a name Vemetric falls
    back to ``lastSeenAt`` (same direction)."""
    if order_by[0] != "lastEventFired" or len(order_by) < 3 or not order_by[2].get("name"):
        return None
    return {"type": "event", **order_by[2]}


def _last_fired(project: Project, period: Period, event_filter: dict[str, Any]) -> pl.DataFrame:
    """Each user's latest custom event in the period matching the filter (any custom event
    when the name operator is ``any``), over all users: the cohort does not narrow it."""
    events = events_in(project, period, event_properties([event_filter]))
    condition = all_of([~pl.col("isPageView"), event_condition(event_filter)])
    return (
        events.filter(condition)
        .group_by("userId")
        .agg(pl.col("createdAt").max().alias("lastEventFiredAt"))
    )


def _sorted_by(users: pl.DataFrame, column: str, descending: bool) -> pl.DataFrame:
    """Sort on one column (NULLS LAST), ties on userId ascending as ClickHouse's UInt64."""
    numeric = pl.col("userId").cast(pl.UInt64, strict=False)
    keyed = users.with_columns(numeric.alias("_uid"))
    return keyed.sort(
        [column, pl.col("_uid").is_null(), "_uid", "userId"],
        descending=[descending, False, False, False],
        nulls_last=True,
    ).drop("_uid")


def _list_row(project: Project, row: dict[str, Any], by_event: bool) -> dict[str, Any]:
    record = _user_record(project, row["userId"])
    identifier = _nullable(row["userIdentifier"])
    fired = row.get("lastEventFiredAt") if by_event else None
    return {
        "id": row["userId"],
        "identifier": identifier,
        "displayName": _nullable(row["userDisplayName"]),
        "country": _country(row["countryCode"]),
        "city": _nullable(row["city"]),
        "lastSeenAt": row["lastSeenAt"].strftime(API_TIMESTAMP),
        "lastEventFiredAt": fired.strftime(API_TIMESTAMP) if fired else None,
        "avatarUrl": _nullable(record.get("avatarUrl")),
        "data": _json_object(record.get("data")),
        "anonymous": identifier is None,
    }


def resolve_user_id(project: Project, *, id: str | None, identifier: str | None) -> str | None:
    """The userId a ``/v1/users/single`` or ``/v1/users/events`` query names, or None (404).

    By id: found when a user record or any event (any time) has it. By identifier: only an
    identified user record counts.
    """
    if id is not None:
        _, spans = user_index(project)
        return id if id in spans or _user_record(project, id) else None
    if not identifier:
        return None
    matches = project.users.filter(pl.col("identifier") == identifier)["id"]
    return matches[0] if len(matches) else None


def single_user(project: Project, user_id: str) -> dict:
    """The ``user`` object: the user record's fields, falling back to the latest event's."""
    record = _user_record(project, user_id)
    latest_rows = user_events_frame(project, user_id).head(1).to_dicts()
    latest = latest_rows[0] if latest_rows else {}

    def prefer(record_field: str, event_field: str) -> Any:
        return record.get(record_field) or latest.get(event_field)

    identifier = _nullable(prefer("identifier", "userIdentifier"))
    return {
        "id": user_id,
        "identifier": identifier,
        "displayName": _nullable(prefer("displayName", "userDisplayName")),
        "country": _country(prefer("countryCode", "countryCode")),
        "city": _nullable(prefer("city", "city")),
        "lastSeenAt": latest["createdAt"].strftime(API_TIMESTAMP) if latest else None,
        "avatarUrl": _nullable(record.get("avatarUrl")),
        "data": _json_object(record.get("data")),
        "anonymous": identifier is None,
    }


def user_events(
    project: Project,
    period: Period,
    user_id: str,
    *,
    filters: list[dict],
    filters_operator: str,
    limit: int,
    offset: int,
) -> list[dict]:
    """The ``events`` array: the user's events in the period, latest first, one page.

    Filters apply to the rows themselves, combined with AND/OR; a page filter also requires a
    pageview.
    """
    conditions = [_user_event_condition(item) for item in filters]
    combine = all_of if filters_operator == "and" else any_of
    condition = combine(conditions)
    if condition is None:  # the sync's request: no polars per request (see user_events_json)
        return _unfiltered_user_events(project, period, user_id, limit=limit, offset=offset)
    events = user_events_frame(project, user_id)
    events = events.filter(in_range("createdAt", period.start, period.end))
    properties = event_properties(filters)
    if properties:
        events = events.with_columns(extract_property(events["customData"], p) for p in properties)
    events = events.filter(condition)
    page = rendered_events(events.slice(offset, limit))
    return [event_row(row) for row in page.iter_rows(named=True)]


def _unfiltered_user_events(
    project: Project, period: Period, user_id: str, *, limit: int, offset: int
) -> list[dict]:
    """:func:`user_events` without a row condition: the same rows, read from prepared JSON."""
    rows, _ = user_events_json(project, period, user_id, limit=limit, offset=offset)
    return orjson.loads(b"[" + rows + b"]")


def user_events_json(
    project: Project, period: Period, user_id: str, *, limit: int, offset: int
) -> tuple[bytes, int]:
    """An unfiltered ``events`` page as the inside of a JSON array, and its number of rows.

    The bytes are exactly what ``orjson.dumps`` makes of :func:`user_events`' rows (see
    :func:`~pipelines.reference.vemetric.store.user_event_json`). The user's events are
    latest first, so those in the period are one contiguous run.
    """
    _, spans = user_index(project)
    first, length = spans.get(user_id, (0, 0))
    prepared = user_event_json(project)
    times = prepared.negated_ms[first : first + length]
    # start <= createdAt < end  <=>  -end < -createdAt <= -start
    low = 0 if period.end is None else int(times.searchsorted(-epoch_ms(period.end), "right"))
    high = int(times.searchsorted(-epoch_ms(period.start), "right"))
    begin = low + min(offset, max(high - low, 0))
    count = max(min(limit, high - begin), 0)
    return prepared.rows(first + begin, count), count


def _user_event_condition(item: dict[str, Any]) -> pl.Expr | None:
    condition = row_condition(item)
    if condition is not None and item["type"] == "page":
        return pl.col("isPageView") & condition
    return condition


def _user_record(project: Project, user_id: str) -> dict[str, Any]:
    """The user table's row for this id, or ``{}`` (anonymous visitors usually have none)."""
    index = project.cache.get("queries:user_records")
    if index is None:
        index = {row["id"]: row for row in project.users.iter_rows(named=True)}
        project.cache["queries:user_records"] = index
    return index.get(user_id, {})


def _nullable(value: str | None) -> str | None:
    return value if value else None


def _country(value: str | None) -> str | None:
    return (value or "").replace("\0", "").strip() or None


def _json_object(text: str | None) -> dict[str, Any]:
    return orjson.loads(text) if text else {}
