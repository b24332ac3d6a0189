"""pandera (polars) models for every ``raw_vemetric`` table, and the quarantine for bad rows.

A page that does not have the API's shape never gets here (``landing.MalformedAnswer`` fails the
run). These models check *values* of well-formed rows: ids, ranges, the run's time window,
uniqueness. :func:`split_valid` keeps the rows that pass and turns every failing row into a
quarantine record (table, the checks it failed, a readable reason and the row as JSON with the
API's field names), landed in ``raw_vemetric._quarantine`` in the same transaction as the table.
A blocking asset check then fails the partition, naming the checks: nothing is dropped silently.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime

import orjson
import polars as pl


def _pandera_without_hypothesis() -> None:
    """Load pandera's check registry without hypothesis.

    pandera's built-in checks import its data-synthesis strategies, which import hypothesis
    whenever it is installed (here a test dependency): about a second of CPU in every sync
    process, for strategies landing never draws from. Where hypothesis is already imported
    (a test session) nothing changes; afterwards ``import hypothesis`` works as usual.
    """
    if "hypothesis" in sys.modules or "pandera.strategies.base_strategies" in sys.modules:
        return
    sys.modules["hypothesis"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import pandera.strategies.base_strategies  # noqa: F401
    finally:
        del sys.modules["hypothesis"]


_pandera_without_hypothesis()

import pandera.polars as pa  # noqa: E402
from pandera.errors import SchemaErrors  # noqa: E402

__all__ = [
    "QUARANTINE_COLUMNS",
    "FIELD_TOKENS",
    "ValidationFailed",
    "MODELS",
    "split_valid",
]

# The 15 grouping tokens that are also filter-values fields (vemetric-api.md §7.2, §7.3).
FIELD_TOKENS = (
    "country", "city", "page:origin", "page:path", "browser", "deviceType", "os", "referrer",
    "referrerType", "utmCampaign", "utmContent", "utmMedium", "utmSource", "utmTerm", "event:name",
)
UTC_MS = pl.Datetime(time_unit="ms", time_zone="UTC")


class StrictModel(pa.DataFrameModel):
    """Every raw table's model: a column the model does not name is an error, not ignored."""

    class Config:
        strict = True
_DIGITS = r"^\d+$"
_GROUPING = r"^(|interval:auto|event:prop:[^\r\n]+|" + "|".join(FIELD_TOKENS) + ")$"
_CANONICAL_OBJECT = r"^\{.*\}$"

QUARANTINE_COLUMNS: dict[str, pl.DataType] = {
    "table_name": pl.String(),
    "checks": pl.String(),   # "column:check" names, sorted, comma separated
    "reason": pl.String(),   # the failing values, readable
    "raw": pl.String(),      # the row as received, JSON with the API's field names
}


class ValidationFailed(ValueError):
    """Validation could not run row by row (a missing column or a wrong dtype): a code bug."""


class Project(StrictModel):
    id: str = pa.Field(str_length={"min_value": 1})
    name: str
    domain: str
    token: str
    created_at: UTC_MS
    first_event_at: UTC_MS = pa.Field(nullable=True)
    has_public_dashboard: bool
    excluded_ips: pl.List(pl.String())
    excluded_countries: pl.List(pl.String())


class Funnels(StrictModel):
    id: str = pa.Field(str_length={"min_value": 1}, unique=True)
    name: str
    icon: str = pa.Field(nullable=True)
    steps: str = pa.Field(str_matches=r"^\[.*\]$")
    created_at: UTC_MS
    updated_at: UTC_MS


class Users(StrictModel):
    id: str = pa.Field(str_matches=_DIGITS, unique=True)
    identifier: str = pa.Field(nullable=True)
    display_name: str = pa.Field(nullable=True)
    country: str = pa.Field(nullable=True)
    city: str = pa.Field(nullable=True)
    last_seen_at: UTC_MS
    last_event_fired_at: UTC_MS = pa.Field(nullable=True)
    avatar_url: str = pa.Field(nullable=True)
    data: str = pa.Field(str_matches=_CANONICAL_OBJECT)
    anonymous: bool


class UserEvents(StrictModel):
    user_id: str = pa.Field(str_matches=_DIGITS)
    session_id: str = pa.Field(str_length={"min_value": 1})
    name: str = pa.Field(str_length={"min_value": 1})
    is_page_view: bool
    created_at: UTC_MS
    origin: str = pa.Field(nullable=True)
    path: str = pa.Field(nullable=True)
    hash: str = pa.Field(nullable=True)
    data: str = pa.Field(str_matches=_CANONICAL_OBJECT)
    partition_date: pl.Date


class Analytics(StrictModel):
    group_by: str = pa.Field(str_matches=_GROUPING)
    group_value: str
    users: int = pa.Field(ge=0)
    pageviews: int = pa.Field(ge=0)
    events: int = pa.Field(ge=0)
    bounce_rate: float = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 100})
    visit_duration: float = pa.Field(nullable=True, ge=0)
    period_from: UTC_MS
    period_to: UTC_MS


class FunnelResults(StrictModel):
    funnel_id: str = pa.Field(str_length={"min_value": 1})
    active_users: int = pa.Field(ge=0)
    conversion_rate: float = pa.Field(in_range={"min_value": 0, "max_value": 100})
    active_user_conversion_rate: float = pa.Field(in_range={"min_value": 0, "max_value": 100})
    steps: str = pa.Field(str_matches=r"^\[.*\]$")
    period_from: UTC_MS
    period_to: UTC_MS


class FilterValues(StrictModel):
    field: str = pa.Field(isin=list(FIELD_TOKENS))
    position: int = pa.Field(ge=0)
    value: str = pa.Field(str_length={"min_value": 1})


MODELS: dict[str, type[pa.DataFrameModel]] = {
    "project": Project,
    "funnels": Funnels,
    "users": Users,
    "user_events": UserEvents,
    "analytics": Analytics,
    "funnel_results": FunnelResults,
    "filter_values": FilterValues,
}

# Per table, the timestamp columns that must fall inside the run's window [start, end).
_WINDOWED = {"users": ("last_seen_at",), "user_events": ("created_at",)}


def schema_for(table: str, window: tuple[datetime, datetime] | None = None, *,
               models: Mapping[str, type[pa.DataFrameModel]] = MODELS,
               windowed: Mapping[str, tuple[str, ...]] = _WINDOWED,
               duplicates: Mapping[str, pl.Series] | None = None) -> pa.DataFrameSchema:
    """The table's schema, with the run's time window added where rows carry event times.

    ``models`` and ``windowed`` name a source's tables (Vemetric's by default).
    ``duplicates`` is for a table validated in parts: per ``unique`` column, the values the
    caller found more than once over the whole table. Each part then fails exactly the rows
    that validating the whole table at once would fail, with the same check name."""
    schema = models[table].to_schema()
    for column, values in (duplicates or {}).items():
        if not schema.columns[column].unique:
            raise ValueError(f"{table}.{column} is not unique: no duplicates to check for")
        checks = [*schema.columns[column].checks, _not_listed_twice(values)]
        schema = schema.update_column(column, unique=False, checks=checks)
    if window is not None:
        start, end = window
        for column in windowed.get(table, ()):
            checks = [*schema.columns[column].checks, pa.Check.ge(start), pa.Check.lt(end)]
            schema = schema.update_column(column, checks=checks)
    return schema


def _not_listed_twice(values: pl.Series) -> pa.Check:
    """pandera's ``unique`` over a whole table, for one part of it: fails the given values
    (found more than once in the whole table), under the built-in check's name."""
    listed_twice = values.implode()
    return pa.Check(
        lambda data: data.lazyframe.select(~pl.col(data.key).is_in(listed_twice)),
        name="field_uniqueness",
    )


def split_valid(
    table: str,
    frame: pl.DataFrame,
    api_names: Mapping[str, str],
    window: tuple[datetime, datetime] | None = None,
    *,
    models: Mapping[str, type[pa.DataFrameModel]] = MODELS,
    windowed: Mapping[str, tuple[str, ...]] = _WINDOWED,
    duplicates: Mapping[str, pl.Series] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(rows that pass, quarantine records)`` for ``frame`` validated as ``table``.

    Only the model's columns are validated; other columns of ``frame`` (such as the range a row
    belongs to) are carried along. ``api_names`` maps columns back to the API's field names for
    the quarantined row's JSON. ``models``/``windowed`` select another source's models;
    ``duplicates`` validates ``frame`` as one part of a larger table (:func:`schema_for`).
    """
    schema = schema_for(table, window, models=models, windowed=windowed, duplicates=duplicates)
    missing = [c for c in schema.columns if c not in frame.columns]
    if missing:
        raise ValidationFailed(f"{table}: frame has no column(s) {missing}")
    try:
        schema.validate(frame.select(list(schema.columns)), lazy=True)
        return frame, pl.DataFrame(schema=QUARANTINE_COLUMNS)
    except SchemaErrors as exc:
        failures = exc.failure_cases
    if failures["index"].null_count():
        structural = failures.filter(pl.col("index").is_null())
        raise ValidationFailed(f"{table}: {structural.select('column', 'check').rows()}")
    per_row = (
        failures.with_columns(name=pl.col("column") + ":" + pl.col("check"),
                              what=pl.col("column") + "=" + pl.col("failure_case").cast(pl.String))
        .group_by("index")
        .agg(pl.col("name").unique().sort().str.join(","), pl.col("what").unique().sort().str.join("; "))
        .sort("index")
    )
    bad = per_row["index"].cast(pl.UInt32)
    keep = frame.with_row_index("_row").filter(~pl.col("_row").is_in(bad.implode())).drop("_row")
    records = pl.DataFrame(
        {
            "table_name": [table] * per_row.height,
            "checks": per_row["name"],
            "reason": per_row.select(pl.lit("failed: ") + pl.col("what")).to_series(),
            "raw": [_raw_json(row, api_names) for row in frame[bad].to_dicts()],
        },
        schema=QUARANTINE_COLUMNS,
    )
    return keep, records


def _raw_json(row: dict, api_names: Mapping[str, str]) -> str:
    renamed = {api_names.get(column, column): _as_sent(value) for column, value in row.items()}
    return orjson.dumps(renamed, default=str, option=orjson.OPT_SORT_KEYS).decode()


def _as_sent(value: object) -> object:
    # Times back in the API's own notation (second precision, Z), not Python's isoformat.
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value
