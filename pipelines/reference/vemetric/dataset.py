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

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.reference.fixture_fields import ABSENT as _ABSENT
from pipelines.reference.fixture_fields import Bad as _Bad
from pipelines.reference.fixture_fields import FieldError as _FieldError
from pipelines.reference.fixture_fields import as_list, as_object, distinct_json_objects
from pipelines.reference.fixture_fields import canonical_json as canonical_json
from pipelines.reference.fixture_fields import distinct_timestamps, get, json_rows, read_json
from pipelines.reference.fixture_fields import flag as _flag
from pipelines.reference.fixture_fields import flag_default_false as _flag_default_false
from pipelines.reference.fixture_fields import identifier as _id
from pipelines.reference.fixture_fields import json_object as _json_object
from pipelines.reference.fixture_fields import nullable_string as _nullable_string
from pipelines.reference.fixture_fields import nullable_timestamp as _nullable_timestamp
from pipelines.reference.fixture_fields import shown as _shown
from pipelines.reference.fixture_fields import string as _string
from pipelines.reference.fixture_fields import timestamp as _timestamp

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


# --- loading ------------------------------------------------------------------------------
#
# A JSON file is validated row by row in Python (it is small and hand-written, so the
# message can point at the exact row). The directory layout holds generated data of a
# million rows and more, so its parquet columns are checked with polars expressions and
# only the first offending row is looked up for the message.

FILE_ROWS = ("events", "sessions", "users")


def _required_string(value: Any) -> str:
    if value is _ABSENT:
        raise _Bad("required field is missing")
    return _string(value)


def _seconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Bad(f"expected a whole number of seconds >= 0, got {_shown(value)}")
    return value


def _csv(value: Any) -> list[str]:
    """``excludedIps``/``excludedCountries``: null, "" or comma-separated (as Vemetric stores)."""
    text = _string(value)
    return [part.strip() for part in text.split(",") if part.strip()]

# Column -> converter, in schema order; a converter turns a JSON value (or _ABSENT) into
# the stored value or raises _Bad.
_OPTIONAL_EVENT_STRINGS = [c for c, t in EVENT_SCHEMA.items() if t == pl.String()][3:-1]
EVENT_FIELDS: dict[str, Callable[[Any], Any]] = {
    "userId": _id,
    "sessionId": _id,
    "name": _id,
    "isPageView": _flag,
    "createdAt": _timestamp,
    **{column: _string for column in _OPTIONAL_EVENT_STRINGS},
    "customData": _json_object,
}
SESSION_FIELDS: dict[str, Callable[[Any], Any]] = {
    "id": _id,
    "userId": _id,
    "startedAt": _timestamp,
    "endedAt": _timestamp,
    "duration": _seconds,
    **{
        c: _string
        for c, t in SESSION_SCHEMA.items()
        if t == pl.String() and c not in ("id", "userId")
    },
    "deleted": _flag_default_false,
}
USER_FIELDS: dict[str, Callable[[Any], Any]] = {
    "id": _id,
    "identifier": _string,
    "displayName": _string,
    "avatarUrl": _nullable_string,
    "data": _json_object,
    "countryCode": _string,
    "city": _string,
    "createdAt": _nullable_timestamp,
    "firstSeenAt": _nullable_timestamp,
}
assert list(EVENT_FIELDS) == list(EVENT_SCHEMA)
assert list(SESSION_FIELDS) == list(SESSION_SCHEMA)
assert list(USER_FIELDS) == list(USER_SCHEMA)


def load_dataset(path: Path) -> Dataset:
    """Load and validate a dataset: a JSON fixture file, or a directory (fixture-format.md).

    >>> dataset = load_dataset(Path("tests/fixtures/vemetric/tiny.json"))
    >>> sorted(dataset.projects)
    ['4232882524803099', '9000000000000001']

    Raises :class:`DatasetError` naming the file, the project and the field.
    """
    path = Path(path)
    if path.is_dir():
        return _load_directory(path)
    if not path.is_file():
        raise DatasetError(f"dataset {path}: no such file or directory")
    document = read_json(path, path.name, DatasetError)
    return _build(document, path.name, rows=None)


def _build(
    document: dict[str, Any], label: str, rows: dict[str, dict[str, pl.DataFrame]] | None
) -> Dataset:
    """Turn the top-level document into a Dataset; ``rows`` holds parquet frames per project."""
    api = document.get("api", "vemetric")
    if api != "vemetric":
        raise DatasetError(f"dataset {label}: api: expected 'vemetric', got {_shown(api)}")
    try:
        now = _nullable_timestamp(document.get("now", _ABSENT))
    except _Bad as exc:
        raise DatasetError(f"dataset {label}: now: {exc}") from None
    raw_projects = document.get("projects", _ABSENT)
    if not isinstance(raw_projects, list):
        raise DatasetError(f"dataset {label}: projects: expected a list of projects")
    projects: dict[str, Project] = {}
    for index, raw in enumerate(raw_projects):
        project = _project(raw, index, label, rows)
        if project.id in projects:
            raise DatasetError(f"dataset {label}: project {project.id}: id: duplicate project id")
        projects[project.id] = project
    _check_unique_keys(projects, label)
    return Dataset(api="vemetric", now=now, projects=projects)


def _project(
    raw: Any, index: int, label: str, rows: dict[str, dict[str, pl.DataFrame]] | None
) -> Project:
    if not isinstance(raw, dict):
        raise DatasetError(f"dataset {label}: projects[{index}]: expected an object")
    try:
        project_id = _id(raw.get("id", _ABSENT))
    except _Bad as exc:
        raise DatasetError(f"dataset {label}: projects[{index}].id: {exc}") from None
    try:
        frames = _project_frames(
            raw, rows[project_id] if rows is not None else None, rows is not None
        )
        return _project_record(raw, project_id, frames)
    except _FieldError as exc:
        raise DatasetError(f"dataset {label}: project {project_id}: {exc}") from None


def _project_record(
    raw: dict[str, Any], project_id: str, frames: dict[str, pl.DataFrame]
) -> Project:
    return Project(
        id=project_id,
        name=get(raw, "name", _required_string),
        domain=get(raw, "domain", _required_string),
        token=get(raw, "token", _required_string),
        created_at=get(raw, "createdAt", _timestamp),
        first_event_at=get(raw, "firstEventAt", _nullable_timestamp),
        public_dashboard=get(raw, "publicDashboard", _flag_default_false),
        excluded_ips=get(raw, "excludedIps", _csv),
        excluded_countries=get(raw, "excludedCountries", _csv),
        subscription_active=get(raw, "subscriptionActive", _flag),
        api_keys=_api_keys(raw.get("apiKeys", [])),
        funnels=_funnels(raw.get("funnels", [])),
        events=frames["events"],
        sessions=frames["sessions"],
        users=frames["users"],
    )


def _api_keys(raw: Any) -> list[ApiKey]:
    keys = []
    for index, item in enumerate(as_list(raw, "apiKeys")):
        where = f"apiKeys[{index}]"
        item = as_object(item, where)
        key = get(item, "key", _id, f"{where}.")
        if len(key) != 36 or not key.startswith("vem_"):
            raise _FieldError(f"{where}.key", "expected a 36-character key starting with 'vem_'")
        keys.append(
            ApiKey(
                id=get(item, "id", _id, f"{where}."),
                name=get(item, "name", _string, f"{where}."),
                key_hash=hashlib.sha256(key.encode()).hexdigest(),
                created_at=get(item, "createdAt", _timestamp, f"{where}."),
                revoked_at=get(item, "revokedAt", _nullable_timestamp, f"{where}."),
            )
        )
    return keys


def _funnels(raw: Any) -> list[dict[str, Any]]:
    funnels, seen = [], set()
    for index, item in enumerate(as_list(raw, "funnels")):
        where = f"funnels[{index}]"
        item = as_object(item, where)
        funnel = {
            "id": get(item, "id", _id, f"{where}."),
            "name": get(item, "name", _required_string, f"{where}."),
            "icon": get(item, "icon", _nullable_string, f"{where}."),
            "steps": _funnel_steps(item.get("steps", _ABSENT), f"{where}.steps"),
            "createdAt": get(item, "createdAt", _timestamp, f"{where}."),
            "updatedAt": get(item, "updatedAt", _timestamp, f"{where}."),
        }
        if funnel["id"] in seen:
            raise _FieldError(f"{where}.id", f"duplicate funnel id {funnel['id']!r}")
        seen.add(funnel["id"])
        funnels.append(funnel)
    return sorted(funnels, key=lambda funnel: funnel["createdAt"])


def _funnel_steps(raw: Any, where: str) -> list[dict[str, Any]]:
    from pipelines.reference.vemetric.schemas import FUNNEL_STEP_FILTER
    from pipelines.reference.vemetric.zod import parse

    if raw is _ABSENT:
        raise _FieldError(where, "required field is missing")
    steps = []
    for index, item in enumerate(as_list(raw, where)):
        at = f"{where}[{index}]"
        item = as_object(item, at)
        if "filter" not in item:
            raise _FieldError(f"{at}.filter", "required field is missing")
        result = parse(FUNNEL_STEP_FILTER, item["filter"])
        if not result.ok:
            issue = result.issues[0]
            field = ".".join(["filter", *map(str, issue.path)])
            raise _FieldError(f"{at}.{field}", issue.message)
        steps.append(
            {
                "id": get(item, "id", _id, f"{at}."),
                "name": get(item, "name", _string, f"{at}."),
                "filter": result.value,
            }
        )
    return steps


def _project_frames(
    raw: dict[str, Any], parquet: dict[str, pl.DataFrame] | None, directory: bool
) -> dict[str, pl.DataFrame]:
    """The project's events, sessions and users, from its JSON rows or the parquet files."""
    if directory:
        for name in FILE_ROWS:
            if name in raw:
                raise _FieldError(name, f"leave it out of fixture.json: rows go in {name}.parquet")
        parquet = parquet or {}
        events = parquet.get("events", pl.DataFrame(schema=EVENT_SCHEMA))
        sessions = parquet.get("sessions")
        users = parquet.get("users", pl.DataFrame(schema=USER_SCHEMA))
    else:
        events = json_rows(raw.get("events", []), "events", EVENT_FIELDS, EVENT_SCHEMA)
        sessions = None
        if "sessions" in raw:
            sessions = json_rows(raw["sessions"], "sessions", SESSION_FIELDS, SESSION_SCHEMA)
        users = json_rows(raw.get("users", []), "users", USER_FIELDS, USER_SCHEMA)
    _check_unique(users, "id", "users")
    events = events.sort("createdAt", maintain_order=True)
    if sessions is None:
        sessions = derive_sessions(events)
    else:
        _check_unique(sessions, "id", "sessions")
    return {
        "events": events,
        "sessions": sessions.sort("startedAt", maintain_order=True),
        "users": users,
    }


def _check_unique(frame: pl.DataFrame, column: str, where: str) -> None:
    duplicated = frame.filter(pl.col(column).is_duplicated())
    if duplicated.height:
        raise _FieldError(f"{where}.{column}", f"duplicate id {duplicated[column][0]!r}")


def _check_unique_keys(projects: dict[str, Project], label: str) -> None:
    owners: dict[str, str] = {}
    for project in projects.values():
        for key in project.api_keys:
            if key.key_hash in owners:
                raise DatasetError(
                    f"dataset {label}: project {project.id}: apiKeys: key {key.id!r} "
                    f"is also given to project {owners[key.key_hash]}"
                )
            owners[key.key_hash] = project.id


def derive_sessions(events: pl.DataFrame) -> pl.DataFrame:
    """Sessions from events sorted by createdAt, one per sessionId (fixture-format.md).

    Landing page, location, referrer and UTM come from the session's first event; the
    duration is last − first event in whole seconds.
    """
    first = [c for c in SESSION_SCHEMA if c in EVENT_SCHEMA and c not in ("userId",)]
    sessions = events.group_by("sessionId", maintain_order=True).agg(
        pl.col("userId").first(),
        pl.col("createdAt").min().alias("startedAt"),
        pl.col("createdAt").max().alias("endedAt"),
        *[pl.col(column).first() for column in first],
    )
    return sessions.select(
        pl.col("sessionId").alias("id"),
        "userId",
        "startedAt",
        "endedAt",
        ((pl.col("endedAt") - pl.col("startedAt")).dt.total_milliseconds() // 1000)
        .cast(pl.Int64)
        .alias("duration"),
        *first,
        pl.lit(False).alias("deleted"),
    ).select(list(SESSION_SCHEMA))


# --- the directory layout -----------------------------------------------------------------


def _load_directory(path: Path) -> Dataset:
    label = path.name
    fixture = path / "fixture.json"
    if not fixture.is_file():
        raise DatasetError(f"dataset {label}: missing fixture.json")
    document = read_json(fixture, label, DatasetError)
    project_ids = _declared_project_ids(document)
    rows: dict[str, dict[str, pl.DataFrame]] = {pid: {} for pid in project_ids}
    for name, schema in (
        ("events", EVENT_SCHEMA),
        ("sessions", SESSION_SCHEMA),
        ("users", USER_SCHEMA),
    ):
        file = path / f"{name}.parquet"
        if not file.is_file():
            if name == "events":
                raise DatasetError(f"dataset {label}: missing events.parquet")
            continue
        frame = _checked_parquet(file, label, schema, project_ids)
        for (project_id,), part in frame.partition_by("projectId", as_dict=True).items():
            rows[project_id][name] = part.drop("projectId", "_row")
    return _build(document, label, rows)


def _declared_project_ids(document: dict[str, Any]) -> set[str]:
    projects = document.get("projects")
    if not isinstance(projects, list):
        return set()  # _build reports it
    return {p["id"] for p in projects if isinstance(p, dict) and isinstance(p.get("id"), str)}


_REQUIRED_COLUMNS = {
    "events": ("userId", "sessionId", "name", "isPageView", "createdAt"),
    "sessions": ("id", "userId", "startedAt", "endedAt"),
    "users": ("id",),
}
_ID_COLUMNS = {
    "events": ("userId", "sessionId", "name"),
    "sessions": ("id", "userId"),
    "users": ("id",),
}
_JSON_COLUMNS = ("customData", "data")


def _checked_parquet(
    file: Path, label: str, schema: dict[str, pl.DataType], project_ids: set[str]
) -> pl.DataFrame:
    """Read one parquet file and bring it to ``schema`` (+ projectId), refusing bad rows."""
    table = file.stem
    try:
        frame = pl.read_parquet(file)
    except Exception as exc:  # polars raises several types for a corrupt or foreign file
        raise DatasetError(f"dataset {label}: {file.name}: cannot read parquet: {exc}") from None
    frame = frame.with_row_index("_row")
    checker = _ColumnChecker(frame, label, file.name)
    for column in ("projectId", *_REQUIRED_COLUMNS[table]):
        if column not in frame.columns:
            raise DatasetError(f"dataset {label}: {file.name}: missing column {column!r}")
    checker.ids("projectId")
    checker.known_projects(project_ids)
    for column, dtype in schema.items():
        checker.convert(column, dtype, table)
    return checker.frame.select("_row", "projectId", *schema)


class _ColumnChecker:
    """Vectorised checks of a parquet frame; errors name the first bad row and its project."""

    def __init__(self, frame: pl.DataFrame, label: str, file: str):
        self.frame, self.label, self.file = frame, label, file

    def fail(self, bad: pl.Expr, column: str, message: Callable[[Any], str]) -> None:
        rows = self.frame.filter(bad).head(1)
        if rows.height:
            row = rows.row(0, named=True)
            project = row.get("projectId")
            where = f"project {project}: " if isinstance(project, str) and project else ""
            field = f"{self.file}[{row['_row']}].{column}"
            raise DatasetError(f"dataset {self.label}: {where}{field}: {message(row[column])}")

    def refuse_dtype(self, column: str, expected: str) -> None:
        dtype = self.frame.schema[column]
        where = f"dataset {self.label}: {self.file}: column {column!r}"
        raise DatasetError(f"{where}: expected {expected}, got {dtype}")

    def ids(self, column: str) -> None:
        self.strings(column)
        missing = pl.col(column).is_null() | (pl.col(column) == "")
        self.fail(missing, column, lambda v: f"expected a non-empty string, got {_shown(v)}")

    def known_projects(self, project_ids: set[str]) -> None:
        unknown = ~pl.col("projectId").is_in(sorted(project_ids))
        self.fail(unknown, "projectId", lambda v: f"no project {v!r} in fixture.json")

    def strings(self, column: str) -> None:
        dtype = self.frame.schema[column]
        if dtype.is_integer() or isinstance(dtype, pl.Categorical | pl.Enum | pl.Null):
            self.frame = self.frame.with_columns(pl.col(column).cast(pl.String))
        elif dtype != pl.String:
            self.refuse_dtype(column, "strings")

    def convert(self, column: str, dtype: pl.DataType, table: str) -> None:
        if column not in self.frame.columns:
            self.frame = self.frame.with_columns(pl.lit(None, dtype=pl.String).alias(column))
        if column in _ID_COLUMNS[table]:
            self.ids(column)
        elif column in _JSON_COLUMNS:
            self.json_objects(column)
        elif dtype == TIMESTAMP:
            self.timestamps(column, required=column in _REQUIRED_COLUMNS[table])
        elif dtype == pl.Boolean:
            self.booleans(column, required=column in _REQUIRED_COLUMNS[table])
        elif dtype == pl.Int64:
            self.seconds(column)
        else:
            self.strings(column)
            if not (table == "users" and column == "avatarUrl"):
                self.frame = self.frame.with_columns(pl.col(column).fill_null(""))

    def booleans(self, column: str, required: bool) -> None:
        dtype = self.frame.schema[column]
        if dtype.is_integer():  # ClickHouse-style 0/1
            self.fail(
                ~pl.col(column).is_in([0, 1]),
                column,
                lambda v: f"expected true or false, got {v!r}",
            )
            self.frame = self.frame.with_columns(pl.col(column).cast(pl.Boolean))
        elif isinstance(dtype, pl.Null) or (
            dtype == pl.String and self.frame[column].null_count() == self.frame.height
        ):
            self.frame = self.frame.with_columns(pl.col(column).cast(pl.Boolean))
        elif dtype != pl.Boolean:
            self.refuse_dtype(column, "booleans")
        if required:
            self.fail(
                pl.col(column).is_null(), column, lambda v: "expected true or false, got None"
            )
        else:
            self.frame = self.frame.with_columns(pl.col(column).fill_null(False))

    def timestamps(self, column: str, required: bool) -> None:
        dtype = self.frame.schema[column]
        if isinstance(dtype, pl.Datetime):
            expr = pl.col(column)
            expr = (
                expr.dt.replace_time_zone("UTC")
                if dtype.time_zone is None
                else expr.dt.convert_time_zone("UTC")
            )
            self.frame = self.frame.with_columns(expr.cast(TIMESTAMP))
        elif dtype == pl.String:
            self.parse_timestamp_strings(column)
        elif not isinstance(dtype, pl.Null):
            self.refuse_dtype(column, "timestamps")
        else:
            self.frame = self.frame.with_columns(pl.col(column).cast(TIMESTAMP))
        if required:
            self.fail(
                pl.col(column).is_null(),
                column,
                lambda v: "expected an ISO-8601 timestamp, got None",
            )

    def parse_timestamp_strings(self, column: str) -> None:
        parsed = distinct_timestamps(self.frame[column])
        bad = [text for text, value in parsed.items() if value is None]
        self.fail(
            pl.col(column).is_in(bad),
            column,
            lambda v: f"expected an ISO-8601 timestamp, got {_shown(v)}",
        )
        mapping = pl.DataFrame(
            {column: list(parsed), "_parsed": list(parsed.values())},
            schema={column: pl.String, "_parsed": pl.Datetime("us", "UTC")},
        )
        self.frame = (
            self.frame.join(mapping, on=column, how="left", maintain_order="left")
            .with_columns(pl.col("_parsed").cast(TIMESTAMP).alias(column))
            .drop("_parsed")
        )

    def json_objects(self, column: str) -> None:
        """Canonicalise the JSON text of each *distinct* value: generated data repeats a lot."""
        self.strings(column)
        canonical = distinct_json_objects(self.frame[column])
        bad = [text for text, value in canonical.items() if value is None]
        self.fail(
            pl.col(column).is_in(bad), column, lambda v: f"expected a JSON object, got {_shown(v)}"
        )
        self.frame = self.frame.with_columns(
            pl.col(column).replace_strict(canonical, default="{}", return_dtype=pl.String)
        )

    def seconds(self, column: str) -> None:
        dtype = self.frame.schema[column]
        if not dtype.is_integer():
            self.refuse_dtype(column, "whole seconds")
        bad = pl.col(column).is_null() | (pl.col(column) < 0)
        self.fail(bad, column, lambda v: f"expected a whole number of seconds >= 0, got {v!r}")
        self.frame = self.frame.with_columns(pl.col(column).cast(pl.Int64))
