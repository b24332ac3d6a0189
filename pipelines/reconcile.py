"""Reconciliation: do the local models say what the API said?

For every synced range, every grouping the API answered (``raw_vemetric.analytics``) and every
funnel (``raw_vemetric.funnel_results``) is recomputed from the marts and compared: integers
equal, rates equal to 2 decimals (the API's figure is our exact rate rounded to 2 decimals;
at an exact tie either way, since ClickHouse rounds bounce rate half to even and JavaScript's
``toFixed`` rounds half up). Each comparison is one :class:`Outcome`:

``passed``          every metric of every row agrees
``failed``          some row differs; ``differences`` lists them (value, metric, api, local)
``not_rebuildable`` the API's definition needs data the sync cannot get; ``reason`` says what

What cannot be rebuilt, and why: ``/v1/users/events`` gives each event only its session,
name, page and properties, so groupings by an event's own country, city, browser, device,
OS, referrer or UTM tags have nothing to group on (``/v1/users`` gives a user's latest
country, not each event's). Visit duration needs whole sessions: a session whose first event
lies within 30 minutes of the first synced day (it may have started earlier) or whose last
event lies within 30 minutes of the end of the synced days (it may have gone on) cannot be
measured, so a range holding one is not counted as passed for that metric.

    outcomes = reconcile(conn)                       # every synced range
    print(summary_lines(outcomes))
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import duckdb
import orjson
import polars as pl

from pipelines.breakdowns import breakdown_frame
from pipelines.models import install_macros

__all__ = ["FAMILIES", "NOT_REBUILDABLE", "Outcome", "family_of", "reconcile", "summary_lines",
           "markdown_table"]

RATE_TOLERANCE = 0.005 + 1e-9  # half a cent of a percent/second: "equal to 2 decimals"
COUNTS = ("users", "pageviews", "events")

_NO_EVENT_FIELD = ("the API's user-events endpoint does not give each event's {what}, and "
                   "Vemetric groups every event by its own {what}")
NOT_REBUILDABLE = {
    "country": _NO_EVENT_FIELD.format(what="country") + " (/v1/users only gives each user's "
               "latest country)",
    "city": _NO_EVENT_FIELD.format(what="city") + " (/v1/users only gives each user's "
            "latest city)",
    "browser": _NO_EVENT_FIELD.format(what="browser"),
    "deviceType": _NO_EVENT_FIELD.format(what="device type"),
    "os": _NO_EVENT_FIELD.format(what="operating system"),
    **{token: _NO_EVENT_FIELD.format(what=what) for token, what in (
        ("referrer", "referrer"), ("referrerType", "referrer type"),
        ("utmCampaign", "UTM campaign"), ("utmContent", "UTM content"),
        ("utmMedium", "UTM medium"), ("utmSource", "UTM source"), ("utmTerm", "UTM term"))},
}

# Dagster checks and summaries group the comparisons by what they compare.
FAMILIES = ("aggregate", "interval", "pages", "events", "locations", "devices", "channels",
            "funnels")


def family_of(kind: str, subject: str) -> str:
    if kind == "funnel":
        return "funnels"
    if subject == "":
        return "aggregate"
    if subject == "interval:auto":
        return "interval"
    if subject.startswith("page:"):
        return "pages"
    if subject.startswith("event:"):
        return "events"
    if subject in ("country", "city"):
        return "locations"
    if subject in ("browser", "deviceType", "os"):
        return "devices"
    return "channels"


@dataclass
class Outcome:
    """One comparison: an analytics grouping or a funnel, over one synced range."""

    kind: str                    # "analytics" | "funnel"
    subject: str                 # grouping token ('' for the aggregate) or funnel id
    first: date
    last: date
    status: str                  # "passed" | "failed" | "not_rebuildable"
    reason: str = ""
    rows: int = 0                # rows (groups or steps) the API gave
    differences: pl.DataFrame = field(default_factory=lambda: _differences([]))
    label: str = ""

    @property
    def family(self) -> str:
        return family_of(self.kind, self.subject)

    @property
    def name(self) -> str:
        what = self.label or self.subject or "aggregate"
        return f"{self.kind} {what} {self.first}..{self.last}"

    def describe(self) -> str:
        text = f"{self.status.upper().replace('_', ' ')}: {self.name}"
        if self.status == "failed":
            text += f" ({self.differences.height} difference(s))"
        if self.reason:
            text += f": {self.reason}"
        return text


def reconcile(conn: duckdb.DuckDBPyConnection, first: date | None = None,
              last: date | None = None,
              kinds: tuple[str, ...] = ("analytics", "funnel")) -> list[Outcome]:
    """Compare every synced range inside ``first``..``last`` (all when None); ``kinds``
    limits it to the analytics groupings or the funnels."""
    install_macros(conn)
    outcomes = []
    if "analytics" in kinds:
        coverage = _Coverage.load(conn)
        outcomes += [_analytics_outcome(conn, coverage, *key)
                     for key in _analytics_keys(conn, first, last)]
    if "funnel" in kinds:
        outcomes += [_funnel_outcome(conn, *key) for key in _funnel_keys(conn, first, last)]
    return outcomes


def _within(first: date | None, last: date | None) -> tuple[str, dict]:
    return ("($first is null or date_from >= $first) and ($last is null or date_to <= $last)",
            {"first": first, "last": last})


def _analytics_keys(conn, first, last) -> list[tuple]:
    where, params = _within(first, last)
    return conn.execute(f"select distinct date_from, date_to, group_by from raw_vemetric.analytics"
                        f" where {where} order by all", params).fetchall()


def _funnel_keys(conn, first, last) -> list[tuple]:
    where, params = _within(first, last)
    return conn.execute(f"select distinct date_from, date_to, funnel_id from "
                        f"raw_vemetric.funnel_results where {where} order by all",
                        params).fetchall()


# --- analytics -----------------------------------------------------------------------------

def _analytics_outcome(conn, coverage: _Coverage, first: date, last: date,
                       grouping: str) -> Outcome:
    api = conn.execute(
        "select group_value as value, users, pageviews, events, bounce_rate, visit_duration "
        "from raw_vemetric.analytics where date_from = $f and date_to = $l and group_by = $g",
        {"f": first, "l": last, "g": grouping}).pl()
    outcome = Outcome("analytics", grouping, first, last, "passed", rows=api.height)
    if grouping in NOT_REBUILDABLE:
        outcome.status, outcome.reason = "not_rebuildable", NOT_REBUILDABLE[grouping]
        return outcome
    local = _local_rows(conn, grouping, first, last)
    differences = _compare_rows(api, local)
    if differences:
        outcome.status = "failed"
        outcome.differences = _differences(differences)
        return outcome
    rates_apply = grouping in ("", "interval:auto")
    if rates_apply:
        unsure = coverage.unsure_sessions(conn, first, last)
        if unsure:
            outcome.status = "not_rebuildable"
            outcome.reason = (f"visitDuration: {unsure} session(s) starting in the range touch "
                              "the edge of the synced days (within 30 minutes), so their "
                              "start or end is unknown; every other metric agrees")
    return outcome


DAILY_DIMENSIONS = ("", "page:origin", "page:path", "event:name")


def _local_rows(conn, grouping: str, first: date, last: date) -> pl.DataFrame:
    """A single day's answer comes from marts.daily_metrics (so the mart itself is checked),
    any other range's from the events and sessions marts."""
    if first != last or grouping not in DAILY_DIMENSIONS:
        return breakdown_frame(conn, grouping or None, first, last)
    daily = conn.execute(
        "select value, users, pageviews, events, bounced_buckets, pageview_buckets, "
        "duration_seconds_total, duration_sessions from marts.daily_metrics "
        "where day = $day and dimension = $dimension", {"day": first, "dimension": grouping}).pl()
    if grouping == "" and daily.is_empty():  # a day without events: the API's all-zero row
        return breakdown_frame(conn, None, first, last)
    return daily


def _compare_rows(api: pl.DataFrame, local: pl.DataFrame) -> list[dict]:
    """Rows matched on the group label (and their order among equal labels)."""
    api_rows = _by_label(api.to_dicts())
    local_rows = _by_label(local.to_dicts())
    found = []
    for key in sorted(set(api_rows) | set(local_rows)):
        ours, theirs = local_rows.get(key), api_rows.get(key)
        if ours is None or theirs is None:
            found.append({"value": key[0], "metric": "(row)",
                          "api": "present" if theirs else "missing",
                          "local": "present" if ours else "missing"})
            continue
        found += [{"value": key[0], "metric": m, "api": _text(a), "local": _text(b)}
                  for m, a, b in _metric_pairs(theirs, ours) if not _agrees(m, a, b)]
    return found


def _by_label(rows: list[dict]) -> dict[tuple[str, int], dict]:
    seen: Counter = Counter()
    keyed = {}
    for row in sorted(rows, key=lambda r: (r["value"], r["users"], r["pageviews"], r["events"])):
        keyed[(row["value"], seen[row["value"]])] = row
        seen[row["value"]] += 1
    return keyed


def _metric_pairs(api: dict, local: dict) -> list[tuple[str, object, object]]:
    pairs = [(m, api[m], local[m]) for m in COUNTS]
    pairs.append(("bounceRate", api["bounce_rate"],
                  _ratio(local["bounced_buckets"], local["pageview_buckets"], 100)))
    pairs.append(("visitDuration", api["visit_duration"],
                  _ratio(local["duration_seconds_total"], local["duration_sessions"], 1)))
    return pairs


def _ratio(part, whole, scale: float) -> float | None:
    if part is None or whole is None:
        return None  # the metric does not apply to this grouping
    return 0.0 if whole == 0 else scale * float(part) / float(whole)


def _agrees(metric: str, api, local) -> bool:
    if api is None or local is None:
        return api is None and local is None
    if metric in COUNTS:
        return int(api) == int(local)
    return abs(float(api) - float(local)) <= RATE_TOLERANCE


def _text(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def _differences(rows: list[dict]) -> pl.DataFrame:
    schema = {"value": pl.String, "metric": pl.String, "api": pl.String, "local": pl.String}
    return pl.DataFrame(rows, schema=schema)


@dataclass(frozen=True)
class _Coverage:
    """Which days were synced, and the project's first event (nothing happened before it)."""

    first_event_at: object

    @classmethod
    def load(cls, conn) -> _Coverage:
        row = conn.execute("select min(first_event_at) from raw_vemetric.project").fetchone()
        return cls(row[0])

    def unsure_sessions(self, conn, first: date, last: date) -> int:
        """Sessions starting first..last whose start or end the synced days cannot show."""
        return conn.execute("""
            with synced as (select day, synced_at from stg_vemetric.synced_days)
            select count(*)
            from marts.sessions s
            left join synced before on before.day = cast(timezone('UTC', s.started_at - interval 30 minutes) as date)
            left join synced after on after.day = cast(timezone('UTC', s.ended_at + interval 30 minutes) as date)
            where s.day between $first and $last
              and ((before.day is null
                    and ($first_event is null or s.started_at - interval 30 minutes >= $first_event))
                   or after.day is null
                   or after.synced_at < s.ended_at + interval 30 minutes)
            """, {"first": first, "last": last, "first_event": self.first_event_at}).fetchone()[0]


# --- funnels -------------------------------------------------------------------------------

def _funnel_outcome(conn, first: date, last: date, funnel_id: str) -> Outcome:
    api = conn.execute(
        "select r.active_users, r.conversion_rate, r.active_user_conversion_rate, r.steps, "
        "f.name from raw_vemetric.funnel_results r left join raw_vemetric.funnels f "
        "on f.id = r.funnel_id where r.funnel_id = $id and r.date_from = $f and r.date_to = $l",
        {"id": funnel_id, "f": first, "l": last}).fetchone()
    active, rate, active_rate, steps_json, name = api
    steps = orjson.loads(steps_json)
    local = conn.execute(
        "select step_id, step_name, users, active_users from marts.funnel_steps "
        "where funnel_id = $id and date_from = $f and date_to = $l order by step_index",
        {"id": funnel_id, "f": first, "l": last}).fetchall()
    outcome = Outcome("funnel", funnel_id, first, last, "passed", rows=len(steps),
                      label=f"'{name}'" if name else funnel_id)
    differences = _compare_funnel(steps, local, active, rate, active_rate)
    if differences:
        outcome.status, outcome.differences = "failed", _differences(differences)
    return outcome


def _compare_funnel(steps: list[dict], local: list[tuple], active, rate,
                    active_rate) -> list[dict]:
    if [s["id"] for s in steps] != [row[0] for row in local]:
        return [{"value": "steps", "metric": "id", "api": ",".join(s["id"] for s in steps),
                 "local": ",".join(row[0] for row in local)}]
    users = [row[2] for row in local]
    local_active = local[0][3] if local else 0
    found = []
    for index, (step, row) in enumerate(zip(steps, local)):
        previous = users[index - 1] if index else users[index]
        pairs = [("users", step["users"], row[2]),
                 ("conversionRate", step["conversionRate"], _ratio(row[2], previous, 100)),
                 ("name", step["name"], row[1])]
        found += [{"value": step["id"], "metric": m, "api": _text(a), "local": _text(b)}
                  for m, a, b in pairs if not _same(m, a, b)]
    last_users, first_users = (users[-1], users[0]) if users else (0, 0)
    totals = [("activeUsers", active, local_active),
              ("conversionRate", rate, _ratio(last_users, first_users, 100)),
              ("activeUserConversionRate", active_rate, _ratio(last_users, local_active, 100))]
    found += [{"value": "(funnel)", "metric": m, "api": _text(a), "local": _text(b)}
              for m, a, b in totals if not _same(m, a, b)]
    return found


def _same(metric: str, api, local) -> bool:
    if metric == "name":
        return api == local
    if metric in ("users", "activeUsers"):
        return int(api) == int(local)
    return _agrees(metric, api, local)


# --- reporting -----------------------------------------------------------------------------

def summary_lines(outcomes: list[Outcome]) -> list[str]:
    """One line per family: how many comparisons passed, failed or cannot be rebuilt, with
    the first failure's detail and the reason for what cannot be rebuilt."""
    lines = []
    # Vemetric's families in their order, then any other source's (EngageTrack's) as met.
    others = dict.fromkeys(o.family for o in outcomes if o.family not in FAMILIES)
    for family in (*FAMILIES, *others):
        members = [o for o in outcomes if o.family == family]
        if not members:
            continue
        counts = Counter(o.status for o in members)
        verdict = ("FAILED" if counts["failed"] else
                   "NOT REBUILDABLE" if counts["not_rebuildable"] else "passed")
        parts = [f"{counts[s]} {s.replace('_', ' ')}" for s in
                 ("passed", "failed", "not_rebuildable") if counts[s]]
        line = f"reconcile {family}: {verdict} ({', '.join(parts)})"
        failed = [o for o in members if o.status == "failed"]
        unsure = [o for o in members if o.status == "not_rebuildable"]
        if failed:
            line += f"; first: {failed[0].describe()}"
        elif unsure:
            line += f"; {unsure[0].reason}"
        lines.append(line)
    return lines


def markdown_table(frame: pl.DataFrame, limit: int = 50) -> str:
    """A frame as a Markdown table (Dagster metadata), at most ``limit`` rows."""
    if frame.is_empty():
        return "(no rows)"
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
            for row in frame.head(limit).iter_rows()]
    more = [f"\n… {frame.height - limit} more row(s)"] if frame.height > limit else []
    return "\n".join([head, rule, *body, *more])
