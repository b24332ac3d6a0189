"""How many requests a Vemetric sync makes, and how long the rate limit makes it take.

:func:`vemetric_requests` is the one list of the calls a sync of a date range makes, as
named groups with counts; the sync (``pipelines/defs``) issues exactly these calls, and a
test compares a real run's ``stats.calls`` with it. :func:`plan_vemetric` fills in the
numbers it needs with two cheap calls (the range's aggregate and the funnel list) before
anything runs.

Example::

    plan = plan_vemetric(vemetric, date(2026, 1, 1), date(2026, 1, 31))
    print(plan.describe())      # ... 4,873 requests, about 48.7 minutes at 100 per 60 s
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from pipelines.connectors.vemetric import FIELD_TOKENS, VemetricConnector, date_range

__all__ = [
    "RequestGroup",
    "SyncPlan",
    "VemetricShape",
    "pages",
    "plan_vemetric",
    "vemetric_requests",
]

DEFAULT_RATE_LIMIT = 100  # Vemetric: 100 requests per fixed 60 s window per project
WINDOW_SECONDS = 60.0


def pages(rows: int, limit: int) -> int:
    """Requests to list ``rows`` items with short-page paging: a full last page needs one more."""
    return rows // limit + 1


@dataclass(frozen=True)
class VemetricShape:
    """What a sync's request count depends on, for one date range.

    Counts that are not known before the sync (rows per breakdown, values per filter field)
    are left out and then assumed to fit in one page each.
    """

    days: int
    users: int  # users active in the range
    user_event_pages: int  # sum over those users of pages(events of the user in range)
    funnels: int
    event_properties: Sequence[str] = ()
    breakdown_rows: Mapping[str, int] = field(default_factory=dict)  # by grouping token
    filter_values: Mapping[str, int] = field(default_factory=dict)  # by field token
    page_size: int = 1000
    range_probe: bool = True  # the sync calls preflight(date_range): +1 plan-gate probe

    def breakdown_tokens(self) -> list[str]:
        """Every grouping the sync breaks the range down by (not ``interval:auto``)."""
        return [*FIELD_TOKENS, *(f"event:prop:{p}" for p in self.event_properties)]


@dataclass(frozen=True)
class RequestGroup:
    """A named kind of call: the endpoint and how many requests of it the sync makes.

    ``most`` is an upper bound when ``count`` rests on an assumption (it equals ``count``
    when the number is exact).
    """

    name: str
    endpoint: str
    count: int
    most: int
    note: str = ""


def vemetric_requests(
    shape: VemetricShape, *, events_bound: int | None = None
) -> list[RequestGroup]:
    """The calls a Vemetric sync of one range makes, in the order it makes them.

    ``events_bound`` is an upper bound on ``shape.user_event_pages`` when it was assumed.
    """
    limit = shape.page_size
    breakdowns = sum(pages(shape.breakdown_rows.get(t, 0), limit) for t in shape.breakdown_tokens())
    rounds = max(pages(shape.filter_values.get(f, 0), limit) for f in FIELD_TOKENS)
    events_most = shape.user_event_pages if events_bound is None else events_bound

    def exact(name: str, endpoint: str, count: int, note: str = "") -> RequestGroup:
        return RequestGroup(name, endpoint, count, count, note)

    return [
        exact("preflight", "GET /v1/project", 1, "key check"),
        *([exact("plan-gate probe", "POST /v1/analytics/query", 1, "preflight(date_range)")]
          if shape.range_probe else []),
        exact("project", "GET /v1/project", 1),
        exact("funnels", "GET /v1/funnels", 1),
        exact("funnel results, range", "POST /v1/funnels/{id}", shape.funnels),
        exact("funnel results, per day", "POST /v1/funnels/{id}", shape.funnels * shape.days),
        exact("users", "POST /v1/users", pages(shape.users, limit), f"{shape.users} users"),
        RequestGroup("user events", "POST /v1/users/events", shape.user_event_pages, events_most,
                     "one listing per user, more pages only past the page size"),
        exact("analytics, range aggregate", "POST /v1/analytics/query", 1),
        exact("analytics, interval:auto series", "POST /v1/analytics/query", 1),
        exact("analytics, daily aggregates", "POST /v1/analytics/query", shape.days),
        exact("analytics, breakdowns", "POST /v1/analytics/query", breakdowns,
              f"{len(shape.breakdown_tokens())} groupings"),
        exact("filter values", "POST /v1/filters/values", rounds, f"{len(FIELD_TOKENS)} fields"),
    ]  # fmt: skip


@dataclass(frozen=True)
class SyncPlan:
    """The request groups of a sync and the time the rate limit makes them take."""

    first: date
    last: date
    groups: tuple[RequestGroup, ...]
    rate_limit: int  # requests per window
    window_seconds: float = WINDOW_SECONDS
    assumptions: tuple[str, ...] = ()
    title: str = "Vemetric sync"

    @property
    def requests(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def most_requests(self) -> int:
        return sum(g.most for g in self.groups)

    @property
    def minutes(self) -> float:
        """Minutes the rate limit alone imposes: requests ÷ the allowed rate."""
        return self.requests / self.rate_limit * self.window_seconds / 60.0

    def describe(self) -> str:
        """A few lines for the terminal: one per group, the total, the time, the assumptions."""
        width = max(len(g.name) for g in self.groups)
        lines = [f"{self.title} {self.first} .. {self.last}"]
        for group in self.groups:
            bound = f" (at most {group.most:,})" if group.most != group.count else ""
            lines.append(f"  {group.name:<{width}}  {group.count:>8,}{bound}  {group.endpoint}")
        rate = f"{self.rate_limit} per {self.window_seconds:g} s"
        most = self.most_requests
        if most == self.requests:
            lines.append(f"{self.requests:,} requests, about {self.minutes:.1f} minutes at {rate}")
        else:  # some pages can only be counted during the run (see the assumptions)
            lines.append(f"{self.requests:,} requests (at most {most:,}), about "
                         f"{self.minutes:.1f} to {self.minutes * most / self.requests:.1f} "
                         f"minutes at {rate}")
        lines.extend(f"Assumes {text}" for text in self.assumptions)
        return "\n".join(lines)


def plan_vemetric(
    connector: VemetricConnector,
    date_from: date,
    date_to: date,
    *,
    rate_limit: int | None = None,
    event_properties: Sequence[str] = (),
) -> SyncPlan:
    """Plan a sync of ``date_from``..``date_to`` (whole UTC days) with two cheap calls.

    The range aggregate gives the users and events to list; the funnel list gives the
    funnels. The rate limit is ``rate_limit`` or what the server's headers said.
    """
    span = date_range(date_from, date_to)
    totals = connector.range_totals(span)
    funnels = connector.funnels()
    events = totals["pageviews"] + totals["events"]
    limit = connector.page_size
    shape = VemetricShape(
        days=(date_to - date_from).days + 1,
        users=totals["users"],
        user_event_pages=totals["users"],
        funnels=len(funnels),
        event_properties=tuple(event_properties),
        page_size=limit,
    )
    groups = vemetric_requests(shape, events_bound=totals["users"] + events // limit)
    return SyncPlan(
        first=date_from,
        last=date_to,
        groups=tuple(groups),
        rate_limit=rate_limit or _server_limit(connector),
        assumptions=_assumptions(shape, events, limit),
    )


def _server_limit(connector: VemetricConnector) -> int:
    seen = connector.stats.last_rate_limit
    return seen.limit if seen is not None else DEFAULT_RATE_LIMIT


def _assumptions(shape: VemetricShape, events: int, limit: int) -> tuple[str, ...]:
    notes = [
        f"every breakdown and every filter field has fewer than {limit} values in the range",
        _properties_note(shape.event_properties),
    ]
    if events >= limit:
        notes.insert(0, f"no user has {limit} or more events in the range "
                        f"({events:,} events in all; each such user adds pages)")  # fmt: skip
    return tuple(notes)


def _properties_note(properties: Sequence[str]) -> str:
    # The API cannot list event property names: a sync breaks down by those its events carry,
    # which the CLI reads from the warehouse's earlier syncs.
    if not properties:
        return ("no event property breakdowns (none seen in the warehouse yet); each property "
                "the range's events carry adds one request")
    shown = ", ".join(properties[:6]) + (", ..." if len(properties) > 6 else "")
    return (f"the event properties to break down by are the {len(properties)} seen in the "
            f"warehouse ({shown}); each other one adds one request")
