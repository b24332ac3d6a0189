"""Funnels beyond the API: any window, step order, counting unit and breakdown, from the marts.

The defaults are Vemetric's (``specs/vemetric-api.md`` §8): per user, ``ordered`` (steps in
order, anything in between, ClickHouse's windowFunnel), 7 days from the first step. As
analysts know from PostHog and Mixpanel (``specs/peer-apis.md`` §5):

``order``      ``ordered`` | ``strict`` (each step the very next event of the unit) |
               ``any`` (steps in any order: level n = n distinct steps within the window)
``by``         ``user`` | ``session`` (the source's session id)
``window``     a ``timedelta``, measured from the chain's first step
``breakdown``  a column of the unit: for users ``country``, ``city``, ``anonymous``; for
               sessions also ``landing_path``, ``landing_origin``, ``exit_path``, ``day``
               (first touch: the unit's own value)

Time to convert is the seconds from the chain's first step to the step: for ``ordered`` the
chain that first reached it, for ``strict`` the fastest chain; ``any`` has none. Steps are
given in the API's funnel-step format, or as ``"page:/pricing"`` / ``"event:signup"``; the SQL
is a fixed template and every value (steps, window, dimension) is a parameter or a registered
frame, never text spliced into it.

    frame = funnel_frame(conn, ["page:/", "page:/pricing", "event:signup"],
                         date(2026, 1, 1), date(2026, 1, 31), window=timedelta(days=1))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import polars as pl
import yaml

from pipelines.models import SQL_DIR, install_macros

__all__ = ["BREAKDOWNS", "ORDERS", "UNITS", "FunnelError", "FunnelSpec", "funnel_frame",
           "load_funnel_file", "parse_steps"]

ORDERS = ("ordered", "strict", "any")
UNITS = ("user", "session")
BREAKDOWNS = {
    "user": ("country", "city", "anonymous"),
    "session": ("country", "city", "landing_path", "landing_origin", "exit_path", "day"),
}
VEMETRIC_WINDOW = timedelta(hours=168)
QUERIES = SQL_DIR / "queries"
STEP_COLUMNS = ("step_index", "step_id", "step_name", "step_type", "origin_op", "origin_value",
                "path_op", "path_value", "hash_op", "hash_value", "name_op", "name_value",
                "properties")


class FunnelError(ValueError):
    """A funnel that cannot be computed as asked: bad steps, order, unit or breakdown."""


@dataclass(frozen=True)
class FunnelSpec:
    """A named funnel: its steps in the API's format (from Vemetric, YAML or a notebook)."""

    name: str
    steps: tuple[dict, ...]


def load_funnel_file(path: str | Path) -> dict[str, FunnelSpec]:
    """Funnels defined only in the warehouse, from YAML::

        funnels:
          - name: Pricing to signup
            steps: ["page:/pricing", "page:/signup", "event:signup"]
    """
    try:
        document = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise FunnelError(f"{path}: not valid YAML: {exc}") from exc
    entries = document.get("funnels") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise FunnelError(f"{path}: expected a top-level 'funnels:' list")
    specs = {}
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise FunnelError(f"{path}: funnel {number} needs a 'name'")
        specs[entry["name"]] = FunnelSpec(entry["name"], tuple(parse_steps(entry.get("steps"))))
    return specs


def parse_steps(steps: Any) -> list[dict]:
    """Steps as ``{"id", "name", "filter"}`` dicts, from the API's format or the shorthand."""
    if not isinstance(steps, Sequence) or isinstance(steps, str) or not steps:
        raise FunnelError("a funnel needs a non-empty list of steps")
    return [_step(step, index) for index, step in enumerate(steps)]


def _step(step: Any, index: int) -> dict:
    if isinstance(step, str):
        kind, _, value = step.partition(":")
        if kind == "page" and value:
            return {"id": f"step_{index + 1}", "name": value,
                    "filter": {"type": "page", "path": {"operator": "eq", "value": value}}}
        if kind == "event" and value:
            return {"id": f"step_{index + 1}", "name": value,
                    "filter": {"type": "event", "name": {"operator": "eq", "value": value}}}
        raise FunnelError(f"step {index + 1}: expected 'page:<path>' or 'event:<name>', "
                          f"got {step!r}")
    if isinstance(step, dict) and "filter" not in step and "type" in step:
        step = {"filter": step}
    if not isinstance(step, dict) or not isinstance(step.get("filter"), dict) \
            or step["filter"].get("type") not in ("page", "event"):
        raise FunnelError(f"step {index + 1}: expected a page or event step filter, got {step!r}")
    return {"id": str(step.get("id") or f"step_{index + 1}"), "name": step.get("name") or "",
            "filter": step["filter"]}


def _steps_frame(steps: list[dict]) -> pl.DataFrame:
    """The steps as the rows ``stg_vemetric.funnel_steps`` has, for the template to match on."""
    rows = []
    for index, step in enumerate(steps):
        f = step["filter"]
        hash_value = (f.get("hash") or {}).get("value")
        rows.append({
            "step_index": index, "step_id": step["id"],
            "step_name": step["name"].strip() or f"Step {index + 1}", "step_type": f["type"],
            **{f"{part}_op": (f.get(part) or {}).get("operator") for part in
               ("origin", "path", "hash", "name")},
            "origin_value": (f.get("origin") or {}).get("value"),
            "path_value": (f.get("path") or {}).get("value"),
            "hash_value": "#" + hash_value if hash_value else hash_value,
            "name_value": (f.get("name") or {}).get("value"),
            "properties": orjson.dumps(f.get("properties") or []).decode(),
        })
    return pl.DataFrame(rows, schema={c: pl.Int64 if c == "step_index" else pl.String
                                      for c in STEP_COLUMNS})


def funnel_frame(conn: duckdb.DuckDBPyConnection, steps: Any, first: date, last: date, *,
                 window: timedelta = VEMETRIC_WINDOW, order: str = "ordered",
                 by: str = "user", breakdown: str | None = None,
                 source: str | None = None) -> pl.DataFrame:
    """One row per (breakdown value, step): the count of units reaching the step, conversion
    from the previous and the first step (percent, 2 decimals), drop-off, and median / p90
    seconds to convert. Days ``first``..``last`` are UTC and inclusive; ``source`` keeps one
    source's events (``marts.events.source``), None all of them."""
    parsed = parse_steps(steps)
    _check_options(first, last, window, order, by, breakdown)
    install_macros(conn)
    conn.register("fh_funnel_steps", _steps_frame(parsed))
    try:
        sql = "\n".join([_template("funnel_head.sql"), _template(f"funnel_{order}.sql"),
                         _template("funnel_tail.sql")])
        params = {"first": first, "last": last, "window": int(window.total_seconds()),
                  "by": by, "breakdown": breakdown or "", "step_count": len(parsed),
                  "source": source}
        frame = conn.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).pl()
    finally:
        conn.unregister("fh_funnel_steps")
    return frame.rename({"units": "users" if by == "user" else "sessions"})


def _check_options(first: date, last: date, window: timedelta, order: str, by: str,
                   breakdown: str | None) -> None:
    if last < first:
        raise FunnelError(f"range ends ({last}) before it starts ({first})")
    if order not in ORDERS:
        raise FunnelError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if by not in UNITS:
        raise FunnelError(f"by must be one of {', '.join(UNITS)}, got {by!r}")
    if window <= timedelta(0):
        raise FunnelError(f"window must be positive, got {window}")
    if breakdown is not None and breakdown not in BREAKDOWNS[by]:
        raise FunnelError(f"cannot break a funnel by {by} down by {breakdown!r}: expected one "
                          f"of {', '.join(BREAKDOWNS[by])}")


def _template(name: str) -> str:
    return (QUERIES / name).read_text()
