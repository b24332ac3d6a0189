"""How many requests an EngageTrack sync makes, and how long the rate limit makes it take.

:func:`engagetrack_requests` is the one list of the calls a sync of one site and date range
makes (``pipelines.defs.engagetrack`` issues exactly these); :func:`plan_engagetrack` fills in
the numbers with a few cheap calls (the organization's sites, the range's stats, the funnels,
the visitor listing pages the sync reads too) and the declared reports (the funnel reports'
periods a sync asks for) and returns the same
:class:`~pipelines.connectors.planning.SyncPlan` as Vemetric's plan.

    plan = plan_engagetrack(connector, "site_1", date(2026, 1, 1), date(2026, 1, 31))
    print(plan.describe())
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from pipelines.connectors.engagetrack import MAX_PAGE_SIZE, EngageTrackConnector
from pipelines.connectors.planning import RequestGroup, SyncPlan
from pipelines.landing import Window
from pipelines.raw_engagetrack import report_ranges, window_visitors
from pipelines.reports.config import ReportConfig, load_reports

__all__ = ["EngageTrackShape", "engagetrack_requests", "plan_engagetrack", "pages", "timeline_bound"]

DEFAULT_RATE_LIMIT = 600  # EngageTrack: 600 analytics requests per minute per key
BREAKDOWN_CALLS = 8  # pages, sources, channels, devices x3, locations x2
PREFLIGHT_READS = 6  # sites + one read per other scope
WRITE_PROBES = 3


def pages(rows: int, limit: int) -> int:
    """Requests to list ``rows`` items with page-number paging and a total (at least one)."""
    return max(1, -(-rows // limit))


@dataclass(frozen=True)
class EngageTrackShape:
    """What a sync's request count depends on, for one site and range."""

    days: int
    visitors: int  # visitors with events in the range
    funnels: int
    page_size: int = MAX_PAGE_SIZE
    report_analyses: int = 0  # funnel reports' periods beyond the ranges (report_ranges)
    # Visitors whose timelines a sync reads: every one whose first..last seen span meets the
    # range, some with no event in it (a day of a visitor seen before and after it). None:
    # the visitors with events (a range that covers everyone's whole history).
    listed: int | None = None
    listing_pages: int | None = None  # visitor listing pages read to find them, when known

    @property
    def ranges(self) -> int:
        """Ranges asked for per day-level figure: the window, and each day when it has several."""
        return 1 + (self.days if self.days > 1 else 0)


def engagetrack_requests(shape: EngageTrackShape, *, visitor_pages_most: int | None = None,
                         timeline_most: int | None = None,
                         timeline_pages: int | None = None) -> list[RequestGroup]:
    """The calls an EngageTrack sync of one site and range makes, in the order it makes them.

    ``timeline_pages`` is the exact number of timeline pages when it is known (after a run, or
    from the data itself: one per visitor, and one more per ``page_size`` events a visitor has
    in the range past the first page); before a run it is not, and the group counts one page
    per visitor, at most ``timeline_most``."""
    limit = shape.page_size
    listed = shape.visitors if shape.listed is None else shape.listed
    listing = pages(listed, limit) if shape.listing_pages is None else shape.listing_pages
    timelines = listed if timeline_pages is None else timeline_pages
    site = "/organizations/{orgId}/sites/{siteId}"

    def exact(name: str, endpoint: str, count: int, note: str = "") -> RequestGroup:
        return RequestGroup(name, endpoint, count, count, note)

    return [
        exact("preflight reads", f"GET {site}/...", PREFLIGHT_READS, "one per read scope"),
        exact("preflight write probes", f"PATCH/POST {site}/...", WRITE_PROBES,
              "invalid bodies: nothing changes"),
        exact("sites", "GET /organizations/{orgId}/sites", 1),
        exact("goals, funnels, annotations", f"GET {site}/...", 3),
        RequestGroup("visitors", f"GET {site}/visitors", listing,
                     max(listing, visitor_pages_most or listing),
                     f"{listed} visitors seen across the range, most recent first"),
        RequestGroup("timelines", f"GET {site}/visitors/{{id}}/timeline", timelines,
                     max(timelines, timeline_most or timelines),
                     f"one listing per visitor ({shape.visitors} with events in the range), "
                     "more pages only past the page size"),
        exact("stats", f"GET {site}/analytics/stats", shape.ranges, "the range and each day"),
        exact("revenue", f"GET {site}/analytics/revenue", 1),
        exact("breakdowns", f"GET {site}/analytics/...", BREAKDOWN_CALLS,
              "5 breakdowns, 8 dimensions"),
        exact("goal stats", f"GET {site}/goals/stats", 1),
        exact("funnel analyses", f"GET {site}/funnels/{{id}}/analyze",
              shape.funnels * shape.ranges, "per funnel: the range and each day"),
        *([exact("report funnel analyses", f"GET {site}/funnels/{{id}}/analyze",
                 shape.report_analyses, "funnel reports' periods ending on a synced day")]
          if shape.report_analyses else []),
    ]  # fmt: skip


def plan_engagetrack(connector: EngageTrackConnector, site_id: str, date_from: date,
                     date_to: date, *, rate_limit: int | None = None,
                     reports: Iterable[ReportConfig] | None = None) -> SyncPlan:
    """Plan a sync of one site over ``date_from``..``date_to`` (whole UTC days).

    ``reports`` are the declared reports (default: ``load_reports()``, as the sync reads
    them): their EngageTrack funnel reports' periods are asked for too."""
    if date_to < date_from:
        raise ValueError(f"range ends ({date_to}) before it starts ({date_from})")
    stats = connector.site_stats(site_id, first=date_from, last=date_to)
    funnels = connector.funnels(site_id)
    events = int(stats["pageviews"]) + int(stats["events"])
    configs = load_reports().values() if reports is None else reports
    window = Window(date_from, date_to)
    extra = report_ranges(window, configs, [(f["id"], f["name"]) for f in funnels])
    # The visitors whose timelines the run reads, found as the run finds them (the same
    # listing pages): a day's visitors include some seen before and after it with no event
    # on it, which the stats' visitors do not count.
    listed, listing_pages = window_visitors(connector, window, site_id)
    shape = EngageTrackShape(days=(date_to - date_from).days + 1, visitors=int(stats["visitors"]),
                             funnels=len(funnels), page_size=connector.page_size,
                             report_analyses=sum(len(spans) for spans in extra.values()),
                             listed=listed.height, listing_pages=listing_pages)
    groups = engagetrack_requests(shape, timeline_most=timeline_bound(shape, events))
    seen = connector.stats.last_rate_limit
    return SyncPlan(
        first=date_from, last=date_to, groups=tuple(groups),
        rate_limit=rate_limit or (seen.limit if seen is not None else DEFAULT_RATE_LIMIT),
        assumptions=_assumptions(shape, events, sum(g.count for g in groups)),
        title=f"EngageTrack sync of {site_id}",
    )


def timeline_bound(shape: EngageTrackShape, events: int) -> int:
    """The most timeline pages ``events`` events of ``shape.visitors`` visitors can take.

    A visitor with ``n`` events takes ``ceil(n / page_size)`` pages, one more than a single
    page per ``page_size`` events past their first: at most ``(events − visitors) //
    page_size`` extra pages in all, the most when one visitor has them all."""
    extra = max(0, events - shape.visitors) // shape.page_size
    return (shape.visitors if shape.listed is None else shape.listed) + extra


def _assumptions(shape: EngageTrackShape, events: int, requests: int) -> tuple[str, ...]:
    listing = ("the visitors listed now are the run's (visits made before it add listing "
               "pages and timelines)" if shape.listing_pages is not None else
               "the visitor listing reaches back past the range's start within the pages that "
               "list its visitors (visitors seen only later add pages)")
    notes = [f"every breakdown has at most {shape.page_size} values in the range", listing]
    extra = timeline_bound(shape, events) - (shape.visitors if shape.listed is None
                                             else shape.listed)
    if extra:
        # The API cannot say how a range's events split among visitors without reading each
        # timeline, so these pages are known only as the run reads them.
        notes.insert(0, f"no visitor has more than {shape.page_size} events in the range "
                        f"({events:,} events among {shape.visitors:,} visitors): NOT KNOWN "
                        f"before the run; each such visitor adds a timeline page per "
                        f"{shape.page_size} events more ({requests:,} to "
                        f"{requests + extra:,} requests in all)")
    return tuple(notes)
