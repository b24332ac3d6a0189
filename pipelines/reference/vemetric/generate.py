"""Generate a realistic, deterministic Vemetric dataset in the reference directory format.

``generate(out, users=N, days=D, seed=S)`` writes the layout of ``specs/fixture-format.md``
(``fixture.json`` plus ``events``/``sessions``/``users`` parquet files) for one project with
one API key and three funnels. The same arguments always write byte-identical files.

Sizing: ``users`` is the number of *visitors*. A visitor arrives on some day of the range and
comes back on later days now and then, so on average a visitor produces about
**4.2 events plus 0.21 events per day of the range**, power users included (about 5.7 events
over 7 days, 10.6 over 30 days, 82 over a year). :func:`users_for_events` inverts that
average, e.g. ``users_for_events(1_000_000, 30)`` is about 94,000 visitors. Power users make
about 1% of the events at that size, but more in small datasets, where the one guaranteed
power user adds about 700 events a week: 1,000 visitors over 30 days give about 13,500
events instead of 10,600.

How the traffic is shaped (all of it vectorised with numpy; no per-event or per-session
Python loops, so a million events take seconds):

- Visitors have a home location (weighted by country, some with no city), one device
  (desktop/mobile/tablet with a matching OS and browser), an arrival day (fewer at weekends)
  and a personal return rate (most never come back, a few return often).
- Sessions land on a page that depends on the referrer channel (search, social, email, paid,
  llm, direct), then walk the site (a Markov chain over ``/``, ``/features``, ``/pricing``,
  ``/blog``, ``/blog/<slug>``, ``/docs``, ``/signup``), with clicks and outbound links.
  Events inside a session are seconds to minutes apart; a visitor's sessions are more than
  30 minutes apart, as Vemetric splits sessions after 30 minutes of inactivity.
- Some visitors sign up (``/pricing`` → ``/signup`` → ``signup``) in one of their sessions and
  some of those buy (``/checkout`` → ``purchase``): right away, within days, or when the
  14-day trial ends (so the funnels' 7-day window matters). Visitors who
  sign up become identified users: their events carry the identifier from the signup on, and
  they get a user row. Everyone else stays anonymous, with no user row.
- A few *power users* (internal QA, very active customers): one per 20,000 visitors, and at
  least one from 200 visitors and 7 days on. They arrive in the first days of the range, sign
  up in their first session, buy, and then come back several times a day for long sessions,
  60 to 115 events a day each (1,500 to 3,500 over 30 days; the first of them, the most
  active, about 3,000), so paging one user's events takes more than one 1000-row page.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipelines.reference.clock import format_millis
from pipelines.reference.vemetric.dataset import (
    EVENT_SCHEMA,
    SESSION_SCHEMA,
    TIMESTAMP,
    USER_SCHEMA,
)

__all__ = [
    "GenerateError",
    "GenerateSummary",
    "expected_events_per_visitor",
    "generate",
    "power_user_count",
    "users_for_events",
]


class GenerateError(ValueError):
    """Arguments the generator cannot work with; the message names the argument."""


# --------------------------------------------------------------------------------------------
# Behaviour parameters. The sizing figures in the module docstring follow from these.

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Vemetric starts a new session after 30 minutes without an event, so a visitor's sessions
# must be further apart than that, or the server would see them as one.
SESSION_SPACING_MS = 30 * 60 * 1000 + 1000
NEVER = np.iinfo(np.int64).max  # the signup time of a visitor who never signs up

RETURN_RATE = 0.12  # mean sessions per day of the range after arrival
RETURN_RATE_SHAPE = 0.5  # gamma shape: most visitors rarely return, a few often
MAX_SESSIONS_PER_DAY = 2
BOUNCE_RATE = 0.45  # sessions with a single pageview
MORE_PAGES_P = 0.3  # geometric parameter of the extra pageviews of a non-bounce session
MAX_PAGEVIEWS = 40
CLICK_RATE = 0.2  # chance that a pageview is followed by a click event
OUTBOUND_RATE = 0.03  # chance that a pageview is followed by an outbound link
SIGNUP_RATE = 0.12
PURCHASE_RATE = 0.35  # of those who sign up
SAME_SESSION_PURCHASE = 0.4  # of those who buy: in the session they signed up in
TRIAL_DAYS = 14
PURCHASE_AT_TRIAL_END = 0.4  # of later purchases: when the trial ends, else within days
SIGNUP_TAIL_EVENTS = 3  # /pricing, /signup, signup
PURCHASE_TAIL_EVENTS = 2  # /checkout, purchase

# Power users: a handful of visitors with far more activity than anyone else.
POWER_USERS_PER_VISITOR = 1 / 20_000
POWER_MIN_VISITORS = 200  # from this many visitors and POWER_MIN_DAYS days: at least one
POWER_MIN_DAYS = 7
POWER_ARRIVAL_DAYS = 3  # they arrive (and sign up) within the first days of the range
POWER_SESSIONS_PER_DAY = 4.0  # mean returning sessions per day, times the user's activity
POWER_ACTIVITY = (0.8, 1.5)  # range of the activity factor; the first power user has the top
POWER_MAX_SESSIONS_PER_DAY = 12
POWER_BOUNCE_RATE = 0.05
POWER_MORE_PAGES_P = 0.06  # about 15 pageviews a session

# Monday .. Sunday: business software gets less traffic at weekends.
WEEKDAY_WEIGHTS = (1.0, 1.05, 1.05, 1.0, 0.9, 0.55, 0.5)
# Local hour of day 0..23 at which sessions start.
HOUR_WEIGHTS = (1, .6, .4, .3, .3, .5, 1, 2, 3.5, 4.5, 5, 5, 4.5, 4.8, 5, 4.8, 4.2, 3.6, 3,
                2.8, 2.6, 2.2, 1.8, 1.3)

NANOID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
API_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
API_KEY_NAME = "funnelhouse sync"

# --------------------------------------------------------------------------------------------
# Catalogues: who visits, with what, from where.

# (country, UTC offset in hours, weight, ((city, weight), ...)); "" is an unknown location.
COUNTRIES: tuple[tuple[str, int, float, tuple[tuple[str, float], ...]], ...] = (
    ("US", -6, 30, (("New York", 3), ("San Francisco", 2), ("Austin", 1.5), ("Seattle", 1.5),
                    ("Chicago", 1.5), ("", 1))),
    ("DE", 1, 14, (("Berlin", 3), ("Munich", 2), ("Hamburg", 1.5), ("Cologne", 1), ("", 0.8))),
    ("GB", 0, 10, (("London", 4), ("Manchester", 1.2), ("Edinburgh", 0.8), ("", 0.6))),
    ("FR", 1, 7, (("Paris", 4), ("Lyon", 1.2), ("", 0.6))),
    ("IN", 5, 9, (("Bengaluru", 3), ("Mumbai", 2), ("Delhi", 2), ("", 1))),
    ("BR", -3, 5, (("São Paulo", 3), ("Rio de Janeiro", 1.5), ("", 0.8))),
    ("CA", -5, 5, (("Toronto", 3), ("Vancouver", 1.5), ("", 0.5))),
    ("NL", 1, 4, (("Amsterdam", 3), ("Rotterdam", 1))),
    ("AT", 1, 3, (("Vienna", 3), ("Graz", 1), ("", 0.4))),
    ("JP", 9, 4, (("Tokyo", 3), ("Osaka", 1))),
    ("AU", 10, 3, (("Sydney", 2), ("Melbourne", 1.5))),
    ("ES", 1, 3, (("Madrid", 2), ("Barcelona", 2))),
    ("", 0, 3, (("", 1),)),
)

# (deviceType, osName, clientName, weight)
DEVICES: tuple[tuple[str, str, str, float], ...] = (
    ("desktop", "Windows", "Chrome", 20.7), ("desktop", "Windows", "Edge", 6.4),
    ("desktop", "Windows", "Firefox", 4.8), ("desktop", "macOS", "Chrome", 9.6),
    ("desktop", "macOS", "Safari", 7.6), ("desktop", "macOS", "Firefox", 1.9),
    ("desktop", "Linux", "Chrome", 3.8), ("desktop", "Linux", "Firefox", 3.2),
    ("mobile", "iOS", "Safari", 14.2), ("mobile", "iOS", "Chrome", 2.5),
    ("mobile", "Android", "Chrome", 16.3), ("mobile", "Android", "Samsung Internet", 3.0),
    ("mobile", "Android", "Firefox", 1.0), ("tablet", "iOS", "Safari", 3.5),
    ("tablet", "Android", "Chrome", 1.5),
)

REFERRER_TYPES = ("direct", "search", "social", "email", "paid", "llm")
# (referrer, referrerUrl, referrerType, utmSource, utmMedium, utmCampaign, utmContent, utmTerm,
#  weight of a first visit, weight of a returning visit)
CHANNELS: tuple[tuple[str, str, str, str, str, str, str, str, float, float], ...] = (
    ("", "", "direct", "", "", "", "", "", 30, 55),
    ("Google", "https://www.google.com/", "search", "", "", "", "", "", 24, 16),
    ("Bing", "https://www.bing.com/", "search", "", "", "", "", "", 4, 2),
    ("DuckDuckGo", "https://duckduckgo.com/", "search", "", "", "", "", "", 4, 2),
    ("Twitter", "https://t.co/", "social", "twitter", "social", "launch-week", "", "", 3, 1),
    ("Twitter", "https://t.co/", "social", "", "", "", "", "", 2, 1),
    ("LinkedIn", "https://www.linkedin.com/", "social", "linkedin", "social", "launch-week",
     "", "", 3, 1),
    ("Reddit", "https://www.reddit.com/", "social", "", "", "", "", "", 3, 1),
    ("Hacker News", "https://news.ycombinator.com/", "social", "", "", "", "", "", 2, 1),
    ("Newsletter", "", "email", "newsletter", "email", "weekly-digest", "", "", 3, 12),
    ("Newsletter", "", "email", "newsletter", "email", "product-update", "cta-button", "", 2, 6),
    ("Google", "https://www.google.com/", "paid", "google", "cpc", "brand", "ad-a",
     "funnel analytics", 5, 1),
    ("Google", "https://www.google.com/", "paid", "google", "cpc", "competitors", "ad-b",
     "privacy analytics tool", 4, 1),
    ("LinkedIn", "https://www.linkedin.com/", "paid", "linkedin", "cpc", "retargeting",
     "carousel", "", 3, 1),
    ("ChatGPT", "https://chatgpt.com/", "llm", "chatgpt.com", "", "", "", "", 4, 2),
)

# Page states of the site walk. A blog post is one state; its slug is drawn separately.
HOME, FEATURES, PRICING, BLOG, POST, DOCS, SIGNUP, CHECKOUT = range(8)
BLOG_SLUGS = ("privacy-first-analytics", "funnel-analysis-101", "utm-tags-explained",
              "cookieless-tracking", "weekly-reports-that-get-read", "duckdb-for-product-analytics")
PATHS = ("/", "/features", "/pricing", "/blog", *(f"/blog/{slug}" for slug in BLOG_SLUGS),
         "/docs", "/signup", "/checkout")
STATE_PATH = np.array([0, 1, 2, 3, 4, 4 + len(BLOG_SLUGS), 5 + len(BLOG_SLUGS),
                       6 + len(BLOG_SLUGS)])
SLUG_WEIGHTS = tuple(1 / rank for rank in range(1, len(BLOG_SLUGS) + 1))

# Where a session lands, by referrer type (columns: the eight page states).
LANDING = {
    "direct": (70, 6, 9, 0, 0, 15, 0, 0),
    "search": (35, 10, 0, 0, 45, 10, 0, 0),
    "social": (40, 5, 0, 5, 50, 0, 0, 0),
    "email": (30, 30, 0, 0, 40, 0, 0, 0),
    "paid": (40, 30, 30, 0, 0, 0, 0, 0),
    "llm": (50, 20, 0, 0, 0, 30, 0, 0),
}
# The next page from each page state (rows and columns: the eight page states).
TRANSITIONS = (
    (0, 32, 20, 18, 0, 25, 5, 0),  # /
    (25, 0, 35, 10, 0, 25, 5, 0),  # /features
    (25, 30, 0, 10, 0, 20, 15, 0),  # /pricing
    (20, 0, 0, 0, 80, 0, 0, 0),  # /blog
    (25, 10, 10, 20, 30, 5, 0, 0),  # /blog/<slug>
    (20, 20, 20, 0, 0, 40, 0, 0),  # /docs (another docs page: same path, maybe a new hash)
    (30, 30, 40, 0, 0, 0, 0, 0),  # /signup, left without signing up
    (50, 0, 50, 0, 0, 0, 0, 0),  # /checkout, left without buying
)
HASHES = ("", "#demo", "#integrations", "#faq", "#comments", "#install", "#api")
HASH_BY_STATE = (
    (95, 5, 0, 0, 0, 0, 0), (80, 0, 20, 0, 0, 0, 0), (80, 0, 0, 20, 0, 0, 0),
    (100, 0, 0, 0, 0, 0, 0), (90, 0, 0, 0, 10, 0, 0), (60, 0, 0, 0, 0, 25, 15),
    (100, 0, 0, 0, 0, 0, 0), (100, 0, 0, 0, 0, 0, 0),
)
CLICK_TARGETS = ("hero-cta", "nav-pricing", "demo-video", "feature-tour", "pricing-toggle",
                 "contact-sales", "newsletter-form", "share", "copy-code", "sso-google",
                 "apply-coupon")
CLICK_BY_STATE = (
    (40, 30, 30, 0, 0, 0, 0, 0, 0, 0, 0), (20, 30, 0, 50, 0, 0, 0, 0, 0, 0, 0),
    (0, 0, 0, 0, 70, 30, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 0, 50, 50, 0, 0, 0),
    (0, 0, 0, 0, 0, 0, 50, 50, 0, 0, 0), (0, 0, 0, 0, 0, 0, 20, 0, 80, 0, 0),
    (0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0), (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100),
)
OUTBOUND_LINKS = (("https://github.com/", 4), ("https://duckdb.org/docs/", 2),
                  ("https://www.youtube.com/", 1.5), ("https://x.com/", 1))
PLANS = (("starter", 50, 19), ("pro", 35, 49), ("team", 15, 99))  # name, weight, $/month
ANNUAL_BILLING = 0.3  # share of purchases paid yearly (ten months' price)
COMPANY_SIZES = (("1-10", 35), ("11-50", 30), ("51-200", 20), ("201-1000", 10), ("1000+", 5))
FIRST_NAMES = ("Ana", "Ben", "Chloe", "David", "Elif", "Felix", "Grace", "Hugo", "Ines", "Jonas",
               "Kenji", "Lena", "Mateo", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Yuki")
LAST_NAMES = ("Adams", "Bauer", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen",
              "Ito", "Jensen", "Kumar", "Lopez", "Martin", "Novak", "Okafor", "Patel", "Rossi",
              "Schmidt", "Tanaka", "Weber")
MAIL_DOMAINS = ("example.com", "example.org", "example.net")
PROJECTS = (("Northwind Cloud", "northwind.example"), ("Bluebird CRM", "bluebird.example"),
            ("Tidepool Docs", "tidepool.example"), ("Lumen Forms", "lumenforms.example"))


def _canonical(data: dict[str, str]) -> str:
    """JSON text as the dataset holds it: sorted keys, no spaces."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _event_types() -> tuple[list[str], list[str]]:
    """Every (name, customData) an event can have; events refer to these by index."""
    types: list[tuple[str, dict[str, str]]] = [("$$pageView", {})]
    types += [("click", {"target": target}) for target in CLICK_TARGETS]
    types += [("$$outboundLink", {"href": href}) for href, _ in OUTBOUND_LINKS]
    types += [("signup", {"plan": plan}) for plan, _, _ in PLANS]
    for plan, _, monthly in PLANS:
        for months in (1, 10):
            types.append(("purchase", {"plan": plan, "amount": f"{monthly * months}.00",
                                       "currency": "USD"}))
    return [name for name, _ in types], [_canonical(data) for _, data in types]


EVENT_NAMES, EVENT_DATA = _event_types()
PAGEVIEW = 0
CLICK_BASE = 1
OUTBOUND_BASE = CLICK_BASE + len(CLICK_TARGETS)
SIGNUP_BASE = OUTBOUND_BASE + len(OUTBOUND_LINKS)
PURCHASE_BASE = SIGNUP_BASE + len(PLANS)

LOCATIONS = [(code, city, offset, weight * city_weight / sum(w for _, w in cities))
             for code, offset, weight, cities in COUNTRIES for city, city_weight in cities]


# --------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class GenerateSummary:
    """What :func:`generate` wrote. ``describe()`` gives the lines the CLI prints.

    >>> summary = generate(Path("data/vemetric"), users=1000, days=30, seed=7)
    >>> print(summary.describe())
    """

    out: Path
    projects: int
    users: int  # identified users (with a user row)
    anonymous_visitors: int
    sessions: int
    events: int
    pageviews: int
    custom_events: int
    funnels: int
    api_key_name: str  # the raw key is in fixture.json only; never printed
    seconds: float

    def describe(self) -> str:
        visitors = self.users + self.anonymous_visitors
        return "\n".join([
            f"Wrote a vemetric dataset to {self.out} in {self.seconds:.1f} s",
            f"  {self.projects} project, {self.funnels} funnels, API key {self.api_key_name!r}"
            f" (raw key in {self.out / 'fixture.json'})",
            f"  {visitors:,} visitors: {self.users:,} identified users,"
            f" {self.anonymous_visitors:,} anonymous",
            f"  {self.sessions:,} sessions, {self.events:,} events"
            f" ({self.pageviews:,} pageviews, {self.custom_events:,} custom events)",
        ])


def expected_events_per_visitor(days: int) -> float:
    """The mean number of events one visitor produces over a range of ``days`` days.

    Power users count at their share of ``POWER_USERS_PER_VISITOR``; below 20,000 visitors the
    one guaranteed power user adds more than that share (about 3,000 events over 30 days).
    """
    regular = _expected_events(days, power=False)
    power = _expected_events(days, power=True)
    return regular + POWER_USERS_PER_VISITOR * (power - regular)


def _expected_events(days: int, *, power: bool) -> float:
    """The mean number of events of one regular visitor, or of one power user."""
    bounce, more_pages = ((POWER_BOUNCE_RATE, POWER_MORE_PAGES_P) if power
                          else (BOUNCE_RATE, MORE_PAGES_P))
    # The extra pageviews are geometric, capped so that a session has MAX_PAGEVIEWS at most.
    pageviews = 1 + (1 - bounce) * (1 - (1 - more_pages) ** (MAX_PAGEVIEWS - 1)) / more_pages
    per_session = pageviews * (1 + CLICK_RATE + OUTBOUND_RATE)
    if power:
        # They arrive within the first days; the mean activity of many power users is the
        # middle of the range (the first one has the top, which only matters when few).
        remaining = days - (min(POWER_ARRIVAL_DAYS, days) - 1) / 2
        sessions = 1 + POWER_SESSIONS_PER_DAY * sum(POWER_ACTIVITY) / 2 * remaining
        signup_rate, purchase_rate = 1.0, 1.0
    else:
        # Arrival days are spread over the range, so on average (days + 1) / 2 days remain.
        sessions = 1 + RETURN_RATE * (days + 1) / 2
        signup_rate, purchase_rate = SIGNUP_RATE, PURCHASE_RATE
    # The tails of signup and purchase sessions; a later purchase has a session of its own
    # (counted in full, though one that falls after the range is dropped).
    milestones = signup_rate * (SIGNUP_TAIL_EVENTS + purchase_rate * PURCHASE_TAIL_EVENTS)
    purchase_sessions = signup_rate * purchase_rate * (1 - SAME_SESSION_PURCHASE)
    return per_session * (sessions + purchase_sessions) + milestones


def power_user_count(visitors: int, days: int) -> int:
    """How many of ``visitors`` visitors over ``days`` days are power users."""
    guaranteed = int(visitors >= POWER_MIN_VISITORS and days >= POWER_MIN_DAYS)
    return max(int(visitors * POWER_USERS_PER_VISITOR), guaranteed)


def users_for_events(events: int, days: int) -> int:
    """How many visitors (``generate(users=...)``) give about ``events`` events over ``days``."""
    if events < 1 or days < 1:
        raise GenerateError(f"events and days must be at least 1, got {events} and {days}")
    return max(1, round(events / expected_events_per_visitor(days)))


def generate(out: Path, *, users: int, days: int, seed: int,
             start: date | None = None) -> GenerateSummary:
    """Write a Vemetric dataset of ``users`` visitors over ``days`` days into directory ``out``.

    ``start`` is the first day (UTC); ``None`` means the dataset ends yesterday. The same
    arguments always write byte-identical files. See the module docstring for sizing.
    """
    began = time.perf_counter()
    window = _window(users, days, seed, start)
    out = Path(out)
    _prepare_dir(out)
    # Two streams, so the project and its API key depend on the seed alone, not on the size.
    meta_seed, traffic_seed = np.random.SeedSequence(seed).spawn(2)
    meta_rng, traffic_rng = np.random.default_rng(meta_seed), np.random.default_rng(traffic_seed)
    project = _project(meta_rng, window)
    traffic = _simulate(traffic_rng, users, window)
    frames = _frames(traffic, project["id"], f"https://{project['domain']}")
    project["firstEventAt"] = format_millis(frames.first_event)
    _write(out, window, project, frames)
    return GenerateSummary(
        out=out, projects=1, users=frames.users.height,
        anonymous_visitors=users - frames.users.height, sessions=frames.sessions.height,
        events=frames.events.height, pageviews=frames.pageviews,
        custom_events=frames.events.height - frames.pageviews, funnels=len(project["funnels"]),
        api_key_name=API_KEY_NAME, seconds=time.perf_counter() - began,
    )


# --------------------------------------------------------------------------------------------
# Arguments and output


@dataclass(frozen=True)
class Window:
    """The generated date range: ``days`` whole UTC days from ``start``."""

    start: date
    days: int

    @property
    def start_ms(self) -> int:
        return int(datetime(self.start.year, self.start.month, self.start.day,
                            tzinfo=UTC).timestamp() * 1000)

    @property
    def now(self) -> str:
        """The end of the last day, as fixture.json's ``now``."""
        return f"{self.start + timedelta(days=self.days - 1)}T23:59:59Z"

    def weekday_weights(self) -> np.ndarray:
        first = self.start.weekday()
        return np.array([WEEKDAY_WEIGHTS[(first + d) % 7] for d in range(self.days)])


def _window(users: int, days: int, seed: int, start: date | None) -> Window:
    for name, value in (("users", users), ("days", days)):
        if not isinstance(value, int) or value < 1:
            raise GenerateError(f"{name} must be a whole number of at least 1, got {value!r}")
    if not isinstance(seed, int) or seed < 0:
        raise GenerateError(f"seed must be a whole number of at least 0, got {seed!r}")
    if start is None:
        start = datetime.now(UTC).date() - timedelta(days=days)
    return Window(start, days)


def _prepare_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise GenerateError(f"--out {out} is a file, expected a directory (it may not exist yet)")
    out.mkdir(parents=True, exist_ok=True)


def _write(out: Path, window: Window, project: dict[str, Any], frames: Frames) -> None:
    fixture = {"api": "vemetric", "now": window.now, "projects": [project]}
    text = json.dumps(fixture, indent=2, ensure_ascii=False) + "\n"
    (out / "fixture.json").write_text(text, encoding="utf-8")
    for name, frame in (("events", frames.events), ("sessions", frames.sessions),
                        ("users", frames.users)):
        frame.write_parquet(out / f"{name}.parquet", compression="zstd")


# --------------------------------------------------------------------------------------------
# Random helpers


def _draw(rng: np.random.Generator, weights: Sequence[float], size: int) -> np.ndarray:
    """``size`` indexes into ``weights``, drawn in proportion to them."""
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum())


def _cumulative(rows: Sequence[Sequence[float]]) -> np.ndarray:
    matrix = np.asarray(rows, dtype=float)
    return np.cumsum(matrix / matrix.sum(axis=1, keepdims=True), axis=1)


def _draw_rows(rng: np.random.Generator, cumulative: np.ndarray, state: np.ndarray) -> np.ndarray:
    """For each ``state``, a column index drawn from that row of a cumulative matrix."""
    u = rng.random(len(state))
    picked = (u[:, None] >= cumulative[state]).sum(axis=1)
    return np.minimum(picked, cumulative.shape[1] - 1)  # guards float rounding in the last cell


def _distinct(draw: Callable[[int], np.ndarray], n: int) -> np.ndarray:
    """``draw(n)``, with any repeated values drawn again until all ``n`` are different."""
    values = draw(n)
    while True:
        _, first = np.unique(values, return_index=True)
        if len(first) == n:
            return values
        repeats = np.setdiff1d(np.arange(n), first)
        values[repeats] = draw(len(repeats))


def _random_strings(rng: np.random.Generator, alphabet: str, n: int, length: int) -> np.ndarray:
    codes = rng.integers(0, len(alphabet), size=(n, length))
    chars = np.frombuffer(alphabet.encode(), dtype=np.uint8)[codes]
    return np.ascontiguousarray(chars).view(f"S{length}").ravel().astype(f"U{length}")


def _nanoids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct 21-character ids of ``[0-9A-Za-z]``, as Vemetric's nanoid makes them."""
    return _distinct(lambda k: _random_strings(rng, NANOID_ALPHABET, k, 21), n)


def _uint64_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct uint64 ids (Vemetric's user and project ids), 18 to 20 digits long."""
    return _distinct(lambda k: rng.integers(10**17, 2**64 - 1, size=k, dtype=np.uint64,
                                            endpoint=True), n)


def _segment_starts(group: np.ndarray) -> np.ndarray:
    """For a sorted group array, the row where each row's group begins."""
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    return np.repeat(first, np.diff(np.r_[first, len(group)]))


# --------------------------------------------------------------------------------------------
# Project, API key, funnels


def _ms_string(moment_ms: int) -> str:
    return format_millis(datetime.fromtimestamp(moment_ms / 1000, tz=UTC))


def _project(rng: np.random.Generator, window: Window) -> dict[str, Any]:
    name, domain = PROJECTS[int(rng.integers(len(PROJECTS)))]
    created = window.start_ms - int(rng.integers(20, 90)) * DAY_MS + int(rng.integers(DAY_MS))
    key_created = created + int(rng.integers(1, 10)) * DAY_MS + int(rng.integers(DAY_MS))
    return {
        "id": str(_uint64_ids(rng, 1)[0]),
        "name": name,
        "domain": domain,
        "token": str(_random_strings(rng, NANOID_ALPHABET, 1, 16)[0]),
        "createdAt": _ms_string(created),
        "firstEventAt": None,  # set once the events exist
        "publicDashboard": False,
        "excludedIps": "127.0.0.1,10.0.0.1",
        "excludedCountries": "AQ",  # a country the traffic never comes from
        "subscriptionActive": True,
        "apiKeys": [{
            "id": f"key_{_nanoids(rng, 1)[0]}",
            "name": API_KEY_NAME,
            "key": "vem_" + str(_random_strings(rng, API_KEY_ALPHABET, 1, 32)[0]),
            "createdAt": _ms_string(key_created),
            "revokedAt": None,
        }],
        "funnels": _funnels(rng, created, window.start_ms),
    }


def _page_step(path: str) -> dict[str, Any]:
    return {"type": "page", "path": {"operator": "eq", "value": path}}


def _event_step(name: str) -> dict[str, Any]:
    return {"type": "event", "name": {"operator": "eq", "value": name}}


def _funnels(rng: np.random.Generator, after_ms: int, before_ms: int) -> list[dict[str, Any]]:
    definitions = (
        ("Signup", "rocket", (("Homepage", _page_step("/")), ("Pricing", _page_step("/pricing")),
                              ("Signed up", _event_step("signup")))),
        # A blank step name: the API answers "Step 1" for it.
        ("Purchase", "credit-card", (("", _event_step("signup")),
                                     ("Purchased", _event_step("purchase")))),
        ("Blog to signup", None, (("Blog", _page_step("/blog")),
                                  ("Signup form", _page_step("/signup")),
                                  ("Signed up", _event_step("signup")))),
    )
    created = np.sort(rng.integers(after_ms + DAY_MS, before_ms - DAY_MS, size=len(definitions)))
    funnels = []
    for (name, icon, steps), created_ms in zip(definitions, created, strict=True):
        updated_ms = int(created_ms) + int(rng.integers(0, 3 * DAY_MS))
        funnels.append({
            "id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
            "name": name,
            "icon": icon,
            "steps": [{"id": str(step_id), "name": step_name, "filter": step_filter}
                      for step_id, (step_name, step_filter)
                      in zip(_nanoids(rng, len(steps)), steps, strict=True)],
            "createdAt": _ms_string(int(created_ms)),
            "updatedAt": _ms_string(min(updated_ms, before_ms - 1)),
        })
    return funnels


# --------------------------------------------------------------------------------------------
# Traffic simulation: visitors -> sessions -> events, as index arrays into the catalogues.


@dataclass
class Visitors:
    location: np.ndarray  # index into LOCATIONS
    device: np.ndarray  # index into DEVICES
    arrival: np.ndarray  # day index of the first session
    return_rate: np.ndarray  # mean returning sessions per remaining day
    signs_up: np.ndarray  # bool
    buys: np.ndarray  # bool, only where signs_up; a purchase after the range is dropped
    plan: np.ndarray  # index into PLANS
    annual: np.ndarray  # bool
    first_name: np.ndarray  # index into FIRST_NAMES; used only by those who sign up
    last_name: np.ndarray  # index into LAST_NAMES
    mail_domain: np.ndarray  # index into MAIL_DOMAINS
    company_size: np.ndarray  # index into COMPANY_SIZES
    has_avatar: np.ndarray  # bool
    power: np.ndarray  # bool: a power user (signs up in the first session, returns a lot)


@dataclass
class Sessions:
    visitor: np.ndarray
    channel: np.ndarray  # index into CHANNELS
    proposed_start_ms: np.ndarray  # from the window start, before spacing
    signup_here: np.ndarray  # bool: this session ends with the signup
    purchase_here: np.ndarray  # bool: this session ends with the purchase


@dataclass
class Traffic:
    """The simulation's result: parallel arrays, events sorted by time."""

    visitors: Visitors
    visitor_ids: np.ndarray  # uint64
    session_visitor: np.ndarray
    session_channel: np.ndarray
    session_start_ms: np.ndarray  # absolute epoch ms
    session_end_ms: np.ndarray
    session_ids: np.ndarray  # nanoid strings
    event_session: np.ndarray
    event_type: np.ndarray  # index into EVENT_NAMES / EVENT_DATA
    event_path: np.ndarray  # index into PATHS
    event_hash: np.ndarray  # index into HASHES
    event_ms: np.ndarray  # absolute epoch ms
    first_event: np.ndarray  # per session: row of its first event
    signup_ms: np.ndarray  # per visitor: time of the signup event, or int64 max


def _simulate(rng: np.random.Generator, users: int, window: Window) -> Traffic:
    visitors = _visitors(rng, users, window)
    sessions = _sessions(rng, visitors, window)
    items = _session_items(rng, sessions, visitors)
    return _place(rng, window, visitors, sessions, items)


def _visitors(rng: np.random.Generator, n: int, window: Window) -> Visitors:
    signs_up = rng.random(n) < SIGNUP_RATE
    visitors = Visitors(
        location=_draw(rng, [weight for *_, weight in LOCATIONS], n),
        device=_draw(rng, [weight for *_, weight in DEVICES], n),
        arrival=_draw(rng, window.weekday_weights(), n),
        return_rate=rng.gamma(RETURN_RATE_SHAPE, RETURN_RATE / RETURN_RATE_SHAPE, n),
        signs_up=signs_up,
        buys=signs_up & (rng.random(n) < PURCHASE_RATE),
        plan=_draw(rng, [weight for _, weight, _ in PLANS], n),
        annual=rng.random(n) < ANNUAL_BILLING,
        first_name=rng.integers(0, len(FIRST_NAMES), n),
        last_name=rng.integers(0, len(LAST_NAMES), n),
        mail_domain=rng.integers(0, len(MAIL_DOMAINS), n),
        company_size=_draw(rng, [weight for _, weight in COMPANY_SIZES], n),
        has_avatar=rng.random(n) < 0.3,
        power=np.zeros(n, dtype=bool),
    )
    _make_power_users(rng, visitors, window)
    return visitors


def _make_power_users(rng: np.random.Generator, visitors: Visitors, window: Window) -> None:
    """Turn a few visitors into power users: early arrivals who sign up, buy and return a lot."""
    n = len(visitors.arrival)
    count = power_user_count(n, window.days)
    if count == 0:
        return
    chosen = rng.choice(n, size=count, replace=False)
    activity = rng.uniform(*POWER_ACTIVITY, count)
    activity[0] = POWER_ACTIVITY[1]
    visitors.power[chosen] = True
    visitors.arrival[chosen] = rng.integers(0, min(POWER_ARRIVAL_DAYS, window.days), count)
    visitors.return_rate[chosen] = POWER_SESSIONS_PER_DAY * activity
    visitors.signs_up[chosen] = True
    visitors.buys[chosen] = True


def _sessions(rng: np.random.Generator, visitors: Visitors, window: Window) -> Sessions:
    visitor, start = _visits(rng, visitors, window)
    first_row = np.flatnonzero(np.r_[True, visitor[1:] != visitor[:-1]])
    count = np.diff(np.r_[first_row, len(visitor)])
    # The signup happens in one of the visitor's sessions; a purchase in the same session, or
    # in a session of its own some days later (dropped if that is after the range).
    signup_row = first_row + np.floor(rng.random(len(count)) * count).astype(np.int64)
    signup_row = np.where(visitors.power, first_row, signup_row)  # power users: right away
    same = rng.random(len(count)) < SAME_SESSION_PURCHASE
    purchase_start = start[signup_row] + _purchase_delays_ms(rng, len(count))
    later = visitors.buys & ~same & (purchase_start < window.days * DAY_MS)
    signup_here = np.zeros(len(visitor) + int(later.sum()), dtype=bool)
    purchase_here = signup_here.copy()
    signup_here[signup_row[visitors.signs_up]] = True
    purchase_here[signup_row[visitors.buys & same]] = True
    purchase_here[len(visitor):] = True
    visitor = np.r_[visitor, np.flatnonzero(later)]
    start = np.r_[start, purchase_start[later]]
    # Order each visitor's sessions by time: ordinals and channels follow it.
    order = np.lexsort((start, visitor))
    visitor = visitor[order]
    ordinal = np.arange(len(visitor)) - _segment_starts(visitor)
    return Sessions(
        visitor=visitor, channel=_channels(rng, ordinal),
        proposed_start_ms=start[order], signup_here=signup_here[order],
        purchase_here=purchase_here[order],
    )


def _visits(rng: np.random.Generator, visitors: Visitors,
            window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Each visitor's browsing sessions: the arrival and the returns, sorted by visitor and time.

    Returns the visitor of each session and its proposed start, in ms from the window start.
    """
    remaining = window.days - visitors.arrival
    per_day = np.where(visitors.power, POWER_MAX_SESSIONS_PER_DAY, MAX_SESSIONS_PER_DAY)
    returns = np.minimum(rng.poisson(visitors.return_rate * remaining), per_day * remaining - 1)
    visitor = np.repeat(np.arange(len(returns)), 1 + returns)
    ordinal = np.arange(len(visitor)) - _segment_starts(visitor)
    day = _session_days(rng, visitor, ordinal, visitors.arrival, window)
    offset = np.array([offset for _, _, offset, _ in LOCATIONS])[visitors.location[visitor]]
    utc_hour = (_draw(rng, HOUR_WEIGHTS, len(visitor)) - offset) % 24
    start = day * DAY_MS + utc_hour * HOUR_MS + rng.integers(0, HOUR_MS, len(visitor))
    order = np.lexsort((start, visitor))
    return visitor[order], start[order]


def _purchase_delays_ms(rng: np.random.Generator, n: int) -> np.ndarray:
    """Time from the signup session to a later purchase: a few days, or when the trial ends."""
    soon = rng.uniform(0.5, 6, n)
    trial_end = TRIAL_DAYS + rng.uniform(-2, 2, n)
    days = np.where(rng.random(n) < PURCHASE_AT_TRIAL_END, trial_end, soon)
    return (days * DAY_MS).astype(np.int64)


def _session_days(rng: np.random.Generator, visitor: np.ndarray, ordinal: np.ndarray,
                  arrival: np.ndarray, window: Window) -> np.ndarray:
    """First sessions on the arrival day; returns on a weekday-weighted day from then on."""
    cumulative = np.cumsum(window.weekday_weights())
    low = np.r_[0.0, cumulative][arrival[visitor]]
    u = low + rng.random(len(visitor)) * (cumulative[-1] - low)
    day = np.minimum(np.searchsorted(cumulative, u, side="right"), window.days - 1)
    return np.where(ordinal == 0, arrival[visitor], day)


def _channels(rng: np.random.Generator, ordinal: np.ndarray) -> np.ndarray:
    first = ordinal == 0
    channel = np.empty(len(ordinal), dtype=np.int64)
    channel[first] = _draw(rng, [c[8] for c in CHANNELS], int(first.sum()))
    channel[~first] = _draw(rng, [c[9] for c in CHANNELS], int((~first).sum()))
    return channel


@dataclass
class Items:
    """A session's events before they get times: which session, in what order, what."""

    session: np.ndarray
    event_type: np.ndarray
    path: np.ndarray
    hash: np.ndarray


def _session_items(rng: np.random.Generator, sessions: Sessions, visitors: Visitors) -> Items:
    n_sessions = len(sessions.visitor)
    power = visitors.power[sessions.visitor]
    bounce = rng.random(n_sessions) < np.where(power, POWER_BOUNCE_RATE, BOUNCE_RATE)
    extra = np.where(bounce, 0, rng.geometric(np.where(power, POWER_MORE_PAGES_P, MORE_PAGES_P)))
    pageviews = np.minimum(1 + extra, MAX_PAGEVIEWS)
    pv_session = np.repeat(np.arange(n_sessions), pageviews)
    position = np.arange(len(pv_session)) - _segment_starts(pv_session)
    channel_type = np.array([REFERRER_TYPES.index(c[2]) for c in CHANNELS])
    landing_cum = _cumulative([LANDING[t] for t in REFERRER_TYPES])
    landing = _draw_rows(rng, landing_cum, channel_type[sessions.channel])
    state = _walk(rng, pv_session, position, landing)
    slug = _draw(rng, SLUG_WEIGHTS, len(state))
    path = np.where(state == POST, STATE_PATH[POST] + slug, STATE_PATH[state])
    url_hash = _draw_rows(rng, _cumulative(HASH_BY_STATE), state)
    # Slots order the events of a session: 4 per pageview (itself, a click, an outbound link),
    # then the signup and purchase tails.
    parts = [(pv_session, 4 * position, np.full(len(state), PAGEVIEW), path, url_hash)]
    parts += _followers(rng, pv_session, position, state, path, url_hash)
    parts += _tails(sessions, visitors, 4 * pageviews)
    columns = (np.concatenate(column) for column in zip(*parts, strict=True))
    session, slot, event_type, path, url_hash = columns
    order = np.argsort(session * 1024 + slot, kind="stable")
    return Items(session[order], event_type[order], path[order], url_hash[order])


def _walk(rng: np.random.Generator, pv_session: np.ndarray, position: np.ndarray,
          landing: np.ndarray) -> np.ndarray:
    """The page state of each pageview: the landing page, then a Markov walk.

    Vectorised over sessions: one step per position, each drawing the next page for every
    session that is that long. Rows of a session are consecutive, so ``row - 1`` is the
    previous pageview.
    """
    state = landing[pv_session]
    by_position = np.argsort(position, kind="stable")
    bounds = np.searchsorted(position[by_position], np.arange(position.max() + 2))
    transitions = _cumulative(TRANSITIONS)
    for step in range(1, position.max() + 1):
        rows = by_position[bounds[step]:bounds[step + 1]]
        state[rows] = _draw_rows(rng, transitions, state[rows - 1])
    return state


def _followers(rng: np.random.Generator, pv_session: np.ndarray, position: np.ndarray,
               state: np.ndarray, path: np.ndarray, url_hash: np.ndarray) -> list[tuple]:
    """Clicks and outbound links fired on a page, after its pageview, on the same URL."""
    n = len(state)
    click = rng.random(n) < CLICK_RATE
    target = _draw_rows(rng, _cumulative(CLICK_BY_STATE), state[click])
    outbound = rng.random(n) < OUTBOUND_RATE
    href = _draw(rng, [weight for _, weight in OUTBOUND_LINKS], int(outbound.sum()))
    return [
        (pv_session[click], 4 * position[click] + 1, CLICK_BASE + target, path[click],
         url_hash[click]),
        (pv_session[outbound], 4 * position[outbound] + 2, OUTBOUND_BASE + href,
         path[outbound], url_hash[outbound]),
    ]


def _tails(sessions: Sessions, visitors: Visitors, first_slot: np.ndarray) -> list[tuple]:
    """The scripted ends of signup and purchase sessions, after the free browsing."""
    plan = visitors.plan[sessions.visitor]
    signup = np.flatnonzero(sessions.signup_here)
    purchase = np.flatnonzero(sessions.purchase_here)
    purchase_slot = first_slot[purchase] + 4 * sessions.signup_here[purchase]
    purchase_type = (PURCHASE_BASE + 2 * plan[purchase]
                     + visitors.annual[sessions.visitor[purchase]])
    pricing, signup_page, checkout = (STATE_PATH[s] for s in (PRICING, SIGNUP, CHECKOUT))

    def rows(where: np.ndarray, slot: np.ndarray, event_type: Any, path: int) -> tuple:
        n = len(where)
        return (where, slot, np.broadcast_to(event_type, n), np.full(n, path), np.zeros(n, int))

    return [
        rows(signup, first_slot[signup], PAGEVIEW, pricing),
        rows(signup, first_slot[signup] + 1, PAGEVIEW, signup_page),
        rows(signup, first_slot[signup] + 2, SIGNUP_BASE + plan[signup], signup_page),
        rows(purchase, purchase_slot, PAGEVIEW, checkout),
        rows(purchase, purchase_slot + 1, purchase_type, checkout),
    ]


def _gaps_ms(rng: np.random.Generator, items: Items) -> np.ndarray:
    """Time from the previous event of the session: minutes between pages, seconds otherwise."""
    n = len(items.session)
    reading = np.clip(rng.lognormal(np.log(40), 0.9, n), 3, 20 * 60)  # < 30 min, always
    acting = rng.uniform(0.5, 25, n)
    gaps = np.where(items.event_type == PAGEVIEW, reading, acting)
    gaps = (gaps * 1000).astype(np.int64)
    gaps[np.flatnonzero(np.r_[True, items.session[1:] != items.session[:-1]])] = 0
    return gaps


def _offsets(rng: np.random.Generator, items: Items) -> tuple[np.ndarray, np.ndarray]:
    """Each event's time from its session's start, and each session's duration, in ms."""
    elapsed = np.cumsum(_gaps_ms(rng, items))
    offset = elapsed - elapsed[_segment_starts(items.session)]
    last = np.r_[np.flatnonzero(np.diff(items.session)), len(items.session) - 1]
    return offset, offset[last]


def _place(rng: np.random.Generator, window: Window, visitors: Visitors, sessions: Sessions,
           items: Items) -> Traffic:
    """Give every event a time, keeping a visitor's sessions apart and inside the window."""
    offset, duration = _offsets(rng, items)
    last_ms = window.days * DAY_MS - 1001  # strictly before fixture.json's "now"
    start = _spaced_starts(sessions.visitor, np.minimum(sessions.proposed_start_ms,
                                                        last_ms - duration), duration)
    # Spacing pushes later sessions forward; those pushed past the end are dropped. They are
    # always the last ones of their visitor, so every visitor keeps a first session.
    kept = start + duration <= last_ms
    new_index = np.cumsum(kept) - 1
    keep_event = kept[items.session]
    event_session = new_index[items.session[keep_event]]
    event_ms = window.start_ms + start[items.session[keep_event]] + offset[keep_event]
    event_type = items.event_type[keep_event]
    order = np.argsort(event_ms, kind="stable")
    event_session, event_ms, event_type = event_session[order], event_ms[order], event_type[order]
    session_visitor = sessions.visitor[kept]
    return Traffic(
        visitors=visitors,
        visitor_ids=_uint64_ids(rng, len(visitors.arrival)),
        session_visitor=session_visitor,
        session_channel=sessions.channel[kept],
        session_start_ms=window.start_ms + start[kept],
        session_end_ms=window.start_ms + start[kept] + duration[kept],
        session_ids=_nanoids(rng, int(kept.sum())),
        event_session=event_session,
        event_type=event_type,
        event_path=items.path[keep_event][order],
        event_hash=items.hash[keep_event][order],
        event_ms=event_ms,
        first_event=_first_rows(event_session),
        signup_ms=_signup_times(event_type, event_ms, session_visitor[event_session],
                                len(visitors.arrival)),
    )


def _spaced_starts(visitor: np.ndarray, proposed: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """Session starts no earlier than proposed, each after the previous one's end plus spacing.

    ``start[i] = max(proposed[i], start[i-1] + duration[i-1] + spacing)`` within a visitor.
    With ``c[i]`` the visitor's running total of ``duration + spacing`` before session ``i``,
    ``start - c`` is the running maximum of ``proposed - c``: a grouped cummax, no loop.
    """
    step = duration + SESSION_SPACING_MS
    total = np.cumsum(step)
    before = total - step
    before = before - before[_segment_starts(visitor)]
    frame = pl.DataFrame({"visitor": visitor, "shifted": proposed - before})
    running = frame.select(pl.col("shifted").cum_max().over("visitor")).to_series().to_numpy()
    return running + before


def _first_rows(event_session: np.ndarray) -> np.ndarray:
    """Per session, the row of its first event in the time-sorted event arrays."""
    _, first = np.unique(event_session, return_index=True)  # every session has events
    return first


def _signup_times(event_type: np.ndarray, event_ms: np.ndarray, event_visitor: np.ndarray,
                  n_visitors: int) -> np.ndarray:
    signup_ms = np.full(n_visitors, NEVER, dtype=np.int64)
    is_signup = (event_type >= SIGNUP_BASE) & (event_type < PURCHASE_BASE)
    signup_ms[event_visitor[is_signup]] = event_ms[is_signup]  # one signup per visitor at most
    return signup_ms


# --------------------------------------------------------------------------------------------
# Frames in the dataset's schemas


@dataclass
class Frames:
    events: pl.DataFrame
    sessions: pl.DataFrame
    users: pl.DataFrame
    pageviews: int
    first_event: datetime


def _lookup(values: Sequence[Any], codes: np.ndarray, dtype: pl.DataType) -> pl.Series:
    return pl.Series(values=list(values), dtype=dtype).gather(codes)


def _column(table: Sequence[tuple], field: int, codes: np.ndarray) -> pl.Series:
    return _lookup([row[field] for row in table], codes, pl.String())


def _timestamps(epoch_ms: np.ndarray) -> pl.Series:
    return pl.Series(epoch_ms.astype(np.int64)).cast(TIMESTAMP)


CHANNEL_FIELDS = ("referrer", "referrerUrl", "referrerType", "utmSource", "utmMedium",
                  "utmCampaign", "utmContent", "utmTerm")


def _frames(traffic: Traffic, project_id: str, origin: str) -> Frames:
    people = _people(traffic)
    events = _events_frame(traffic, people, project_id, origin)
    sessions = _sessions_frame(traffic, events, project_id)
    users = _users_frame(traffic, people, project_id)
    pageviews = int((traffic.event_type == PAGEVIEW).sum())
    first_ms = int(traffic.event_ms.min())
    return Frames(events, sessions, users, pageviews,
                  datetime.fromtimestamp(first_ms / 1000, tz=UTC))


def _people(traffic: Traffic) -> pl.DataFrame:
    """Per visitor: id, and identifier/displayName for those who signed up ("" otherwise)."""
    v = traffic.visitors
    identified = pl.Series(traffic.signup_ms < NEVER)
    first = _lookup(FIRST_NAMES, v.first_name, pl.String())
    last = _lookup(LAST_NAMES, v.last_name, pl.String())
    # The visitor's number keeps identifiers unique however the names repeat.
    email = pl.concat_str(first.str.to_lowercase(), pl.lit("."), last.str.to_lowercase(),
                          pl.Series(np.arange(1, len(identified) + 1)).cast(pl.String),
                          pl.lit("@"), _lookup(MAIL_DOMAINS, v.mail_domain, pl.String()))
    return pl.select(
        userId=pl.Series(traffic.visitor_ids).cast(pl.String),
        identifier=pl.when(identified).then(email).otherwise(pl.lit("")),
        displayName=pl.when(identified).then(pl.concat_str(first, pl.lit(" "), last))
        .otherwise(pl.lit("")),
    )


def _events_frame(traffic: Traffic, people: pl.DataFrame, project_id: str,
                  origin: str) -> pl.DataFrame:
    n = len(traffic.event_ms)
    visitor = traffic.session_visitor[traffic.event_session]
    location = traffic.visitors.location[visitor]
    device = traffic.visitors.device[visitor]
    channel = traffic.session_channel[traffic.event_session]
    # Events from the signup on carry the user's identity; earlier ones are anonymous.
    identified = pl.Series(traffic.event_ms >= traffic.signup_ms[visitor])
    identity = people.select("identifier", "displayName")[visitor]
    columns = {
        "projectId": pl.repeat(project_id, n, eager=True),
        "userId": people["userId"].gather(visitor),
        "sessionId": pl.Series(traffic.session_ids).gather(traffic.event_session),
        "name": _lookup(EVENT_NAMES, traffic.event_type, pl.String()),
        "isPageView": pl.Series(traffic.event_type == PAGEVIEW),
        "createdAt": _timestamps(traffic.event_ms),
        "origin": pl.repeat(origin, n, eager=True),
        "pathname": _lookup(PATHS, traffic.event_path, pl.String()),
        "urlHash": _lookup(HASHES, traffic.event_hash, pl.String()),
        "countryCode": _column(LOCATIONS, 0, location),
        "city": _column(LOCATIONS, 1, location),
        "osName": _column(DEVICES, 1, device),
        "clientName": _column(DEVICES, 2, device),
        "deviceType": _column(DEVICES, 0, device),
        "userIdentifier": identity["identifier"].zip_with(identified, pl.repeat("", n, eager=True)),
        "userDisplayName": identity["displayName"].zip_with(identified,
                                                            pl.repeat("", n, eager=True)),
        **{name: _column(CHANNELS, i, channel) for i, name in enumerate(CHANNEL_FIELDS)},
        "customData": _lookup(EVENT_DATA, traffic.event_type, pl.String()),
    }
    frame = pl.DataFrame({name: series.alias(name) for name, series in columns.items()})
    return frame.cast({"projectId": pl.String(), **EVENT_SCHEMA})


def _sessions_frame(traffic: Traffic, events: pl.DataFrame, project_id: str) -> pl.DataFrame:
    start, end = traffic.session_start_ms, traffic.session_end_ms
    landing = events[traffic.first_event]
    # Whole seconds between the second-precision times the API shows for the session.
    duration = end // 1000 - start // 1000
    frame = landing.select(
        pl.lit(project_id).alias("projectId"),
        pl.Series("id", traffic.session_ids),
        "userId",
        _timestamps(start).alias("startedAt"),
        _timestamps(end).alias("endedAt"),
        pl.Series("duration", duration),
        "countryCode", "city", *CHANNEL_FIELDS, "origin", "pathname", "urlHash",
        pl.lit(False).alias("deleted"),
    )
    return frame.cast({"projectId": pl.String(), **SESSION_SCHEMA})


def _users_frame(traffic: Traffic, people: pl.DataFrame, project_id: str) -> pl.DataFrame:
    """One row per identified visitor: created at the signup, first seen at the first event."""
    v = traffic.visitors
    signed_up = np.flatnonzero(traffic.signup_ms < NEVER)
    # Kept sessions are grouped by visitor in time order and every visitor keeps one.
    _, first_session = np.unique(traffic.session_visitor, return_index=True)
    first_seen = traffic.session_start_ms[first_session[signed_up]]
    data = [_canonical({"company_size": size, "plan": plan})
            for size, _ in COMPANY_SIZES for plan, _, _ in PLANS]
    data_code = v.company_size[signed_up] * len(PLANS) + v.plan[signed_up]
    location = v.location[signed_up]
    avatar = pl.Series(v.has_avatar[signed_up])
    frame = people[signed_up].select(
        pl.lit(project_id).alias("projectId"),
        pl.col("userId").alias("id"),
        "identifier",
        "displayName",
        pl.when(avatar).then(pl.format("https://avatars.example.com/{}.png", "userId"))
        .otherwise(None).alias("avatarUrl"),
        _lookup(data, data_code, pl.String()).alias("data"),
        _column(LOCATIONS, 0, location).alias("countryCode"),
        _column(LOCATIONS, 1, location).alias("city"),
        _timestamps(traffic.signup_ms[signed_up]).alias("createdAt"),
        _timestamps(first_seen).alias("firstSeenAt"),
    )
    return frame.cast({"projectId": pl.String(), **USER_SCHEMA})
